"""A node: the running owner of a journal — engine, sequencer, journal writer and
background writer — and its orderly shutdown.

The wiring (``ceres.server``, the CLI's offline commands) takes ownership of the journal,
recovers the engine (``pipeline.recovery``), builds the consumers, and hands everything
to :class:`Node`, which starts the writer and the background thread. ``Node.close``
drains what is queued, writes a final snapshot and releases ownership. The server and
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
from ceres.pipeline.journal import Journal, JournalWriter
from ceres.pipeline.sequencer import BatchSink, Sequencer


class Node:
    def __init__(self, engine: Engine, journal: Journal, writer: JournalWriter, background: BackgroundWriter,
                 sink: BatchSink, loop: asyncio.AbstractEventLoop, *, snapshot_every: int, last_snapshot_seq: int,
                 on_fatal: Callable[[BaseException], None] | None = None) -> None:
        self.engine = engine
        self.journal = journal
        self.writer = writer
        self.background = background
        projector = background.projector
        self.sequencer = Sequencer(engine, writer, sink, background, loop, snapshot_every=snapshot_every,
                                   last_snapshot_seq=last_snapshot_seq,
                                   projected_seq=projector.last_seq() if projector is not None else None,
                                   on_fatal=on_fatal)
        self.submit: Callable[[Command], asyncio.Future[Any]] = self.sequencer.submit
        writer.start(self.sequencer)
        background.start(self.sequencer, loop)
        self.closed = False

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
