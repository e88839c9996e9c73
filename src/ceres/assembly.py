"""How the parts are put together from the configuration, for the server, the CLI and
tools: the journal backend ``[journal] backend`` names, the engine factory, the history
store, and an offline node (the CLI's admin commands with the server stopped).

A journal backend is a package ``ceres.journal.<name>`` with a ``from_config(settings,
data_root)`` function; naming it in the configuration is all it takes to use it.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Callable
from pathlib import Path

from ceres.config import Config
from ceres.engine.core import Engine
from ceres.pipeline.background import BackgroundWriter
from ceres.pipeline.dispatch import Dispatcher
from ceres.pipeline.journal import Journal
from ceres.pipeline.node import Node
from ceres.pipeline.recovery import HistoryReport, recover_with_history
from ceres.store.sqlite import SqliteProjection

log = logging.getLogger("ceres.node")
PROJECTION_FILE = "ceres.db"
PROJECTION_GATHER_MS = 5  # the projection writes at most every ~5 ms: larger transactions


def open_journal(cfg: Config, data_dir: Path | str | None = None) -> Journal:
    """The configured journal backend for ``data_dir`` (default: the configured one)."""
    module = importlib.import_module(f"ceres.journal.{cfg.journal.backend}")
    journal: Journal = module.from_config(cfg.journal, Path(data_dir) if data_dir is not None else cfg.data_path)
    return journal


def engine_factory(cfg: Config) -> Callable[[], Engine]:
    instruments = cfg.build_instruments()
    return lambda: Engine(instruments, cfg.currencies)


def projection_path(cfg: Config, data_dir: Path | str | None = None) -> Path:
    return (Path(data_dir) if data_dir is not None else cfg.data_path) / PROJECTION_FILE


def open_projection(cfg: Config, data_dir: Path | str | None = None) -> SqliteProjection:
    return SqliteProjection(projection_path(cfg, data_dir), skip_products=frozenset({cfg.simulator.product}),
                            trade_retention_ms=cfg.market.trade_retention_days * 86_400_000,
                            notice_retention=cfg.market.notice_retention)


def recover_owned(journal: Journal, cfg: Config, projection: SqliteProjection, *,
                  progress: Callable[[int, int], None] | None = None) -> HistoryReport:
    """With ownership of ``journal`` held: recover the engine and catch the history store
    up, logging what was found. The projection's connection is closed afterwards (SQLite
    connections belong to a thread; from now on only the background thread writes)."""
    report = recover_with_history(journal, engine_factory(cfg), projection, progress=progress)
    projection.close()
    rec = report.recovery
    if report.projection_gap:
        log.warning("projection store lacks history before seq %s (journal pruned); "
                    "it holds everything after", rec.snapshot_seq)
    if rec.torn_bytes:
        log.warning("cut a torn journal tail of %d bytes", rec.torn_bytes)
    for skipped in rec.skipped_snapshots:
        log.warning("skipped damaged snapshot %s", skipped)
    return report


def start_node(cfg: Config, journal: Journal, report: HistoryReport, projection: SqliteProjection,
               dispatcher: Dispatcher, loop: asyncio.AbstractEventLoop, *,
               on_fatal: Callable[[BaseException], None] | None = None) -> Node:
    """The running node after ``recover_owned``: journal writer, background writer, sequencer."""
    rec = report.recovery
    jc = cfg.journal
    background = BackgroundWriter(journal.snapshots, projection, keep_snapshots=jc.keep_snapshots,
                                  gather_ms=PROJECTION_GATHER_MS, retry_s=jc.retry_ms / 1000)
    return Node(rec.engine, journal, journal.open_writer(rec.last_seq + 1), background, dispatcher, loop,
                snapshot_every=jc.snapshot_every, last_snapshot_seq=rec.snapshot_seq or 0, on_fatal=on_fatal,
                make_engine=engine_factory(cfg), retry_s=jc.retry_ms / 1000)


def open_node(cfg: Config, data_dir: Path | str | None = None,
              dispatcher: Dispatcher | None = None) -> tuple[Node, HistoryReport]:
    """Take ownership of the data directory and run a node with no consumers but the
    history store (offline admin commands, tests); call on the event loop. Raises
    JournalLocked if a server holds it."""
    journal = open_journal(cfg, data_dir)
    journal.ownership.acquire()
    try:
        projection = open_projection(cfg, data_dir)
        report = recover_owned(journal, cfg, projection)
        node = start_node(cfg, journal, report, projection, dispatcher or Dispatcher([]),
                          asyncio.get_running_loop())
    except BaseException:
        journal.ownership.release()
        raise
    return node, report
