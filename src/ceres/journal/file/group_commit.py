"""The journal thread: group commit with one fsync per group.

The sequencer (on the event-loop thread) hands over encoded frames in sequence order.
This thread takes everything queued, writes it with one ``write`` and one ``fdatasync``,
then tells the loop the highest durable sequence number (``on_durable``). While one fsync
runs, the next group queues up, so batches grow by themselves under load.

A frame submitted with ``roll=True`` (the batch a snapshot was taken at) makes the writer
start a new segment after the group holding it, so segments older than a snapshot become
whole files that pruning can delete (``DataDir.prune``).

If a write or fsync fails, nothing after it can be trusted: ``on_failure`` is called on
the loop and the thread stops; the server must stop too (restart replays what is durable).
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from typing import Callable

from ceres.journal.file.segments import SegmentWriter

_STOP = object()


def take_all(q: queue.SimpleQueue) -> list:
    """Block for one item, then take whatever else is queued (a group)."""
    items = [q.get()]
    while True:
        try:
            items.append(q.get_nowait())
        except queue.Empty:
            return items


class GroupCommitter:
    def __init__(self, writer: SegmentWriter, loop: asyncio.AbstractEventLoop,
                 on_durable: Callable[[int], None], on_failure: Callable[[BaseException], None]) -> None:
        self.writer = writer
        self.loop = loop
        self.on_durable = on_durable
        self.on_failure = on_failure
        self._q: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="ceres-journal", daemon=True)
        # statistics (read by /metrics; written only by the journal thread)
        self.groups = 0
        self.frames = 0
        self.bytes = 0
        self.last_group_frames = 0
        self.last_fsync_s = 0.0
        self.max_fsync_s = 0.0

    def start(self) -> None:
        self._thread.start()

    def submit(self, frame: bytes, last_seq: int, roll: bool = False) -> None:
        """Queue ``frame`` (records up to ``last_seq``); ``roll`` starts a new segment
        after the group that holds it."""
        self._q.put((frame, last_seq, roll))

    def stop(self, timeout: float = 10.0) -> None:
        """Write everything queued, then end the thread."""
        if self._thread.is_alive():
            self._q.put(_STOP)
            self._thread.join(timeout)
        self.writer.close()

    def _run(self) -> None:
        q = self._q
        while True:
            items = take_all(q)
            stop = False
            roll = False
            frames = []
            last = 0
            for it in items:
                if it is _STOP:
                    stop = True
                    continue
                frames.append(it[0])
                last = it[1]
                roll = roll or it[2]
            if frames:
                try:
                    t0 = time.perf_counter()
                    data = frames[0] if len(frames) == 1 else b"".join(frames)
                    self.writer.write(data)
                    elapsed = time.perf_counter() - t0
                    if roll:
                        self.writer.roll(last + 1)
                    else:
                        self.writer.maybe_roll(last + 1)
                except BaseException as exc:  # the disk failed us: stop accepting anything
                    self.loop.call_soon_threadsafe(self.on_failure, exc)
                    return
                self.groups += 1
                self.frames += len(frames)
                self.bytes += len(data)
                self.last_group_frames = len(frames)
                self.last_fsync_s = elapsed
                if elapsed > self.max_fsync_s:
                    self.max_fsync_s = elapsed
                try:
                    self.loop.call_soon_threadsafe(self.on_durable, last)
                except RuntimeError:  # loop closed during shutdown
                    return
            if stop:
                return
