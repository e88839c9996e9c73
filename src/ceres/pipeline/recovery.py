"""Restart: newest valid snapshot, then replay of the journal after it.

``recover`` rebuilds the engine from a data directory and reports what it used:

1. snapshots are tried newest first; a damaged one is skipped (and reported);
2. journal segments are scanned in order; records after the snapshot are applied through
   the same ``Engine.apply`` as live commands, with their journaled seq and time;
3. a torn tail (a final write cut short by a crash, see ``codec.scan``) is cut off the
   last segment (when ``repair`` is set); damage anywhere else, a gap in sequence numbers,
   or a journal that starts after the snapshot, raises :class:`JournalCorrupt` with the
   file and byte offset, and the server refuses to start.

Rejected commands are not journaled, so every replayed record must apply cleanly; one
that raises means the journal and the code disagree, which is also reported as corrupt.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ceres.domain.errors import CeresError
from ceres.engine.core import Engine
from ceres.engine.snapshot import restore_engine
from ceres.pipeline.frames import JournalCorrupt, JournalGap, decode_records, decode_snapshot, scan
from ceres.journal.file.segments import DataDir


@dataclass
class Recovery:
    engine: Engine
    last_seq: int
    snapshot_seq: int | None
    snapshot_path: Path | None
    replayed: int
    torn_bytes: int = 0
    skipped_snapshots: list[str] = field(default_factory=list)


EventSink = Callable[[int, list], None]


def recover(data_dir: DataDir, make_engine: Callable[[], Engine], *, repair: bool = True,
            on_events: EventSink | None = None, use_snapshots: bool = True,
            max_snapshot_seq: int | None = None,
            progress: Callable[[int, int], None] | None = None) -> Recovery:
    """Rebuild the engine. ``on_events(seq, events)`` receives the events of every replayed
    record (for projections); ``progress(done, total)`` is called per segment;
    ``max_snapshot_seq`` ignores newer snapshots (to replay events a projection lacks).
    Raises JournalGap when the journal starts after the chosen starting point."""
    engine = make_engine()
    snap_seq, snap_path, skipped = None, None, []
    if use_snapshots:
        for seq, path in reversed(data_dir.snapshot_files()):
            if max_snapshot_seq is not None and seq > max_snapshot_seq:
                continue
            try:
                file_seq, state = decode_snapshot(path.read_bytes(), str(path))
                if file_seq != seq:
                    raise JournalCorrupt(f"{path}: holds seq {file_seq}")
                restore_engine(engine, state)
            except (JournalCorrupt, ValueError, KeyError, CeresError) as exc:
                skipped.append(f"{path.name}: {exc}")
                engine = make_engine()
                continue
            snap_seq, snap_path = seq, path
            break
    last = snap_seq or 0
    replayed = 0
    torn_bytes = 0
    segments = data_dir.segments()
    total = len(segments)
    for index, (_, path) in enumerate(segments):
        data = path.read_bytes()
        result = scan(data, str(path))
        if result.torn:
            if index != total - 1:
                raise JournalCorrupt(f"{path}: damaged at byte {result.valid_end}, and it is "
                                     "not the last segment")
            torn_bytes = len(data) - result.valid_end
            if repair:
                os.truncate(path, result.valid_end)
        for frame in result.frames:
            if frame.last_seq <= last:
                continue
            if frame.first_seq > last + 1:
                gap = JournalGap if replayed == 0 else JournalCorrupt
                raise gap(f"{path}: records jump from seq {last} to {frame.first_seq}")
            for i, (now, cmd) in enumerate(decode_records(frame.payload)):
                seq = frame.first_seq + i
                if seq <= last:
                    continue
                try:
                    engine.apply(cmd, seq, now)
                except CeresError as exc:
                    raise JournalCorrupt(f"{path}: record seq {seq} no longer applies: {exc}") from None
                events = engine.take_events()
                if on_events is not None:
                    on_events(seq, events)
                last = seq
                replayed += 1
        if progress is not None:
            progress(index + 1, total)
    engine.take_events()
    return Recovery(engine, last, snap_seq, snap_path, replayed, torn_bytes, skipped)
