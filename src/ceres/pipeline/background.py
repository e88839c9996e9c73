"""The background thread behind durability: projections, then snapshots.

After a batch is durable the sequencer passes its events here, in sequence order. This
thread feeds them to the projection store (a :class:`~ceres.pipeline.history.Projector`)
and, when the batch carries a snapshot, encodes and stores it (the journal's
:class:`~ceres.pipeline.journal.SnapshotStore`) *after* the projection has committed
everything up to it, then prunes old snapshots and the journal only they needed. So the
newest snapshot never runs ahead of the projection, and a restart can always bring the
projection up to date by replaying the journal after it.

Progress is reported on the event loop (``ProjectionSink``): the sequence number the
projection holds, or its failure. A failed write (a full disk) is retried every
``retry_s`` with everything that arrived since, in order (never a later batch before an
earlier one: that would leave a hole), and snapshots wait behind it; when a retry
succeeds the projection reports its progress again. If the backlog passes
``max_backlog`` events it is dropped and the projection stays behind until the next start,
which catches it up from the journal.
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


def take_all(q: queue.SimpleQueue[Any], timeout: float | None = None) -> list[Any]:
    """Block for one item (at most ``timeout`` s: then none), then take whatever else is
    queued (a group)."""
    try:
        items = [q.get(timeout=timeout)]
    except queue.Empty:
        return []
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
                 gather_ms: float = 0, retry_s: float = 1.0, max_backlog: int = 200_000) -> None:
        self.snapshots = snapshots
        self.projector = projector
        self.keep_snapshots = keep_snapshots
        self.gather_s = gather_ms / 1000
        self.retry_s = retry_s
        self.max_backlog = max_backlog
        self._q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="ceres-background", daemon=True)
        self._sink: ProjectionSink | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.snapshots_written = 0
        self.snapshot_failures = 0
        self.projection_failures = 0
        self.last_snapshot_seq = 0
        self.failed: BaseException | None = None  # the projection is failing (retrying), or gave up
        self.gave_up = False

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
        backlog: list[tuple[Batch, Snapshot | None]] = []
        while True:
            work = take_all(q, self.retry_s if backlog else None)
            if self.gather_s and work:
                time.sleep(self.gather_s)  # let a few batches gather: fewer, larger transactions
                work += take_all(q, 0) if not q.empty() else []
            stop = any(entry is _STOP for entry in work)
            backlog.extend(entry for entry in work if entry is not _STOP)
            backlog = self._drain(backlog)
            if stop:
                if self.projector is not None:
                    self.projector.close()
                return

    def _drain(self, backlog: list[tuple[Batch, Snapshot | None]]) -> list[tuple[Batch, Snapshot | None]]:
        """Project the backlog in order, each snapshot after the projection up to it;
        returns what is left when a write fails (to retry), else nothing."""
        start = 0
        items: Batch = []
        for i, (batch_items, snapshot) in enumerate(backlog):
            items.extend(batch_items)
            if snapshot is not None:
                if not self._project(items):
                    return self._keep(backlog[start:])
                self._snapshot(*snapshot)
                start, items = i + 1, []
        if not self._project(items):
            return self._keep(backlog[start:])
        return []

    def _keep(self, backlog: list[tuple[Batch, Snapshot | None]]) -> list[tuple[Batch, Snapshot | None]]:
        if sum(len(events) for batch, _ in backlog for _, events in batch) <= self.max_backlog:
            return backlog
        self.gave_up = True
        log.error("history store still failing with more than %d events waiting: it stays behind until the next "
                  "start rebuilds it from the journal", self.max_backlog)
        return []

    def _project(self, items: Batch) -> bool:
        if not items or self.projector is None or self.gave_up:
            return True
        try:
            self.projector.apply(items)
        except Exception as exc:
            self.projection_failures += 1
            if self.failed is None:
                self.failed = exc
                log.error("history store write failed: %s; retrying every %.1f s", exc, self.retry_s)
                self._report("on_projection_failed", exc)
            return False
        if self.failed is not None:
            log.warning("history store writes again; caught up to seq %s", items[-1][0])
            self.failed = None
        self._report("on_projected", items[-1][0])
        return True

    def _snapshot(self, seq: int, state: dict[str, Any]) -> None:
        try:
            self.snapshots.write(seq, encode_snapshot(seq, state))
            self.snapshots.prune(self.keep_snapshots)
        except OSError as exc:
            self.snapshot_failures += 1
            log.error("snapshot %s failed: %s (the journal still holds everything; the next one is due after "
                      "another interval)", seq, exc)
            return
        self.snapshots_written += 1
        self.last_snapshot_seq = seq
