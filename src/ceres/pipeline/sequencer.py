"""The sequencer: the single writer of engine state, and the journal-before-ack rule.

All state-changing commands go through :meth:`Sequencer.submit`, called on the event-loop
thread. It stamps the command with the next sequence number and a time (wall clock in
ms, never going backward), applies it to the engine at once, and returns a future that
resolves only after the command's batch is durable. Commands submitted during one loop
iteration form a batch: one frame, encoded here and handed to the journal thread, which
groups frames further while an fsync runs (``GroupCommitter``). When a batch is durable
its futures resolve and its events go, in order, to the listeners (push notices, market
data) and to the background thread (projections, snapshots).

A rejected command changes nothing and is not journaled; its reply still waits for the
batches before it, so no reply is ever based on state that could be lost.

Because applying happens on the loop thread between awaits, there is exactly one writer
and queries that read engine state on the same loop need no locks. (Decision record
``docs/decisions/0001-inline-sequencer.md``: applying inline instead of in a separate
queue-draining task gives the same ordering with one less hop per command.)
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any, Callable

from ceres.domain.commands import Command
from ceres.pipeline.clock import wall_ms
from ceres.domain.errors import CeresError, ErrorCode
from ceres.engine.core import Engine
from ceres.engine.snapshot import engine_state
from ceres.pipeline.background import BackgroundWriter
from ceres.pipeline.frames import encode_frame
from ceres.journal.file.group_commit import GroupCommitter

log = logging.getLogger("ceres.sequencer")
HISTORY_DOWN = "the history store failed; it is rebuilt from the journal at the next start"
Listener = Callable[[list[tuple[int, list[Any]]]], None]


class _Batch:
    __slots__ = ("last_seq", "replies", "items", "snapshot")

    def __init__(self, last_seq: int, replies: list, items: list, snapshot: Any) -> None:
        self.last_seq = last_seq
        self.replies = replies
        self.items = items
        self.snapshot = snapshot


class Sequencer:
    def __init__(self, engine: Engine, *, snapshot_every: int = 0,
                 clock: Callable[[], int] = wall_ms) -> None:
        self.engine = engine
        self.clock = clock
        self.snapshot_every = snapshot_every
        self.seq = engine.seq
        self.now = engine.now
        self.durable_seq = engine.seq
        self.projected_seq = engine.seq
        self.last_snapshot_seq = engine.seq
        self.failed: BaseException | None = None
        self.projection_failed: BaseException | None = None
        self.listeners: list[Listener] = []
        self.committer: GroupCommitter | None = None
        self.background: BackgroundWriter | None = None
        self.on_fatal: Callable[[BaseException], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._records: list[tuple[int, Command]] = []
        self._items: list[tuple[int, list[Any]]] = []
        self._replies: list[tuple[asyncio.Future, Any, bool]] = []
        self._first_seq = 0
        self._scheduled = False
        self._inflight: deque[_Batch] = deque()
        self._projection_waiters: list[tuple[int, asyncio.Future]] = []
        # statistics for /metrics
        self.commands = 0
        self.rejects: dict[str, int] = {}
        self.batches = 0

    def attach(self, committer: GroupCommitter, background: BackgroundWriter | None,
               loop: asyncio.AbstractEventLoop) -> None:
        self.committer = committer
        self.background = background
        self._loop = loop

    # --- submitting -----------------------------------------------------------------------
    def submit(self, cmd: Command) -> asyncio.Future:
        """Apply ``cmd`` now; the returned future gives its result (or raises its
        CeresError) once everything up to it is durable."""
        loop = self._loop
        fut = loop.create_future()
        if self.failed is not None:
            fut.set_exception(CeresError(ErrorCode.JOURNAL_FAILURE))
            return fut
        seq = self.seq + 1
        now = self.clock()
        if now < self.now:
            now = self.now
        try:
            result = self.engine.apply(cmd, seq, now)
        except CeresError as exc:
            code = exc.error.code
            self.rejects[code] = self.rejects.get(code, 0) + 1
            if not self._records and not self._inflight:
                fut.set_exception(exc)  # nothing before it is pending: answer at once
                return fut
            self._replies.append((fut, exc, True))
        else:
            if not self._records:
                self._first_seq = seq
            self.seq = seq
            self.now = now
            self._records.append((now, cmd))
            self._items.append((seq, self.engine.take_events()))
            self._replies.append((fut, result, False))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return fut

    def _flush(self) -> None:
        self._scheduled = False
        replies, self._replies = self._replies, []
        if not self._records:
            if replies:
                self._inflight.append(_Batch(self.seq, replies, [], None))
                self._release(self.durable_seq)
            return
        records, self._records = self._records, []
        items, self._items = self._items, []
        snapshot = None
        if self.snapshot_every and self.seq - self.last_snapshot_seq >= self.snapshot_every:
            snapshot = (self.seq, engine_state(self.engine))
            self.last_snapshot_seq = self.seq
        self.commands += len(records)
        self.batches += 1
        self._inflight.append(_Batch(self.seq, replies, items, snapshot))
        try:
            frame = encode_frame(self._first_seq, records)
        except Exception as exc:
            # applied in memory but impossible to journal: stop here, or a later durable
            # batch would release this one and the journal would have a hole
            self.on_failure(exc)
            return
        self.committer.submit(frame, self.seq, snapshot is not None)

    # --- durability -------------------------------------------------------------------------
    def on_durable(self, seq: int) -> None:
        """Called on the loop by the journal thread."""
        if seq > self.durable_seq:
            self.durable_seq = seq
        self._release(self.durable_seq)

    def _release(self, durable: int) -> None:
        inflight = self._inflight
        while inflight and inflight[0].last_seq <= durable:
            batch = inflight.popleft()
            for fut, value, failed in batch.replies:
                if fut.done():
                    continue
                if failed:
                    fut.set_exception(value)
                else:
                    fut.set_result(value)
            if batch.items:
                for listener in self.listeners:
                    try:
                        listener(batch.items)
                    except Exception:
                        log.exception("event listener failed")
                if self.background is not None:
                    self.background.submit(batch.items, batch.snapshot)

    def on_failure(self, exc: BaseException) -> None:
        """The journal failed: refuse everything from now on and stop the server."""
        log.critical("journal write failed: %s; refusing commands and shutting down", exc)
        self.failed = exc
        err = CeresError(ErrorCode.JOURNAL_FAILURE)
        while self._inflight:
            for fut, _, _ in self._inflight.popleft().replies:
                if not fut.done():
                    fut.set_exception(err)
        if self.on_fatal is not None:
            self.on_fatal(exc)

    # --- projection catch-up ---------------------------------------------------------------
    def on_projected(self, seq: int) -> None:
        """Called on the loop when the projection has committed through ``seq``."""
        if seq > self.projected_seq:
            self.projected_seq = seq
        waiters, self._projection_waiters = self._projection_waiters, []
        for target, fut in waiters:
            if target <= self.projected_seq:
                if not fut.done():
                    fut.set_result(None)
            else:
                self._projection_waiters.append((target, fut))

    def on_projection_failed(self, exc: BaseException) -> None:
        """The projection store failed: history reads fail fast instead of waiting."""
        self.projection_failed = exc
        waiters, self._projection_waiters = self._projection_waiters, []
        for _, fut in waiters:
            if not fut.done():
                fut.set_exception(CeresError(ErrorCode.INTERNAL, HISTORY_DOWN))

    async def projection_caught_up(self) -> None:
        """Wait until the projection holds every command applied so far (so a history
        query sees every command acknowledged before its reply, including commands
        pipelined earlier on the same connection whose acknowledgement is still waiting
        for the journal)."""
        target = self.seq
        if self.projected_seq >= target or self.background is None:
            return
        if self.projection_failed is not None:
            raise CeresError(ErrorCode.INTERNAL, HISTORY_DOWN)
        fut = self._loop.create_future()
        self._projection_waiters.append((target, fut))
        await fut

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until everything submitted so far is durable (used at shutdown)."""
        target = self.seq
        deadline = time.monotonic() + timeout
        if self._scheduled:
            await asyncio.sleep(0)
        while self.durable_seq < target and self.failed is None and time.monotonic() < deadline:
            await asyncio.sleep(0.001)
