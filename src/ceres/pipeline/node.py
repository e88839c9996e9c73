"""A node: the owner of one data directory — engine, journal, sequencer, projection.

``Node.open`` locks the directory, recovers the engine (newest snapshot + journal tail),
brings the projection store up to date, and starts the journal and background threads;
``Node.close`` drains, writes a final snapshot and releases everything. The server and
the offline admin commands (``ceres accounts deposit`` with the server stopped) both use
it, so every change goes through the same sequencer and journal.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ceres.config import Config
from ceres.domain.commands import Command
from ceres.engine.core import Engine
from ceres.engine.snapshot import engine_state
from ceres.pipeline.sequencer import Sequencer
from ceres.pipeline.background import BackgroundWriter
from ceres.pipeline.frames import JournalGap
from ceres.journal.file.segments import DataDir, SegmentWriter
from ceres.journal.file.group_commit import GroupCommitter
from ceres.pipeline.recovery import Recovery, recover
from ceres.store.sqlite import SqliteProjection

log = logging.getLogger("ceres.pipeline.node")
PROJECTION_FILE = "ceres.db"
REPLAY_CHUNK = 2000
PROJECTION_GATHER_MS = 5  # the projection writes at most every ~5 ms: larger transactions


@dataclass
class OpenReport:
    recovery: Recovery
    projection_from: int
    projection_gap: bool


class Node:
    def __init__(self, cfg: Config, data_dir: Path | str | None = None) -> None:
        self.cfg = cfg
        self.data_dir = DataDir(data_dir if data_dir is not None else cfg.data_path)
        self.instruments = cfg.build_instruments()
        self.engine: Engine | None = None
        self.sequencer: Sequencer | None = None
        self.committer: GroupCommitter | None = None
        self.background: BackgroundWriter | None = None
        self.projection: SqliteProjection | None = None
        self.report: OpenReport | None = None

    def make_engine(self) -> Engine:
        return Engine(self.instruments, self.cfg.currencies)

    def make_projection(self) -> SqliteProjection:
        cfg = self.cfg
        return SqliteProjection(self.projection_path, cfg.tz, skip_products=frozenset({cfg.simulator.product}),
                                trade_retention_ms=cfg.market.trade_retention_days * 86_400_000)

    @property
    def projection_path(self) -> Path:
        return self.data_dir.root / PROJECTION_FILE

    def recover_into_projection(self, projection: SqliteProjection, *,
                                progress: Callable[[int, int], None] | None = None) -> OpenReport:
        """Recover the engine while feeding the projection every event it lacks."""
        start = projection.last_seq()
        pending: list[tuple[int, list[Any]]] = []

        def sink(seq: int, events: list[Any]) -> None:
            if seq > start:
                pending.append((seq, events))
                if len(pending) >= REPLAY_CHUNK:
                    projection.apply(pending)
                    pending.clear()

        gap = False
        try:
            rec = recover(self.data_dir, self.make_engine, on_events=sink,
                          max_snapshot_seq=start, progress=progress)
        except JournalGap:
            # the journal no longer reaches back to where the projection stopped: recover
            # normally; history between is missing from the projection (logged)
            gap = True
            pending.clear()
            rec = recover(self.data_dir, self.make_engine, on_events=sink, progress=progress)
        if pending:
            projection.apply(pending)
        return OpenReport(rec, start, gap)

    def open(self, loop: asyncio.AbstractEventLoop, *,
             progress: Callable[[int, int], None] | None = None) -> OpenReport:
        self.data_dir.lock()
        try:
            self.projection = self.make_projection()
            report = self.recover_into_projection(self.projection, progress=progress)
            # catching up may have opened the projection's connection on this thread;
            # sqlite connections are bound to their thread, and from now on only the
            # background thread writes: close it here so that thread opens its own
            self.projection.close()
        except BaseException:
            self.data_dir.unlock()
            raise
        rec = report.recovery
        if report.projection_gap:
            log.warning("projection store lacks history before seq %s (journal pruned); "
                        "it holds everything after", rec.snapshot_seq)
        if rec.torn_bytes:
            log.warning("cut a torn journal tail of %d bytes", rec.torn_bytes)
        for skipped in rec.skipped_snapshots:
            log.warning("skipped damaged snapshot %s", skipped)
        self.engine = rec.engine
        jc = self.cfg.journal
        writer = SegmentWriter(self.data_dir, rec.last_seq + 1, fsync=jc.fsync,
                               segment_bytes=jc.segment_mb << 20)
        self.sequencer = seq = Sequencer(self.engine, snapshot_every=jc.snapshot_every)
        seq.last_snapshot_seq = rec.snapshot_seq or 0
        self.committer = GroupCommitter(writer, loop, seq.on_durable, seq.on_failure)
        self.background = BackgroundWriter(
            self.data_dir, self.projection, jc.keep_snapshots,
            on_projected=lambda s: loop.call_soon_threadsafe(seq.on_projected, s),
            on_failed=lambda e: loop.call_soon_threadsafe(seq.on_projection_failed, e),
            gather_ms=PROJECTION_GATHER_MS)
        seq.projected_seq = self.projection.last_seq()
        seq.attach(self.committer, self.background, loop)
        self.committer.start()
        self.background.start()
        self.report = report
        return report

    async def submit(self, cmd: Command) -> Any:
        return await self.sequencer.submit(cmd)

    async def close(self, *, final_snapshot: bool = True) -> None:
        """Drain, final snapshot (if asked and anything changed since the last), stop,
        unlock."""
        seq = self.sequencer
        if seq is None:
            return
        await seq.drain()
        self.committer.stop()
        snapshot = None
        if final_snapshot and seq.failed is None and seq.seq > seq.last_snapshot_seq:
            snapshot = (seq.seq, engine_state(self.engine))
            seq.last_snapshot_seq = seq.seq
        if snapshot is not None:
            self.background.submit([], snapshot)
        self.background.stop()
        self.data_dir.unlock()
        self.sequencer = None
