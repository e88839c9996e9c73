"""The background thread behind durability: projections, then snapshots.

After a batch is durable the sequencer passes its events here, in sequence order. This
thread feeds them to the projection store (a :class:`~ceres.pipeline.history.Projector`)
and, when the batch carries a snapshot, encodes and stores it (the journal's
:class:`~ceres.pipeline.journal.SnapshotStore`) *after* the projection has committed
everything up to it, then prunes old snapshots and the journal only they needed. So the
newest snapshot never runs ahead of the projection, and a restart can always bring the
projection up to date by replaying the journal after it.

Progress is reported on the event loop (``ProjectionSink``): the sequence number the
projection holds, or its failure (projecting then stops: applying later batches would
leave a hole; the next start catches the store up from the journal).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from typing import Any, Protocol

from ceres.pipeline.frames import encode_snapshot
from ceres.pipeline.history import Batch, Projector
from ceres.pipeline.journal import SnapshotStore

log = logging.getLogger("ceres.background")
_STOP = object()
Snapshot = tuple[int, dict[str, Any]]


def take_all(q: queue.SimpleQueue[Any]) -> list[Any]:
    """Block for one item, then take whatever else is queued (a group)."""
    items = [q.get()]
    while True:
        try:
            items.append(q.get_nowait())
        except queue.Empty:
            return items


class ProjectionSink(Protocol):
    """Where progress goes; both are called on the event-loop thread."""

    def on_projected(self, seq: int) -> None: ...

    def on_projection_failed(self, exc: BaseException) -> None: ...


class BackgroundWriter:
    def __init__(self, snapshots: SnapshotStore, projector: Projector | None, *, keep_snapshots: int,
                 gather_ms: float = 0) -> None:
        self.snapshots = snapshots
        self.projector = projector
        self.keep_snapshots = keep_snapshots
        self.gather_s = gather_ms / 1000
        self._q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="ceres-background", daemon=True)
        self._sink: ProjectionSink | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.snapshots_written = 0
        self.last_snapshot_seq = 0
        self.failed: BaseException | None = None

    def start(self, sink: ProjectionSink | None = None, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._sink = sink
        self._loop = loop
        self._thread.start()

    def submit(self, items: Batch, snapshot: Snapshot | None) -> None:
        self._q.put((items, snapshot))

    def stop(self, timeout: float = 30.0) -> None:
        """Finish queued work; the thread closes the projector (its connection may be
        bound to that thread)."""
        if self._thread.is_alive():
            self._q.put(_STOP)
            self._thread.join(timeout)
        elif self.projector is not None:
            self.projector.close()

    def _report(self, method: str, value: Any) -> None:
        if self._sink is not None and self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed during shutdown
                self._loop.call_soon_threadsafe(getattr(self._sink, method), value)

    def _run(self) -> None:
        q = self._q
        while True:
            work = take_all(q)
            if self.gather_s:
                time.sleep(self.gather_s)  # let a few batches gather: fewer, larger transactions
                work += take_all(q) if not q.empty() else []
            stop = False
            items: Batch = []
            for entry in work:
                if entry is _STOP:
                    stop = True
                    continue
                batch_items, snapshot = entry
                items.extend(batch_items)
                if snapshot is not None:
                    self._project(items)
                    items = []
                    self._snapshot(*snapshot)
            self._project(items)
            if stop:
                if self.projector is not None:
                    self.projector.close()
                return

    def _project(self, items: Batch) -> None:
        if not items or self.projector is None or self.failed is not None:
            return
        try:
            self.projector.apply(items)
        except Exception as exc:
            self.failed = exc
            log.exception("projection write failed; history is frozen until restart")
            self._report("on_projection_failed", exc)
            return
        self._report("on_projected", items[-1][0])

    def _snapshot(self, seq: int, state: dict[str, Any]) -> None:
        try:
            self.snapshots.write(seq, encode_snapshot(seq, state))
            self.snapshots.prune(self.keep_snapshots)
        except OSError:
            log.exception("snapshot %s failed (the journal still holds everything)", seq)
            return
        self.snapshots_written += 1
        self.last_snapshot_seq = seq
