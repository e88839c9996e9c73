"""The sequencer: the single writer of engine state, and the journal-before-ack rule.

All state-changing commands go through :meth:`Sequencer.submit`, called on the event-loop
thread. It stamps the command with the next sequence number and a time (wall clock in
ms, never going backward), applies it to the engine at once, and returns a future that
resolves only after the command's batch is durable. Commands submitted during one loop
iteration form a batch: one frame (``pipeline.frames``), handed to the journal writer
(the port in ``pipeline.journal``), which may group frames further while it syncs. When
a batch is durable its futures resolve and its events go, in order, to the dispatcher
(push notices, market data, caches) and to the background writer (projection,
snapshots).

A rejected command changes nothing and is not journaled; its reply still waits for the
batches before it, so no reply is ever based on state that could be lost.

If the journal cannot write (a full disk, an I/O error), the sequencer is *degraded*: the
commands not yet durable are refused (JOURNAL_FAILURE, none acknowledged), the engine is
rewound to the durable journal (``rewind``: nothing a refused command did survives in
memory), new commands are refused at once, and every ``retry_s`` the writer is asked to
``resume``; when it can write again, commands are accepted again. Reads keep working
throughout. Only an engine fault (``EngineFault``: a command broke after changing state)
or a rewind that cannot read the journal is fatal: the sequencer refuses everything from
then on and calls ``on_fatal``, the server stops, and a restart replays what is durable.

Because applying happens on the loop thread between awaits, there is exactly one writer
and queries that read engine state on the same loop need no locks. (Decision record
``docs/decisions/0001-inline-sequencer.md``.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from ceres.domain.commands import Command
from ceres.domain.errors import CeresError, ErrorCode
from ceres.engine.core import Engine, EngineFault
from ceres.engine.snapshot import engine_state
from ceres.pipeline.clock import wall_ms
from ceres.pipeline.frames import encode_frame
from ceres.pipeline.history import Batch
from ceres.pipeline.journal import JournalWriter
from ceres.pipeline.progress import ProjectionProgress, Waiters, wake

log = logging.getLogger("ceres.sequencer")
Snapshot = tuple[int, dict[str, Any]]


class BatchSink(Protocol):
    """Receives every durable batch on the loop (``pipeline.dispatch.Dispatcher``)."""

    def dispatch(self, items: Batch) -> None: ...


class Background(Protocol):
    """The projection and snapshot writer (``pipeline.background.BackgroundWriter``)."""

    def submit(self, items: Batch, snapshot: Snapshot | None) -> None: ...


class _Batch:
    __slots__ = ("items", "last_seq", "replies", "snapshot")

    def __init__(self, last_seq: int, replies: list[tuple[asyncio.Future[Any], Any, bool]], items: Batch,
                 snapshot: Snapshot | None) -> None:
        self.last_seq = last_seq
        self.replies = replies
        self.items = items
        self.snapshot = snapshot


class Sequencer(ProjectionProgress):
    def __init__(self, engine: Engine, writer: JournalWriter, sink: BatchSink, background: Background | None,
                 loop: asyncio.AbstractEventLoop, *, snapshot_every: int = 0, last_snapshot_seq: int = 0,
                 projected_seq: int | None = None, clock: Callable[[], int] = wall_ms,
                 on_fatal: Callable[[BaseException], None] | None = None,
                 rewind: Callable[[int], None] | None = None, retry_s: float = 1.0) -> None:
        self.engine = engine
        self.writer = writer
        self.sink = sink
        self.background = background
        self.clock = clock
        self.snapshot_every = snapshot_every
        self.on_fatal = on_fatal
        self.rewind = rewind
        self.retry_s = retry_s
        self.seq = engine.seq
        self.now = engine.now
        self.durable_seq = engine.seq
        self.projected_seq = engine.seq if projected_seq is None else projected_seq
        self.last_snapshot_seq = last_snapshot_seq
        self.failed: BaseException | None = None  # fatal: nothing is accepted any more
        self.degraded: BaseException | None = None  # the journal cannot write; retrying
        self.degraded_since = 0.0
        self.journal_failures = 0
        self.projection_failed: BaseException | None = None
        self._loop = loop
        self._records: list[tuple[int, Command]] = []
        self._items: Batch = []
        self._replies: list[tuple[asyncio.Future[Any], Any, bool]] = []
        self._first_seq = 0
        self._scheduled = False
        self._inflight: deque[_Batch] = deque()
        self._projection_waiters: Waiters = []
        self._durable_waiters: Waiters = []
        # statistics
        self.commands = 0
        self.batches = 0
        self.rejects: dict[str, int] = {}  # commands the engine refused, by error code

    @property
    def in_flight(self) -> int:
        """Batches waiting for durability."""
        return len(self._inflight)

    # --- submitting -----------------------------------------------------------------------
    def submit(self, cmd: Command) -> asyncio.Future[Any]:
        """Apply ``cmd`` now; the returned future gives its result (or raises its
        CeresError) once everything up to it is durable."""
        loop = self._loop
        fut = loop.create_future()
        if self.failed is not None or self.degraded is not None:
            fut.set_exception(self._refusal())
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
        except EngineFault as exc:
            self._fatal(exc)
            fut.set_exception(CeresError(ErrorCode.INTERNAL))
            return fut
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
        if self.failed is not None or self.degraded is not None:
            return
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
            self._fatal(exc)
            return
        self.writer.submit(frame, self.seq, snapshot is not None)

    # --- durability (DurabilitySink) -------------------------------------------------------
    def on_durable(self, seq: int) -> None:
        """Called on the loop by the journal writer."""
        if seq > self.durable_seq:
            self.durable_seq = seq
        self._release(self.durable_seq)
        if self._durable_waiters:
            self._durable_waiters = wake(self._durable_waiters, self.durable_seq)

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
                self.sink.dispatch(batch.items)
                if self.background is not None:
                    self.background.submit(batch.items, batch.snapshot)

    def on_failure(self, exc: BaseException) -> None:
        """The journal could not write (called on the loop by the writer): refuse what is
        not durable, rewind the engine to the durable journal, and retry until it writes."""
        if self.failed is not None:
            return
        if self.rewind is None:
            self._fatal(exc)
            return
        retrying = self.degraded is not None
        self.degraded = exc
        if retrying:  # a resume attempt failed: the disk still refuses
            self._retry_later()
            return
        log.critical("journal write failed: %s; refusing commands until it writes again (retrying every %.2f s)",
                     exc, self.retry_s)
        self.journal_failures += 1
        self.degraded_since = time.monotonic()
        self._refuse_pending()
        try:
            self.rewind(self.durable_seq)
        except Exception as rewind_exc:
            log.critical("cannot rewind the engine to the durable journal (seq %s): %s", self.durable_seq,
                         rewind_exc)
            self._fatal(rewind_exc)
            return
        self.seq = self.durable_seq
        self.last_snapshot_seq = min(self.last_snapshot_seq, self.durable_seq)
        # history reads waiting for refused commands wait for the durable point instead
        self._projection_waiters = wake([(min(t, self.seq), f) for t, f in self._projection_waiters],
                                         self.projected_seq)
        self._retry_later()

    def on_writable(self) -> None:
        """The writer has cut storage back to the durable journal and can write again."""
        if self.degraded is None or self.failed is not None:
            return
        log.warning("journal writable again after %.1f s; accepting commands", time.monotonic() - self.degraded_since)
        self.degraded = None

    def _retry_later(self) -> None:
        self._loop.call_later(self.retry_s, self._retry)

    def _retry(self) -> None:
        if self.degraded is not None and self.failed is None:
            self.writer.resume()

    def _refusal(self) -> CeresError:
        if isinstance(self.failed, EngineFault):
            return CeresError(ErrorCode.INTERNAL, "the server has stopped accepting commands")
        if self.failed is not None:
            return CeresError(ErrorCode.JOURNAL_FAILURE, "the server has stopped accepting commands")
        return CeresError(ErrorCode.JOURNAL_FAILURE, f"{ErrorCode.JOURNAL_FAILURE.default_message}: {self.degraded}")

    def _refuse_pending(self) -> None:
        """Fail every reply not yet released (nothing of it was acknowledged) and wake
        everything waiting for durability (``durable_caught_up`` then refuses: the state
        a read would show may be gone)."""
        err = self._refusal()
        pending = [r for b in self._inflight for r in b.replies] + self._replies
        self._inflight.clear()
        self._replies = []
        self._records = []
        self._items = []
        for fut, _, _ in pending:
            if not fut.done():
                fut.set_exception(err)
        self._durable_waiters = wake(self._durable_waiters, None)  # reads see they were not reached

    def _fatal(self, exc: BaseException) -> None:
        """An engine fault, or no way back to the durable journal: refuse everything from
        now on and stop the server."""
        if self.failed is not None:
            return
        log.critical("%s: %s; refusing commands and shutting down",
                     "engine fault" if isinstance(exc, EngineFault) else "journal failure", exc)
        self.failed = exc
        self._refuse_pending()
        if self.on_fatal is not None:
            self.on_fatal(exc)

    async def durable_caught_up(self) -> None:
        """Wait until every command applied so far is durable: a read computed from the
        engine's state now may be released (nothing it shows can be lost in a crash).
        Raises JOURNAL_FAILURE if the journal fails first, or while it cannot write."""
        target = self.seq
        if self.durable_seq >= target:
            return
        if self.failed is not None or self.degraded is not None:
            raise self._refusal()
        fut: asyncio.Future[None] = self._loop.create_future()
        self._durable_waiters.append((target, fut))
        await fut
        if self.durable_seq < target:
            raise self._refusal()

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait (at most ``timeout`` s) until everything submitted so far is durable, or
        the journal failed (used at shutdown)."""
        target = self.seq
        if self.durable_seq >= target or self.failed is not None:
            return
        fut: asyncio.Future[None] = self._loop.create_future()
        self._durable_waiters.append((target, fut))
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(fut, timeout)

