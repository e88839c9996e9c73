"""The file journal: the embedded default backend of the journal port
(``ceres.pipeline.journal``), in a local data directory.

``FileJournal(root)`` bundles the ownership (``lock``), the reader (``reader``), the
snapshot store (``snapshots``) and, after recovery, the writer: a ``SegmentWriter`` driven
by the group-commit thread (``group_commit``), which first cuts a torn final write off
the last segment. Frames and snapshots are the pipeline's CRJ1/CRS1 bytes
(``ceres.pipeline.frames``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from ceres.journal.file import repair
from ceres.journal.file.group_commit import GroupCommitter
from ceres.journal.file.lock import FileOwnership
from ceres.journal.file.reader import FileReader
from ceres.journal.file.segments import DataDir, SegmentWriter
from ceres.journal.file.snapshots import FileSnapshots
from ceres.pipeline.frames import scan


class FileJournal:
    def __init__(self, root: Path | str, *, fsync: bool = True, segment_bytes: int = 64 << 20,
                 probe_bytes: int = 1 << 20) -> None:
        self.dir = DataDir(root)
        self.fsync = fsync
        self.segment_bytes = segment_bytes
        self.probe_bytes = probe_bytes
        self.ownership = FileOwnership(self.dir.root)
        self.reader = FileReader(self.dir)
        self.snapshots = FileSnapshots(self.dir)

    def describe(self) -> str:
        return f"file journal in {self.dir.root}"

    def open_writer(self, next_seq: int) -> GroupCommitter:
        self.dir.create()
        self.cut_torn_tail()
        return GroupCommitter(SegmentWriter(self.dir, next_seq, fsync=self.fsync, segment_bytes=self.segment_bytes),
                              probe_bytes=self.probe_bytes)

    def cut_torn_tail(self) -> int:
        """Truncate the last segment to its valid frames (a crash may have cut its final
        write short); returns the bytes removed. Uses what the reader found when it read
        the journal, else scans the last segment."""
        segments = self.dir.segments()
        if not segments:
            return 0
        path = segments[-1][1]
        tail = self.reader.tail
        if tail is None or tail[0] != path:
            tail = (path, scan(path.read_bytes(), str(path)).valid_end)
        size = path.stat().st_size
        if tail[1] < size:
            os.truncate(path, tail[1])
        return size - tail[1]


    def truncate_after(self, seq: int) -> list[str]:
        return repair.truncate_after(self.dir, seq)


class Settings(Protocol):
    fsync: bool
    segment_mb: int
    resume_probe_kb: int


def from_config(settings: Settings, root: Path) -> FileJournal:
    """The backend as ``[journal]`` configures it (``backend = "file"``), in ``root``."""
    return FileJournal(root, fsync=settings.fsync, segment_bytes=settings.segment_mb << 20,
                       probe_bytes=settings.resume_probe_kb << 10)
