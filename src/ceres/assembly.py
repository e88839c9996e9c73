"""How the parts are put together from the configuration, for the server, the CLI and
tools: the journal backend ``[journal] backend`` names, the engine factory, the history
store ``[store] backend`` names (its writer and its reader), and an offline node (the
CLI's admin commands with the server stopped).

A journal backend is a package ``ceres.journal.<name>`` with a ``from_config(settings,
data_root)`` function; naming it in the configuration is all it takes to use it.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ceres.config import Config
from ceres.domain import commands as C
from ceres.domain.secret import SealedSecret, Secret
from ceres.engine.core import Engine
from ceres.engine.venue_keys import seal_context
from ceres.gateway.venue_admin import VenueAdmin
from ceres.pipeline.background import BackgroundWriter
from ceres.pipeline.dispatch import Dispatcher
from ceres.pipeline.journal import Journal
from ceres.pipeline.node import Node
from ceres.pipeline.recovery import HistoryReport, recover_with_history
from ceres.store.projection import Projection
from ceres.store.queries import HistoryQueries
from ceres.store.sqlite import SqliteProjection, SqliteReader
from ceres.venues.live.names import CLOSED

log = logging.getLogger("ceres.node")
PROJECTION_FILE = "ceres.db"
PROJECTION_GATHER_MS = 5  # the projection writes at most every ~5 ms: larger transactions


def open_journal(cfg: Config, data_dir: Path | str | None = None) -> Journal:
    """The configured journal backend for ``data_dir`` (default: the configured one)."""
    module = importlib.import_module(f"ceres.journal.{cfg.journal.backend}")
    journal: Journal = module.from_config(cfg.journal, Path(data_dir) if data_dir is not None else cfg.data_path)
    return journal


def venue_admin(cfg: Config, engine: Engine, submit: Callable[[C.Command], Awaitable[Any]],
                seal: Callable[[str, str], SealedSecret]) -> VenueAdmin:
    """The ``ceres venues`` operations: keys for the enabled ``[venues.NAME]`` exchanges,
    checked at the venue (its ``rest_url``, sandbox and timeout) before they are stored."""
    venues = cfg.live_venues()

    async def check(exchange: str, api_key: str, secret: str, password: str | None) -> tuple[bool | None, str]:
        from ceres.venues.live.keycheck import check_key  # ccxt is imported only when a key is checked

        v = venues[exchange]
        return await check_key(exchange, api_key, secret, password, rest_url=v.rest_url, sandbox=v.sandbox,
                               timeout_ms=v.timeout_ms)

    return VenueAdmin(engine, submit, seal, enabled=frozenset(venues), closed=CLOSED, check=check)


async def live_venues(cfg: Config, engine: Engine, unseal: Callable[[str, SealedSecret], Secret],
                      submit: Callable[[C.Command], Awaitable[Any]], *, front: bool = False) -> list[Any]:
    """A started ``venues.live.LiveVenue`` per enabled ``[venues.NAME]`` (markets loading; a
    venue that does not answer is retried in the background). Each reads a product's key
    from the engine and unseals it when it needs it. ``front``: a cluster gateway's, which
    journals intents and leaves sending them to the leading engine's desks."""
    enabled = cfg.live_venues()
    if not enabled:
        return []
    from ceres.venues.live.venue import Credentials, LiveVenue, Settings  # imports ccxt: only when used

    def credentials(exchange: str) -> Callable[[str], Credentials | None]:
        def of(product: str) -> Credentials | None:
            p = engine.products.get(product)
            key = p.venue_keys.get(exchange) if p is not None else None
            if key is None or not isinstance(key.secret, SealedSecret):
                return None
            password = key.password
            return Credentials(key.api_key, unseal(seal_context(product, exchange, "secret"), key.secret).reveal(),
                               unseal(seal_context(product, exchange, "password"), password).reveal()
                               if isinstance(password, SealedSecret) else None)
        return of

    venues = [LiveVenue(name, Settings(v.rest_url, v.sandbox, v.timeout_ms, v.ws_url, v.mode == "paper", v.paper_fee,
                                          v.contracts),
                        credentials(name), engine, submit, poll_s=v.poll_ms / 1000, front=front)
              for name, v in enabled.items()]
    await asyncio.gather(*(v.start() for v in venues))
    return venues


def engine_factory(cfg: Config) -> Callable[[], Engine]:
    instruments = cfg.build_instruments()
    return lambda: Engine(instruments, cfg.currencies)


def projection_path(cfg: Config, data_dir: Path | str | None = None) -> Path:
    return (Path(data_dir) if data_dir is not None else cfg.data_path) / PROJECTION_FILE


def open_projection(cfg: Config, data_dir: Path | str | None = None) -> Projection:
    """The configured history store's writer (``[store] backend``); SQLite keeps it in
    ``data_dir`` (default: the configured one)."""
    kw: dict[str, Any] = {"skip_products": frozenset({cfg.simulator.product}),
                          "trade_retention_ms": cfg.market.trade_retention_days * 86_400_000,
                          "notice_retention": cfg.market.notice_retention}
    if cfg.store.backend == "postgres":
        from ceres.store.postgres import PostgresProjection  # psycopg is imported only when configured

        return PostgresProjection(cfg.store.dsn, cfg.store.schema, **kw)
    return SqliteProjection(projection_path(cfg, data_dir), **kw)


def open_history(cfg: Config, data_dir: Path | str | None = None) -> HistoryQueries:
    """The configured history store's reader, for the event-loop thread."""
    if cfg.store.backend == "postgres":
        from ceres.store.postgres import PostgresReader

        return PostgresReader(cfg.store.dsn, cfg.store.schema)
    return SqliteReader(projection_path(cfg, data_dir))


def recover_owned(journal: Journal, cfg: Config, projection: Projection, *,
                  progress: Callable[[int, int], None] | None = None) -> HistoryReport:
    """With ownership of ``journal`` held: recover the engine and catch the history store
    up, logging what was found. The projection's connection is closed afterwards (SQLite
    connections belong to a thread; from now on only the background thread writes, on a
    connection of its own)."""
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


def start_node(cfg: Config, journal: Journal, report: HistoryReport, projection: Projection,
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
