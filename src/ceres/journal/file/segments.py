"""The data directory's journal segments and snapshot files (the file backend's storage).

Layout under ``DATA_DIR``::

    journal/00000000000000000001.wal   segments, named by their first sequence number
    snapshots/00000000000000100000.snap  state after that sequence number
    LOCK                                 held (flock) by the process that owns the data
                                         (``lock.FileOwnership``)

A segment is rolled (a new file started) when it grows past ``segment_bytes`` and right
after each snapshot, so whole segments become prunable: a segment can be deleted once a
retained snapshot covers every record in it. Retention keeps the newest
``keep_snapshots`` snapshots and the journal needed to replay from the oldest of them.
Files are created with mode 0600: they hold API secrets.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

from ceres.files import FILE_MODE, fsync_dir, write_replacing

SEGMENT_SUFFIX = ".wal"
SNAPSHOT_SUFFIX = ".snap"


def _numbered(directory: Path, suffix: str) -> list[tuple[int, Path]]:
    if not directory.is_dir():
        return []
    return sorted((int(p.stem), p) for p in directory.iterdir() if p.suffix == suffix and p.stem.isdigit())


class DataDir:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.journal = self.root / "journal"
        self.snapshots = self.root / "snapshots"

    def create(self) -> None:
        for d in (self.root, self.journal, self.snapshots):
            d.mkdir(parents=True, exist_ok=True, mode=0o700)

    # --- listing --------------------------------------------------------------------
    def segments(self) -> list[tuple[int, Path]]:
        return _numbered(self.journal, SEGMENT_SUFFIX)

    def snapshot_files(self) -> list[tuple[int, Path]]:
        return _numbered(self.snapshots, SNAPSHOT_SUFFIX)

    def segment_path(self, first_seq: int) -> Path:
        return self.journal / f"{first_seq:020d}{SEGMENT_SUFFIX}"

    # --- snapshots ------------------------------------------------------------------
    def snapshot_path(self, seq: int) -> Path:
        return self.snapshots / f"{seq:020d}{SNAPSHOT_SUFFIX}"

    def write_snapshot(self, seq: int, data: bytes) -> Path:
        """Write ``data`` (an encoded snapshot) atomically: temp file, fsync, rename,
        fsync the directory."""
        self.create()
        final = self.snapshot_path(seq)
        write_replacing(final, final.with_suffix(".tmp"), data)
        return final

    def prune(self, keep_snapshots: int) -> list[Path]:
        """Delete snapshots beyond the newest ``keep_snapshots`` and the segments that only
        hold records older than the oldest snapshot kept. Returns what was deleted."""
        snaps = self.snapshot_files()
        if keep_snapshots < 1 or len(snaps) == 0:
            return []
        removed = []
        for _, path in snaps[:-keep_snapshots]:
            path.unlink(missing_ok=True)
            removed.append(path)
        oldest_kept = snaps[-keep_snapshots:][0][0]
        segs = self.segments()
        # segment i covers [first_i, first_{i+1} - 1]; deletable if that is <= oldest_kept
        for (_, path), (next_first, _) in itertools.pairwise(segs):
            if next_first - 1 <= oldest_kept:
                path.unlink(missing_ok=True)
                removed.append(path)
        for p in self.snapshots.glob("*.tmp"):
            p.unlink(missing_ok=True)
        return removed


class SegmentWriter:
    """Appends frames to the current segment; rolls to a new one on demand. Blocking I/O:
    used from the journal thread only."""

    def __init__(self, data_dir: DataDir, next_seq: int, *, fsync: bool = True,
                 segment_bytes: int = 64 << 20) -> None:
        self.dir = data_dir
        self.fsync = fsync
        self.segment_bytes = segment_bytes
        self.fd: int | None = None
        self.path: Path | None = None
        self.size = 0
        segs = data_dir.segments()
        if segs:
            path = segs[-1][1]
            self._open(path)
        else:
            self._open(data_dir.segment_path(next_seq))
        assert self.path is not None
        self.durable: tuple[Path, int] = (self.path, self.size)  # where the last durable write ended

    def _open(self, path: Path) -> None:
        if self.fd is not None:
            os.close(self.fd)
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
        self.path = path
        self.size = os.fstat(self.fd).st_size
        if self.size == 0:
            fsync_dir(self.dir.journal)

    def write(self, data: bytes) -> None:
        fd = self.fd
        if fd is None:
            raise ValueError("segment writer is closed")
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        self.size += len(data)
        if self.fsync:
            os.fdatasync(fd)
        if self.path is not None:
            self.durable = (self.path, self.size)

    def roll(self, next_seq: int) -> None:
        """Start a new segment whose first record will be ``next_seq``; an empty current
        segment is replaced, so a segment's name is always its first record's seq."""
        path = self.dir.segment_path(next_seq)
        if path == self.path:
            return
        old, empty = self.path, self.size == 0
        self._open(path)
        self.durable = (path, 0)
        if empty and old is not None:
            old.unlink(missing_ok=True)

    def maybe_roll(self, next_seq: int) -> None:
        if self.size >= self.segment_bytes:
            self.roll(next_seq)

    def reset(self) -> None:
        """After a failed write or sync: forget everything after the last durable write.
        Segments started after it are deleted, its segment is cut back to where that write
        ended (and synced), and writing continues there."""
        self.close()
        path, size = self.durable
        for _, later in self.dir.segments():
            if later.name > path.name:
                later.unlink()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
        try:
            os.ftruncate(fd, size)
            os.fsync(fd)
        finally:
            os.close(fd)
        fsync_dir(self.dir.journal)
        self._open(path)

    def check_space(self, nbytes: int) -> None:
        """Write and sync ``nbytes`` to a scratch file beside the segments, then delete it:
        raises OSError (e.g. ENOSPC) if the disk cannot take that much now."""
        probe = self.dir.journal / ".probe"
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        try:
            view = memoryview(bytes(min(nbytes, 1 << 16)))
            left = nbytes
            while left > 0:
                left -= os.write(fd, view[:left])
            os.fsync(fd)
        finally:
            os.close(fd)
            probe.unlink(missing_ok=True)

    def close(self) -> None:
        if self.fd is not None:
            fd, self.fd = self.fd, None
            os.close(fd)
