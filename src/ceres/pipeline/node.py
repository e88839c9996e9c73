"""A node: the running owner of a journal — engine, sequencer, journal writer and
background writer — and its orderly shutdown.

The wiring (``ceres.server``, the CLI's offline commands) takes ownership of the journal,
recovers the engine (``pipeline.recovery``), builds the consumers, and hands everything
to :class:`Node`, which starts the writer and the background thread. ``Node.rewind``
brings the engine back to the durable journal after a failed write (the sequencer calls
it). ``Node.close`` drains what is queued, writes a final snapshot and releases ownership. The server and
the offline admin commands both change state only through a node's sequencer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from ceres.domain.commands import Command
from ceres.engine.core import Engine
from ceres.engine.snapshot import engine_state
from ceres.pipeline.background import BackgroundWriter
from ceres.pipeline.frames import JournalCorrupt
from ceres.pipeline.journal import Journal, JournalWriter
from ceres.pipeline.recovery import recover
from ceres.pipeline.sequencer import BatchSink, Sequencer


class Node:
    def __init__(self, engine: Engine, journal: Journal, writer: JournalWriter, background: BackgroundWriter,
                 sink: BatchSink, loop: asyncio.AbstractEventLoop, *, snapshot_every: int, last_snapshot_seq: int,
                 on_fatal: Callable[[BaseException], None] | None = None,
                 make_engine: Callable[[], Engine] | None = None, retry_s: float = 1.0) -> None:
        self.engine = engine
        self.journal = journal
        self.make_engine = make_engine
        self.writer = writer
        self.background = background
        projector = background.projector
        self.sequencer = Sequencer(engine, writer, sink, background, loop, snapshot_every=snapshot_every,
                                   last_snapshot_seq=last_snapshot_seq,
                                   projected_seq=projector.last_seq() if projector is not None else None,
                                   on_fatal=on_fatal, rewind=self.rewind if make_engine is not None else None,
                                   retry_s=retry_s)
        self.submit: Callable[[Command], asyncio.Future[Any]] = self.sequencer.submit
        writer.start(self.sequencer)
        background.start(self.sequencer, loop)
        self.closed = False

    def rewind(self, seq: int) -> None:
        """Bring the engine back to the journal's record ``seq`` (the durable point, after a
        failed write): recover into a fresh engine and adopt its state."""
        assert self.make_engine is not None
        rec = recover(self.journal, self.make_engine, upto=seq)
        if rec.last_seq != seq:
            raise JournalCorrupt(f"{self.journal.describe()}: durable up to seq {seq}, but only {rec.last_seq} "
                                 "could be read back")
        self.engine.adopt(rec.engine)

    async def close(self, *, final_snapshot: bool = True) -> None:
        """Drain, final snapshot (if asked and anything changed since the last), stop,
        release ownership."""
        if self.closed:
            return
        self.closed = True
        seq = self.sequencer
        await seq.drain()
        self.writer.close()
        if final_snapshot and seq.failed is None and seq.seq > seq.last_snapshot_seq:
            self.background.submit([], (seq.seq, engine_state(self.engine)))
            seq.last_snapshot_seq = seq.seq
        self.background.stop()
        self.journal.ownership.release()
