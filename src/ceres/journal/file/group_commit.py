"""The journal thread: group commit with one fsync per group (the file backend's
:class:`~ceres.pipeline.journal.JournalWriter`).

The sequencer (on the event-loop thread) hands over encoded frames in sequence order.
This thread takes everything queued, writes it with one ``write`` and one ``fdatasync``,
then tells the loop the highest durable sequence number (``sink.on_durable``). While one
fsync runs, the next group queues up, so batches grow by themselves under load.

A frame submitted with ``snapshot=True`` (the batch a snapshot was taken at) makes the
writer start a new segment after the group holding it, so segments older than a snapshot
become whole files that pruning can delete (``DataDir.prune``).

If a write or fsync fails (a full disk, an I/O error), nothing after it can be trusted:
``sink.on_failure`` is called on the loop once, and every frame queued after the failure
is discarded. ``resume()`` (the sequencer calls it while it waits) cuts the segment back to
the last durable write, checks that ``probe_bytes`` can be written and synced, and then
calls ``sink.on_writable`` — or ``sink.on_failure`` again if the disk still refuses.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from typing import Any

from ceres.journal.file.segments import SegmentWriter
from ceres.pipeline.background import take_all
from ceres.pipeline.journal import DurabilitySink

_STOP = object()
_RESUME = object()


class GroupCommitter:
    def __init__(self, writer: SegmentWriter, *, probe_bytes: int = 1 << 20) -> None:
        self.writer = writer
        self.probe_bytes = probe_bytes
        self._failed: BaseException | None = None  # set and read by the journal thread only
        self.sink: DurabilitySink | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="ceres-journal", daemon=True)
        # statistics (read by /metrics; written only by the journal thread)
        self.groups = 0
        self.frames = 0
        self.bytes = 0
        self.last_group_frames = 0
        self.last_fsync_s = 0.0
        self.max_fsync_s = 0.0
        self.failures = 0

    def start(self, sink: DurabilitySink) -> None:
        """Begin; called on the event loop, where ``sink`` is told of progress."""
        self.sink = sink
        self.loop = asyncio.get_running_loop()
        self._thread.start()

    def submit(self, frame: bytes, last_seq: int, snapshot: bool = False) -> None:
        """Queue ``frame`` (records up to ``last_seq``); ``snapshot`` starts a new segment
        after the group that holds it."""
        self._q.put((frame, last_seq, snapshot))

    def resume(self) -> None:
        """After a failure: cut back to the last durable write and try writing again."""
        self._q.put(_RESUME)

    def close(self, timeout: float = 10.0) -> None:
        """Write everything queued, then end the thread."""
        if self._thread.is_alive():
            self._q.put(_STOP)
            self._thread.join(timeout)
        self.writer.close()

    def stats(self) -> list[tuple[str, str, str, float]]:
        return [
            ("journal_groups_total", "counter", "Group commits (one fsync each).", self.groups),
            ("journal_bytes_total", "counter", "Bytes written to the journal.", self.bytes),
            ("journal_group_frames_last", "gauge", "Frames in the last group commit.", self.last_group_frames),
            ("journal_fsync_seconds_last", "gauge", "Duration of the last write+fsync.", self.last_fsync_s),
            ("journal_fsync_seconds_max", "gauge", "Longest write+fsync so far.", self.max_fsync_s),
            ("journal_write_failures_total", "counter", "Failed journal writes or syncs.", self.failures),
        ]

    def _run(self) -> None:
        q = self._q
        while True:
            frames: list[bytes] = []
            last = 0
            roll = False
            for it in take_all(q):
                if it is _STOP or it is _RESUME:
                    self._write(frames, last, roll)
                    frames, roll = [], False
                    if it is _STOP:
                        return
                    self._resume()
                elif self._failed is None:  # nothing queued after a failed write is written
                    frames.append(it[0])
                    last = it[1]
                    roll = roll or it[2]
            self._write(frames, last, roll)

    def _write(self, frames: list[bytes], last: int, roll: bool) -> None:
        if not frames or self._failed is not None:
            return
        try:
            t0 = time.perf_counter()
            data = frames[0] if len(frames) == 1 else b"".join(frames)
            self.writer.write(data)
            elapsed = time.perf_counter() - t0
        except BaseException as exc:
            self._fail(exc)
            return
        self.groups += 1
        self.frames += len(frames)
        self.bytes += len(data)
        self.last_group_frames = len(frames)
        self.last_fsync_s = elapsed
        if elapsed > self.max_fsync_s:
            self.max_fsync_s = elapsed
        self._tell("on_durable", last)
        try:
            if roll:
                self.writer.roll(last + 1)
            else:
                self.writer.maybe_roll(last + 1)
        except BaseException as exc:  # the group is durable; the next one has nowhere to go
            self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        self._failed = exc
        self.failures += 1
        self._tell("on_failure", exc)

    def _resume(self) -> None:
        try:
            self.writer.reset()
            self.writer.check_space(self.probe_bytes)
        except BaseException as exc:
            self._failed = exc
            self._tell("on_failure", exc)
            return
        self._failed = None
        self._tell("on_writable")

    def _tell(self, method: str, *args: Any) -> bool:
        """Call the sink on the loop; False if the loop has closed (shutdown)."""
        assert self.loop is not None and self.sink is not None
        try:
            self.loop.call_soon_threadsafe(getattr(self.sink, method), *args)
        except RuntimeError:
            return False
        return True
