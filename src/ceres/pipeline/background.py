"""The background thread behind durability: projections, then snapshots.

After a batch is durable the sequencer passes its events here, in sequence order. This
thread feeds them to the projection store (SQLite) and, when the batch carries a
snapshot, writes the snapshot file *after* the projection has committed everything up
to it and then prunes old snapshots and segments. So the newest snapshot never runs
ahead of the projection, and a restart can always bring the projection up to date by
replaying the journal after it.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any, Callable, Protocol

from ceres.journal.file.segments import DataDir
from ceres.journal.file.group_commit import take_all

log = logging.getLogger("ceres.journal")
_STOP = object()


class Projection(Protocol):
    def last_seq(self) -> int: ...

    def apply(self, items: list[tuple[int, list[Any]]]) -> None:
        """Apply ``(seq, events)`` pairs in order, idempotently (seq <= last_seq ignored)."""

    def close(self) -> None: ...


class BackgroundWriter:
    def __init__(self, data_dir: DataDir, projection: Projection | None, keep_snapshots: int,
                 on_projected: Callable[[int], None] | None = None,
                 on_failed: Callable[[BaseException], None] | None = None, gather_ms: float = 0) -> None:
        self.data_dir = data_dir
        self.projection = projection
        self.keep_snapshots = keep_snapshots
        self.on_projected = on_projected
        self.on_failed = on_failed
        self.gather_s = gather_ms / 1000
        self._q: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="ceres-background", daemon=True)
        self.snapshots_written = 0
        self.last_snapshot_seq = 0
        self.failed: BaseException | None = None

    def start(self) -> None:
        self._thread.start()

    def submit(self, items: list[tuple[int, list[Any]]], snapshot: tuple[int, dict] | None) -> None:
        self._q.put((items, snapshot))

    def stop(self, timeout: float = 30.0) -> None:
        """Finish queued work; the thread closes the projection (its connection is
        bound to that thread)."""
        if self._thread.is_alive():
            self._q.put(_STOP)
            self._thread.join(timeout)
        elif self.projection is not None:
            self.projection.close()

    def _run(self) -> None:
        q = self._q
        while True:
            work = take_all(q)
            if self.gather_s:
                time.sleep(self.gather_s)  # let a few batches gather: fewer, larger transactions
                work += take_all(q) if not q.empty() else []
            stop = False
            items: list[tuple[int, list[Any]]] = []
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
                if self.projection is not None:
                    self.projection.close()
                return

    def _project(self, items: list[tuple[int, list[Any]]]) -> None:
        if not items or self.projection is None or self.failed is not None:
            return
        try:
            self.projection.apply(items)
        except Exception as exc:
            # stop projecting: applying later batches would leave a hole. The journal still
            # has everything, and the next start (or `ceres rebuild`) catches the store up.
            self.failed = exc
            log.exception("projection write failed; history is frozen until restart")
            if self.on_failed is not None:
                self.on_failed(exc)
            return
        if self.on_projected is not None:
            self.on_projected(items[-1][0])

    def _snapshot(self, seq: int, state: dict) -> None:
        try:
            self.data_dir.write_snapshot(seq, state)
            self.data_dir.prune(self.keep_snapshots)
        except OSError:
            log.exception("snapshot %s failed (the journal still holds everything)", seq)
            return
        self.snapshots_written += 1
        self.last_snapshot_seq = seq
