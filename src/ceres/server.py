"""``ceres serve``: every part built in start-up order, each given what it needs.

:func:`start` reads top to bottom: own and recover the journal, build the consumers of
durable events, start the node, bootstrap the demo, build the venues and the handlers,
listen on the configured ports (0 picks a free port), start the background tasks, and
advertise: ``DATA_DIR/server.json`` (ports and pid: the readiness marker) and
``DATA_DIR/admin.json`` (admin port and bearer token, mode 0600). Every step registers
its undoing on an exit stack, so shutdown (SIGINT/SIGTERM), and a start-up that fails
half-way, release what was opened in reverse order: stop background tasks and
listeners, drain the journal and write a final snapshot, release the data directory,
withdraw the advertisement. A journal failure (or an engine fault) stops the server
with exit status 3.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
from collections.abc import Callable
from typing import Any

from aiohttp import web
from picows import ws_create_server

from ceres.assembly import open_journal, open_projection, projection_path, recover_owned, start_node
from ceres.config import Config
from ceres.demo import ADMIN_FILE, banner, bootstrap_demo, write_private
from ceres.domain import commands as C
from ceres.domain.errors import CeresError
from ceres.engine.core import Engine
from ceres.gateway.admin import AdminOps
from ceres.gateway.auth import Authenticator
from ceres.gateway.handlers import Handlers
from ceres.gateway.http import RestApi, make_app
from ceres.gateway.metrics import Metrics
from ceres.gateway.notices import Notifier
from ceres.gateway.ratelimit import RateLimiter
from ceres.gateway.recent import RecentOrders
from ceres.gateway.service import admin_routes, service_routes
from ceres.gateway.ws_trade import TradeServer
from ceres.gcpolicy import tune_gc
from ceres.market.data import MarketData
from ceres.market.rest import MarketRest
from ceres.market.simulator import Simulator
from ceres.market.ws import MarketServer
from ceres.pipeline.clock import wall_ms
from ceres.pipeline.dispatch import Dispatcher
from ceres.pipeline.node import Node
from ceres.pipeline.venue import VenueRegistry
from ceres.store.sqlite import SqliteReader
from ceres.venues.simulated import ReportFeed, SimulatedVenue
from ceres.wire.ws import Registry

log = logging.getLogger("ceres.server")
SERVER_FILE = "server.json"
EXIT_JOURNAL_FAILURE = 3
WS_READ_BUFFER = 1024
WS_FRAME_CAP = 1 << 20
TICK_PERIOD_S = 1.0


class Running:
    """What a started server exposes: its ports, and how it ends."""

    def __init__(self, stopping: asyncio.Event) -> None:
        self.stopping = stopping
        self.exit_code = 0
        self.advertised = False
        self.ports = {"http": 0, "trade_ws": 0, "notify_ws": 0, "market_ws": 0, "admin": 0}

    def fatal(self, exc: BaseException) -> None:
        """The journal (or the engine) failed: stop with exit status 3."""
        self.exit_code = EXIT_JOURNAL_FAILURE
        self.stopping.set()


async def start(cfg: Config, stack: contextlib.AsyncExitStack, stopping: asyncio.Event, *,
                simulator: bool | None = None, show: Callable[[str], None] = print) -> Running:
    loop = asyncio.get_running_loop()
    running = Running(stopping)
    lim, host = cfg.limits, cfg.server.host
    unsent = lim.max_unsent_kib << 10
    root = cfg.data_path

    # 1. own the journal and recover the engine (and the history store) from it
    journal = open_journal(cfg)
    journal.ownership.acquire()
    stack.callback(_withdraw, running, cfg)  # runs after the release below
    stack.callback(journal.ownership.release)
    projection = open_projection(cfg)
    report = recover_owned(journal, cfg, projection)
    rec = report.recovery
    engine = rec.engine
    log.info("recovered seq %d from the %s (snapshot %s, %d records replayed)", rec.last_seq,
             journal.describe(), rec.snapshot_seq, rec.replayed)

    # 2. the consumers of durable events
    history = SqliteReader(projection_path(cfg))
    stack.callback(history.close)
    registry = Registry()
    auth = Authenticator(engine.keys, window_ms=cfg.auth.timestamp_window_ms,
                         require_timestamp=cfg.auth.require_timestamp)
    market = MarketData(engine, push_interval_ms=cfg.market.push_interval_ms)
    market.load(history)
    notifier = Notifier(auth, registry, tz=cfg.tz, now_ms=wall_ms, retention=cfg.market.notice_retention,
                        max_buffer=unsent)
    recent = RecentOrders()
    reports = ReportFeed()
    dispatcher = Dispatcher([notifier.subscription(), *market.subscriptions(), recent.subscription(),
                             reports.subscription()])

    # 3. the node: sequencer, journal writer, projection and snapshot writer
    node = start_node(cfg, journal, report, projection, dispatcher, loop, on_fatal=running.fatal)
    stack.push_async_callback(node.close)
    demo = await bootstrap_demo(cfg, engine, node.submit, root)
    tune_gc()

    # 4. venues, handlers, transports
    venues = VenueRegistry([SimulatedVenue(x, engine, node.submit, reports) for x in engine.exchanges],
                           locate=lambda oid: _venue_of(engine, oid))
    handlers = Handlers(engine, venues, history, node.sequencer.projection_caught_up, recent,
                        last_price=market.last_price, tz=cfg.tz, base_currency=cfg.server.base_currency,
                        max_order_query=lim.max_order_query)
    metrics = Metrics(node.sequencer, node.writer, engine, registry,
                      gauges={"notices_sent_total": lambda: notifier.sent,
                              "market_pushes_total": lambda: market.pushes})
    limiter = RateLimiter(lim.requests_per_second, lim.burst or 2 * lim.requests_per_second)
    app = make_app(lim.max_body_bytes)
    app.add_routes(RestApi(handlers, auth, max_body=lim.max_body_bytes, on_reject=metrics.reject,
                           limiter=limiter).routes())
    app.add_routes(MarketRest(market, history, node.sequencer.projection_caught_up).routes())
    app.add_routes(service_routes(node.sequencer, metrics, registry,
                                  lambda: {k: running.ports[k] for k in ("trade_ws", "notify_ws", "market_ws")}))
    trade = TradeServer(handlers, auth, registry, now_ms=wall_ms, max_message=lim.max_body_bytes,
                        max_buffer=unsent, on_reject=metrics.reject, limiter=limiter)
    admin_token = secrets.token_urlsafe(32)
    admin_app = web.Application(client_max_size=lim.max_body_bytes)
    admin_app.add_routes(admin_routes(AdminOps(engine, node.submit), registry, admin_token))
    market_ws = MarketServer(market, registry, max_buffer=unsent)

    # 5. listen (stopped before the node closes: the stack unwinds in reverse)
    stack.callback(_close_connections, registry)
    ports = running.ports
    ports["http"] = await _serve_app(stack, app, host, cfg.server.http_port)
    ports["trade_ws"] = await _serve_ws(stack, trade.factory, host, cfg.server.trade_ws_port, lim.max_body_bytes)
    ports["admin"] = await _serve_app(stack, admin_app, "127.0.0.1", cfg.server.admin_port)
    ports["notify_ws"] = await _serve_ws(stack, notifier.factory, host, cfg.server.notify_ws_port,
                                         lim.max_body_bytes)
    ports["market_ws"] = await _serve_ws(stack, market_ws.factory, host, cfg.server.market_ws_port,
                                         lim.max_body_bytes)

    # 6. background tasks: market pushes, the liquidity simulator, time-driven commands
    market.start()
    stack.push_async_callback(market.stop)
    if cfg.simulator.enabled if simulator is None else simulator:
        sim = Simulator.from_config(engine, node.submit, cfg.simulator)
        await sim.start()
        stack.push_async_callback(sim.stop)
    timer = asyncio.create_task(_time_events(engine, node))
    stack.callback(timer.cancel)

    # 7. advertise
    running.advertised = True
    write_private(root / ADMIN_FILE, {"port": ports["admin"], "token": admin_token})
    write_private(root / SERVER_FILE, {"pid": os.getpid(), "host": host, **ports})
    show(banner(host, ports, root, demo))
    return running


async def serve(cfg: Config, *, simulator: bool | None = None) -> int:
    """Run until SIGINT/SIGTERM (or a journal failure); returns the exit status."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    async with contextlib.AsyncExitStack() as stack:
        running = await start(cfg, stack, stopping, simulator=simulator)
        await stopping.wait()
        log.info("shutting down")
    return running.exit_code


def _venue_of(engine: Engine, oid: int) -> str | None:
    order = engine.open_orders.get(oid)
    return None if order is None else order.inst.exchange


async def _serve_app(stack: contextlib.AsyncExitStack, app: web.Application, host: str, port: int) -> int:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    site = web.TCPSite(runner, host, port)
    await site.start()
    address: tuple[str, int] = runner.addresses[0]
    return address[1]


async def _serve_ws(stack: contextlib.AsyncExitStack, factory: Any, host: str, port: int, max_message: int) -> int:
    # The listeners enforce ``max_message`` themselves (error reply, then close 1009);
    # the frame parser's own cap sits above it so that an oversize single frame reaches
    # them instead of being dropped with a bare 1009. It still bounds the memory one
    # frame can take (a frame past it is closed with 1009 by the parser).
    server = await ws_create_server(factory, host, port,
                                    max_frame_size=max(4 * max_message, WS_FRAME_CAP),
                                    websocket_handshake_timeout=10,
                                    # picows' default 16 KiB read buffer per socket is most of
                                    # an idle connection's memory; it grows on demand
                                    read_buffer_init_size=WS_READ_BUFFER)
    stack.callback(server.close)
    sock_port: int = server.sockets[0].getsockname()[1]
    return sock_port


def _close_connections(registry: Registry) -> None:
    for conns in list(registry.by_key.values()):
        for c in list(conns):
            c.close()


def _withdraw(running: Running, cfg: Config) -> None:
    """Remove this server's advertisement, if it wrote one (never another process's, e.g.
    after being refused the lock)."""
    if running.advertised:
        for name in (SERVER_FILE, ADMIN_FILE):
            (cfg.data_path / name).unlink(missing_ok=True)


async def _time_events(engine: Engine, node: Node, period: float = TICK_PERIOD_S) -> None:
    """Submit a journaled Tick when funding or an expiry is due (engine.next_due)."""
    while True:
        await asyncio.sleep(period)
        due = engine.next_due()
        if due is not None and due <= wall_ms() and node.sequencer.failed is None:
            try:
                await node.submit(C.Tick())
            except CeresError as err:
                log.warning("tick refused: %s", err)
