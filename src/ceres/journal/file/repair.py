"""The operator's repair of a file journal (``ceres repair --truncate-after SEQ``)."""

from __future__ import annotations

import os
from pathlib import Path

from ceres.files import fsync_dir
from ceres.journal.file.segments import DataDir
from ceres.pipeline.frames import JournalDamaged, scan


def truncate_after(data_dir: DataDir, seq: int) -> list[str]:
    """``Journal.truncate_after`` for the file journal (see ``pipeline.journal``): cut the
    segment holding ``seq`` after it, delete later segments and later snapshots."""
    segments = data_dir.segments()
    start = segments[0][0] - 1 if segments else 0  # the journal holds the records after it
    if start and not any(start <= s <= seq for s, _ in data_dir.snapshot_files()):
        raise ValueError(f"the journal starts after seq {start} and no snapshot between {start} and "
                         f"{seq} would remain to start from")
    keep = [(first, path) for first, path in segments if first <= seq]
    cut = (keep[-1][1], _end_of_frame(keep[-1][1], keep[-1][0], seq)) if keep else None  # may refuse
    removed: list[str] = []
    for first, path in reversed(segments[len(keep):]):
        path.unlink()
        removed.append(f"{path} (records from seq {first})")
    if cut is not None and cut[1] < (size := cut[0].stat().st_size):
        _truncate(cut[0], cut[1])
        removed.append(f"{cut[0]}: bytes {cut[1]}..{size} (records after seq {seq})")
    fsync_dir(data_dir.journal)
    for snap_seq, path in data_dir.snapshot_files():
        if snap_seq > seq:
            path.unlink()
            removed.append(f"{path} (state after seq {snap_seq})")
    return removed


def _truncate(path: Path, size: int) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.ftruncate(fd, size)
        os.fsync(fd)
    finally:
        os.close(fd)


def _end_of_frame(path: Path, first: int, seq: int) -> int:
    """The byte where the frame whose last record is ``seq`` ends, in the segment at
    ``path`` (whose first record is ``first``); frames before any damage only."""
    data = path.read_bytes()
    try:
        frames = scan(data, str(path), first - 1).frames
    except JournalDamaged as exc:
        frames = scan(data[:exc.offset], str(path), first - 1).frames
    for frame in frames:
        if frame.last_seq == seq:
            return frame.end
        if frame.first_seq <= seq < frame.last_seq:
            raise ValueError(f"seq {seq} is inside a batch of seq {frame.first_seq}..{frame.last_seq}: "
                             f"truncate after {frame.first_seq - 1} or {frame.last_seq}")
    good = frames[-1].last_seq if frames else first - 1
    raise ValueError(f"{path} holds intact records only up to seq {good}: truncate after {good} or less")
