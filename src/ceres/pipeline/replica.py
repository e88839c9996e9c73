"""A replica: an engine kept up to date from a journal another process writes (issue 12).

Hot standby engines, gateways and projectors all recover like a server (newest snapshot plus
the journal), then follow the journal as it grows: every record is applied through the same
``Engine.apply``, with its journaled seq and time, so the replica's state and events are the
writer's (replay is deterministic; ``ceres verify --full`` checks the same property). Its
events go, in order, to the same consumers a writing node feeds (the dispatcher: notices,
market data, caches; the background writer: the history store), so a gateway pushes exactly
the notices and market data the writer's own process would have.

Everything a replica applies is durable already, so its ``durable_seq`` is its ``seq``; it
offers the read side of the sequencer (``durable_caught_up``, ``projection_caught_up``, the
figures ``/health`` and ``/metrics`` show) and ``reached(seq)``, which a gateway awaits after
the leader's reply so that what it answers next shows the command. A record that no longer
applies, or a jump in sequence numbers, stops the replica (``failed``): its state would no
longer be the journal's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from ceres.domain.errors import CeresError, ErrorCode
from ceres.engine.core import Engine
from ceres.pipeline.frames import Frame, JournalCorrupt, decode_records
from ceres.pipeline.history import Batch
from ceres.pipeline.progress import ProjectionProgress, Waiters, wake
from ceres.pipeline.sequencer import Background, BatchSink

log = logging.getLogger("ceres.replica")


class Replica(ProjectionProgress):
    def __init__(self, engine: Engine, sink: BatchSink, background: Background | None,
                 loop: asyncio.AbstractEventLoop, *, projected_seq: int | None = None,
                 on_fatal: Callable[[BaseException], None] | None = None) -> None:
        self.engine = engine
        self.sink = sink
        self.background = background
        self.on_fatal = on_fatal
        self._loop = loop
        self.seq = self.durable_seq = engine.seq
        self.now = engine.now
        self.projected_seq = engine.seq if projected_seq is None else projected_seq
        self.stream_seq = 0  # how far the journal has been read (backend units: a stream message)
        self.failed: BaseException | None = None
        self.degraded: BaseException | None = None  # never: a replica does not write
        self.projection_failed: BaseException | None = None
        self.journal_failures = 0
        self.commands = 0
        self.batches = 0
        self.in_flight = 0
        self.rejects: dict[str, int] = {}
        self._projection_waiters: Waiters = []
        self._seq_waiters: Waiters = []
        self._stream_waiters: Waiters = []

    # --- following ---------------------------------------------------------------------------
    def on_frames(self, frames: list[Frame], stream_seq: int) -> None:
        """Apply ``frames`` (read up to the journal position ``stream_seq``), on the loop."""
        if self.failed is not None:
            return
        items: Batch = []
        engine = self.engine
        try:
            for frame in frames:
                for i, (now, cmd) in enumerate(decode_records(frame.payload)):
                    seq = frame.first_seq + i
                    if seq <= self.seq:
                        continue
                    if seq != self.seq + 1:
                        raise JournalCorrupt(f"the journal jumps from seq {self.seq} to {seq}")
                    try:
                        engine.apply(cmd, seq, now)
                    except CeresError as exc:
                        raise JournalCorrupt(f"record seq {seq} no longer applies: {exc}") from None
                    items.append((seq, engine.take_events()))
                    self.seq = self.durable_seq = seq
        except Exception as exc:
            self.on_error(exc)
            return
        self.now = engine.now
        self.stream_seq = max(self.stream_seq, stream_seq)
        if items:
            self.commands += len(items)
            self.batches += 1
            self.sink.dispatch(items)
            if self.background is not None:
                self.background.submit(items, None)
            self._seq_waiters = wake(self._seq_waiters, self.seq)
        self._stream_waiters = wake(self._stream_waiters, self.stream_seq)

    def on_error(self, exc: BaseException) -> None:
        """The journal could not be followed (damage, a record that no longer applies)."""
        if self.failed is not None:
            return
        log.critical("replica stopped at seq %d: %s", self.seq, exc)
        self.failed = exc
        self._seq_waiters = wake(self._seq_waiters, None)
        self._stream_waiters = wake(self._stream_waiters, None)
        if self.on_fatal is not None:
            self.on_fatal(exc)

    # --- waiting ---------------------------------------------------------------------------
    async def reached(self, seq: int, timeout: float | None = None) -> None:
        """Wait until record ``seq`` is applied; raises JOURNAL_FAILURE if the replica
        stopped, TimeoutError after ``timeout`` s."""
        await self._wait(seq, self._seq_waiters, lambda: self.seq, timeout)

    async def reached_stream(self, stream_seq: int, timeout: float | None = None) -> None:
        """Wait until the journal is read up to position ``stream_seq``."""
        await self._wait(stream_seq, self._stream_waiters, lambda: self.stream_seq, timeout)

    async def _wait(self, target: int, waiters: Waiters, now: Callable[[], int], timeout: float | None) -> None:
        if now() >= target:
            return
        if self.failed is not None:
            raise self._refusal()
        fut: asyncio.Future[None] = self._loop.create_future()
        waiters.append((target, fut))
        await asyncio.wait_for(fut, timeout)
        if now() < target:
            raise self._refusal()

    def _refusal(self) -> CeresError:
        return CeresError(ErrorCode.JOURNAL_FAILURE, f"this replica stopped following the journal: {self.failed}")

    async def durable_caught_up(self) -> None:
        """Everything a replica shows is durable."""
        if self.failed is not None:
            raise self._refusal()

    async def drain(self, timeout: float = 10.0) -> None:
        """Nothing to drain: a replica writes nothing."""
