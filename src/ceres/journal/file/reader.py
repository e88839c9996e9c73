"""Reading the file journal: segments in order, each split into frames by
``pipeline.frames.scan``.

A frame that fails its checks, anywhere, raises
:class:`~ceres.pipeline.frames.JournalDamaged` naming the file, byte offset and the last
good sequence number (see ``pipeline.frames.scan``); so does a write cut short in a
segment that is not the last. A final write cut short by a crash at the end of the last
segment (a torn tail) is skipped; ``torn_bytes`` says how long it was and ``tail`` where
the last segment's valid frames end, so the writer can cut it before appending.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ceres.journal.file.segments import DataDir
from ceres.pipeline.frames import Frame, JournalDamaged, scan
from ceres.pipeline.journal import Progress


class FileReader:
    def __init__(self, data_dir: DataDir) -> None:
        self.dir = data_dir
        self.torn_bytes = 0
        self.tail: tuple[Path, int] | None = None  # (last segment, end of its valid frames)

    def frames(self, after_seq: int, progress: Progress | None = None) -> Iterator[Frame]:
        self.torn_bytes = 0
        segments = self.dir.segments()
        total = len(segments)
        for index, (first, path) in enumerate(segments):
            data = path.read_bytes()
            result = scan(data, str(path), first - 1)
            if result.torn:
                if index != total - 1:
                    last = result.frames[-1].last_seq if result.frames else first - 1
                    raise JournalDamaged(str(path), result.valid_end, last,
                                         "a write cut short in a segment that is not the last")
                self.torn_bytes = len(data) - result.valid_end
            if index == total - 1:
                self.tail = (path, result.valid_end)
            for frame in result.frames:
                if frame.last_seq > after_seq:
                    yield frame
            if progress is not None:
                progress(index + 1, total)
