"""Snapshots of the file journal: one file per snapshot under ``DATA_DIR/snapshots``
(see ``segments.DataDir``), written atomically with mode 0600."""

from __future__ import annotations

from ceres.journal.file.segments import DataDir


class FileSnapshots:
    def __init__(self, data_dir: DataDir) -> None:
        self.dir = data_dir

    def seqs(self) -> list[int]:
        return [seq for seq, _ in self.dir.snapshot_files()]

    def read(self, seq: int) -> bytes:
        return self.dir.snapshot_path(seq).read_bytes()

    def write(self, seq: int, data: bytes) -> None:
        self.dir.write_snapshot(seq, data)

    def name(self, seq: int) -> str:
        return str(self.dir.snapshot_path(seq))

    def prune(self, keep: int) -> None:
        self.dir.prune(keep)
