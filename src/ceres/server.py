"""``ceres serve``: every part built in start-up order, each given what it needs.

:func:`start` reads top to bottom: own and recover the journal, build the consumers of
durable events, start the node, bootstrap the demo, build the venues and the handlers,
listen on the configured ports (0 picks a free port), start the background tasks, and
advertise: ``DATA_DIR/server.json`` (ports, scheme and pid: the readiness marker) and
``DATA_DIR/admin.json`` (admin port and bearer token, mode 0600). Every step registers
its undoing on an exit stack, so shutdown (SIGINT/SIGTERM), and a start-up that fails
half-way, release what was opened in reverse order: stop background tasks and
listeners, drain the journal and write a final snapshot, release the data directory,
withdraw the advertisement. A journal failure (or an engine fault) stops the server
with exit status 3. With ``[tls]`` set, every public port speaks TLS (the admin port,
127.0.0.1 only, stays plain); ``[security]`` decides the Origin allowlist of the
WebSocket ports and, with the strict profile, timestamps for every key.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import secrets
import signal
import ssl
import sys
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from aiohttp import web

from ceres.assembly import (
    live_venues,
    open_history,
    open_journal,
    open_projection,
    recover_owned,
    start_node,
    venue_admin,
)
from ceres.config import Config, LimitsConfig
from ceres.demo import ADMIN_FILE, banner, bootstrap_demo, write_private
from ceres.domain import commands as C
from ceres.domain.errors import CeresError
from ceres.engine.core import Engine
from ceres.gateway.admin import AdminOps
from ceres.gateway.auth import Authenticator
from ceres.gateway.handlers import Handlers
from ceres.gateway.http import RestApi, envelope_errors, make_app
from ceres.gateway.metrics import Metrics
from ceres.gateway.notices import Notifier
from ceres.gateway.ratelimit import RateLimiter
from ceres.gateway.recent import RecentOrders
from ceres.gateway.rest_transport import guard, rest_conns
from ceres.gateway.service import admin_routes, service_routes
from ceres.gateway.ws_trade import TradeServer
from ceres.gcpolicy import tune_gc
from ceres.keystore import OpenKeys, open_keys, plain_keys
from ceres.market.data import MarketData
from ceres.market.live import LiveTopics
from ceres.market.rest import MarketRest
from ceres.market.simulator import Simulator
from ceres.market.ws import MarketServer
from ceres.pipeline.clock import wall_ms
from ceres.pipeline.dispatch import Dispatcher
from ceres.pipeline.node import Node
from ceres.pipeline.venue import VenueDriver, VenueRegistry
from ceres.venues.live.names import CLOSED
from ceres.venues.simulated import ReportFeed, SimulatedVenue
from ceres.wire import faults, ws_server
from ceres.wire.accept import Listener
from ceres.wire.conn import UpgradeConn
from ceres.wire.fdbudget import FD_RESERVE, connection_capacity, open_fds, raise_nofile_limit
from ceres.wire.limits import ConnectionLimits
from ceres.wire.origin import OriginPolicy, origin_guard
from ceres.wire.tls import server_context, tls_connect
from ceres.wire.ws import Registry

log = logging.getLogger("ceres.server")
SERVER_FILE = "server.json"
EXIT_JOURNAL_FAILURE = 3
WS_READ_BUFFER = 1024
WS_FRAME_CAP = 1 << 20
TICK_PERIOD_S = 0.25


class Running:
    """What a started server exposes: its ports, and how it ends."""

    def __init__(self, stopping: asyncio.Event) -> None:
        self.stopping = stopping
        self.exit_code = 0
        self.advertised = False
        self.role = "all"
        self.admin_token = ""
        self.ports = {"http": 0, "trade_ws": 0, "notify_ws": 0, "market_ws": 0, "admin": 0}

    def fatal(self, exc: BaseException) -> None:
        """The journal (or the engine) failed: stop with exit status 3."""
        self.exit_code = EXIT_JOURNAL_FAILURE
        self.stopping.set()


class Consumers:
    """What consumes durable events in a process with client ports (the single server, a
    gateway): built before the node or replica that feeds them (``dispatcher``)."""

    def __init__(self, cfg: Config, engine: Engine, sealing: OpenKeys, history: Any) -> None:
        lim = cfg.limits
        self.history = history
        self.limits = ConnectionLimits(max_per_ip=lim.max_connections_per_ip, max_per_key=lim.max_connections_per_key)
        self.registry = Registry(self.limits, drop_timeout=lim.drop_timeout_ms / 1000)
        self.auth = Authenticator(engine.keys, unseal=sealing.keys.unseal, window_ms=cfg.auth.timestamp_window_ms,
                                  require_timestamp=cfg.require_timestamp, strict_replay=cfg.strict)
        self.market = MarketData(engine, push_interval_ms=cfg.market.push_interval_ms)
        self.market.load(history)
        retention = cfg.market.notice_retention
        self.notifier = Notifier(self.auth, self.registry, tz=cfg.tz, now_ms=wall_ms, retention=retention,
                                 max_buffer=lim.max_unsent_kib << 10,
                                 stored=history.recent_notices(retention, engine.instruments))
        self.recent = RecentOrders()
        self.reports = ReportFeed()
        self.venue_driver = VenueDriver()
        self.dispatcher = Dispatcher([self.notifier.subscription(), *self.market.subscriptions(),
                                      self.recent.subscription(), self.reports.subscription(),
                                      self.venue_driver.subscription()])


def prepare(cfg: Config, stopping: asyncio.Event) -> tuple[Running, ssl.SSLContext | None]:
    """Before anything opens: TLS settings checked (TlsConfigError: refuse to start) and the
    descriptor limit raised (connections get what it allows)."""
    tls = server_context(cfg.tls.cert, cfg.tls.key) if cfg.tls.cert else None
    fds_before, fds = raise_nofile_limit()
    if fds != fds_before:
        log.info("file descriptor limit raised from %d to %d", fds_before, fds)
    return Running(stopping), tls


async def start(cfg: Config, stack: contextlib.AsyncExitStack, stopping: asyncio.Event, *,
                simulator: bool | None = None, show: Callable[[str], None] = print) -> Running:
    loop = asyncio.get_running_loop()
    running, tls = prepare(cfg, stopping)

    # 1. own the journal and recover the engine (and the history store) from it
    journal = open_journal(cfg)
    journal.ownership.acquire()
    stack.callback(withdraw, running, cfg)  # runs after the release below
    stack.callback(journal.ownership.release)
    projection = open_projection(cfg)
    report = recover_owned(journal, cfg, projection)
    rec = report.recovery
    engine = rec.engine
    log.info("recovered seq %d from the %s (snapshot %s, %d records replayed)", rec.last_seq,
             journal.describe(), rec.snapshot_seq, rec.replayed)
    sealing = open_keys(cfg, engine)  # KeyringError: no master key, or not this data dir's
    report_keys(sealing, plain_keys(engine))

    # 2. the consumers of durable events
    history = open_history(cfg)
    stack.callback(history.close)
    consumers = Consumers(cfg, engine, sealing, history)

    # 3. the node: sequencer, journal writer, projection and snapshot writer
    node = start_node(cfg, journal, report, projection, consumers.dispatcher, loop, on_fatal=running.fatal)
    stack.push_async_callback(node.close)
    demo = await bootstrap_demo(cfg, engine, node.submit, cfg.data_path, sealing.keys.seal)
    tune_gc()

    # 4.-5. venues, handlers, transports; listen
    live = await live_venues(cfg, engine, sealing.keys.unseal, node.submit)
    for venue in live:
        stack.push_async_callback(venue.close)
        consumers.venue_driver.register(venue.exchange, venue)
    await open_ports(cfg, stack, running, tls, engine, consumers, sealing, node.sequencer, node.writer, node.submit,
                     live)

    # 6. time-driven work: the liquidity simulator, funding and expiries
    await start_leader_tasks(cfg, stack, engine, node, simulator)

    # 7. advertise
    advertise(cfg, running, tls, banner(cfg.server.host, running.ports, cfg.data_path, demo,
                                        show_secret=sys.stdout.isatty(), generated_master=sealing.generated,
                                        tls=tls is not None), show)
    return running


async def open_ports(cfg: Config, stack: contextlib.AsyncExitStack, running: Running, tls: ssl.SSLContext | None,
                     engine: Engine, consumers: Consumers, sealing: OpenKeys, sequencer: Any, writer: Any,
                     submit: Callable[[C.Command], Awaitable[Any]], live: list[Any], *,
                     counters: dict[str, Callable[[], float]] | None = None) -> None:
    """Venues, handlers and transports over ``engine``, changing state through ``submit`` (a
    node's sequencer, or a gateway's forwarder); ``sequencer`` is what reads wait on (the
    sequencer, or a replica). Listens on every public port and the admin port, and starts
    the market pushes."""
    lim, host = cfg.limits, cfg.server.host
    unsent = lim.max_unsent_kib << 10
    c = consumers
    limits, registry, market, history = c.limits, c.registry, c.market, c.history
    venues = VenueRegistry([*(SimulatedVenue(x, engine, submit, c.reports) for x in engine.exchanges), *live],
                           locate=lambda oid: _venue_of(engine, oid), closed=CLOSED)
    handlers = Handlers(engine, venues, history, sequencer.projection_caught_up, c.recent, submit=submit,
                        last_price=market.last_price, tz=cfg.tz, base_currency=cfg.server.base_currency,
                        max_order_query=lim.max_order_query, durable=sequencer.durable_caught_up)
    live_by_name = {v.exchange: v for v in live}
    live_topics = LiveTopics(live_by_name.get, market.now_ms)
    stack.callback(live_topics.close)
    metrics = Metrics(sequencer, writer, engine, registry,
                      gauges={"notices_sent_total": lambda: c.notifier.sent,
                              "market_pushes_total": lambda: market.pushes + live_topics.pushes,
                              "tcp_connections": lambda: limits.total,
                              "connection_capacity": lambda: limits.capacity},
                      counters={"accept_errors_total": lambda: limits.accept_errors,
                                "ws_slow_dropped_total": lambda: registry.dropped, **(counters or {})},
                      internal_errors=faults.FAULTS.counts,
                      venue_health=lambda: {v.exchange: v.health_view() for v in live})
    limits.on_reject = metrics.reject
    request_guard = guard(lim.body_timeout_ms / 1000, metrics.reject)
    limiter = RateLimiter(lim.requests_per_second, lim.burst or 2 * lim.requests_per_second)
    app = make_app(lim.max_body_bytes, request_guard)
    app.add_routes(RestApi(handlers, c.auth, max_body=lim.max_body_bytes, on_reject=metrics.reject,
                           limiter=limiter).routes())
    app.add_routes(MarketRest(market, history, sequencer.projection_caught_up,
                              sequencer.durable_caught_up, live=live_by_name.get).routes())
    app.add_routes(service_routes(sequencer, metrics, registry,
                                  lambda: {k: running.ports[k] for k in ("trade_ws", "notify_ws", "market_ws")}))
    trade = TradeServer(handlers, c.auth, registry, now_ms=wall_ms, max_message=lim.max_body_bytes,
                        max_buffer=unsent, on_reject=metrics.reject, limiter=limiter)
    running.admin_token = secrets.token_urlsafe(32)
    admin_app = web.Application(middlewares=[request_guard, envelope_errors], client_max_size=lim.max_body_bytes)
    admin_ops = AdminOps(engine, submit, sealing.keys.seal, on_revoke=c.auth.forget,
                         on_key_change=lambda key: registry.close_key(key, "api_key settings changed"),
                         require_timestamp_default=cfg.auth.require_timestamp_default,
                         venues=venue_admin(cfg, engine, submit, sealing.keys.seal))
    admin_app.add_routes(admin_routes(admin_ops, registry, running.admin_token))
    market_ws = MarketServer(market, registry, max_buffer=unsent, live=live_topics)
    origins = None if cfg.allowed_origins is None else OriginPolicy(cfg.allowed_origins)
    _log_security(cfg)

    # listen (stopped before the node closes: the stack unwinds in reverse); then the
    # connection capacity: what the descriptors allow once everything is open
    stack.push_async_callback(trade.drain)  # after the connections closed: their cancels on disconnect
    stack.callback(limits.close_all)
    stack.callback(_close_connections, registry)
    ports = running.ports
    srv = cfg.server
    with naming_port("http", srv.http_port):
        ports["http"] = await serve_app(stack, app, host, srv.http_port, limits, lim, tls)
    with naming_port("trade_ws", srv.trade_ws_port):
        ports["trade_ws"] = _serve_ws(stack, origin_guard(trade.factory, origins, metrics.reject), host,
                                      srv.trade_ws_port, limits, lim, tls)
    with naming_port("admin", srv.admin_port):
        ports["admin"] = await serve_app(stack, admin_app, "127.0.0.1", srv.admin_port, limits, lim, None)
    with naming_port("notify_ws", srv.notify_ws_port):
        ports["notify_ws"] = _serve_ws(stack, origin_guard(c.notifier.factory, origins, metrics.reject), host,
                                       srv.notify_ws_port, limits, lim, tls)
    with naming_port("market_ws", srv.market_ws_port):
        ports["market_ws"] = _serve_ws(stack, origin_guard(market_ws.factory, origins, metrics.reject), host,
                                       srv.market_ws_port, limits, lim, tls)
    limits.capacity = connection_capacity(lim.max_connections)
    log.info("connections: at most %d at once (%d open, %d reserved), %d per address, %d per key",
             limits.capacity, open_fds(), FD_RESERVE, limits.max_per_ip, limits.max_per_key)
    if limits.max_per_ip >= limits.capacity:
        log.warning("limits.max_connections_per_ip (%d) is not below the connection capacity (%d): one "
                    "address can take every connection; raise the hard fd limit (ulimit -Hn) or lower it",
                    limits.max_per_ip, limits.capacity)
    market.start(sequencer.durable_caught_up)
    stack.push_async_callback(market.stop)


async def start_leader_tasks(cfg: Config, stack: contextlib.AsyncExitStack, engine: Engine, node: Node,
                             simulator: bool | None) -> None:
    """What only the writer of the journal runs: the liquidity simulator and the journaled
    ticks of funding and expiries."""
    if cfg.simulator.enabled if simulator is None else simulator:
        sim = Simulator.from_config(engine, node.submit, cfg.simulator)
        await sim.start()
        stack.push_async_callback(sim.stop)
    timer = asyncio.create_task(_time_events(engine, node))
    stack.callback(timer.cancel)


def advertise(cfg: Config, running: Running, tls: ssl.SSLContext | None, text: str,
              show: Callable[[str], None]) -> None:
    """``DATA_DIR/admin.json`` (when there is an admin port) and ``DATA_DIR/server.json``
    (the readiness marker), then the banner."""
    ports, root = running.ports, cfg.data_path
    running.advertised = True
    if running.admin_token:
        write_private(root / ADMIN_FILE, {"port": ports["admin"], "token": running.admin_token})
    write_private(root / SERVER_FILE, {"pid": os.getpid(), "host": cfg.server.host,
                                       "scheme": "https" if tls else "http", "role": running.role, **ports})
    show(text)


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


def report_keys(sealing: OpenKeys, plain: list[str]) -> None:
    log.info("API secrets sealed with data key %d; master key %s from %s", sealing.keys.current,
             sealing.master.fingerprint, sealing.master.source)
    if sealing.generated is not None:
        log.info("generated the master key file %s", sealing.generated)
    if plain:
        log.warning("%d API key(s) created before sealing still have their secret in plain text in the "
                    "journal and snapshots: stop the server and run `ceres keys seal`", len(plain))


def _log_security(cfg: Config) -> None:
    origins = cfg.allowed_origins
    log.info("security profile %s: TLS %s; timestamps required %s; WebSocket Origins %s", cfg.security.profile,
             "on" if cfg.tls.cert else "off", "for every key" if cfg.require_timestamp else "per key",
             "any" if origins is None else (", ".join(origins) or "none (browsers refused)"))


def _venue_of(engine: Engine, oid: int) -> str | None:
    order = engine.open_orders.get(oid) or engine.live_orders.get(oid)
    return None if order is None else order.inst.exchange


async def serve_app(stack: contextlib.AsyncExitStack, app: web.Application, host: str, port: int,
                     limits: ConnectionLimits, lim: LimitsConfig, tls: ssl.SSLContext | None) -> int:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    if runner.server is None:  # pragma: no cover - set by setup()
        raise RuntimeError("aiohttp runner without a server")
    conns = rest_conns(runner.server, limits, head_timeout_s=lim.header_timeout_ms / 1000,
                       idle_timeout_s=lim.idle_timeout_ms / 1000, body_timeout_s=lim.body_timeout_ms / 1000,
                       max_header_bytes=lim.max_header_bytes)
    connect: Any = asyncio.get_running_loop().connect_accepted_socket
    if tls is not None:
        connect = tls_connect(connect, tls, lim.header_timeout_ms / 1000)
    return _listen(stack, Listener(limits, conns, connect, name="http"), host, port)


def _serve_ws(stack: contextlib.AsyncExitStack, factory: Any, host: str, port: int, limits: ConnectionLimits,
              lim: LimitsConfig, tls: ssl.SSLContext | None) -> int:
    # The listeners enforce ``max_body_bytes`` themselves (error reply, then close 1009);
    # the frame parser's own cap sits above it so that an oversize single frame reaches
    # them instead of being dropped with a bare 1009. It still bounds the memory one
    # frame can take (a frame past it is closed with 1009 by the parser).
    make = ws_server.protocol_factory(factory, handshake_timeout_s=lim.handshake_timeout_ms / 1000,
                                      ping_interval_s=lim.ws_ping_interval_ms / 1000,
                                      ping_timeout_s=lim.ws_ping_timeout_ms / 1000,
                                      max_frame_size=max(4 * lim.max_body_bytes, WS_FRAME_CAP),
                                      # picows' default 16 KiB read buffer per socket is most of
                                      # an idle connection's memory; it grows on demand
                                      read_buffer_init_size=WS_READ_BUFFER)
    head_s = lim.handshake_timeout_ms / 1000
    connect: Any = ws_server.connect if tls is None else tls_connect(ws_server.connect, tls, head_s)
    listener = Listener(limits, lambda ip: UpgradeConn(limits, ip, head_s, lambda: make(ip), ws_server.check_head),
                        connect, name="ws", sndbuf=lim.ws_send_buffer_kib << 10)
    return _listen(stack, listener, host, port)


def _listen(stack: contextlib.AsyncExitStack, listener: Listener, host: str, port: int) -> int:
    bound = listener.start(host, port)
    stack.callback(listener.close)
    return bound


PORT_OPTIONS = {"http": "http_port", "trade_ws": "trade_ws_port", "notify_ws": "notify_ws_port",
                "market_ws": "market_ws_port", "admin": "admin_port"}


@contextlib.contextmanager
def naming_port(name: str, port: int) -> Iterator[None]:
    """A port already in use is refused with the option that moves it."""
    try:
        yield
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        key = PORT_OPTIONS[name]
        raise OSError(errno.EADDRINUSE, f"port {port} ({name}) is already in use: choose another with "
                      f"--{key.replace('_', '-')} (or [server] {key}), or move all five ports with --port-base N "
                      "(or [server] port_base)") from None


def _close_connections(registry: Registry) -> None:
    for conns in list(registry.by_key.values()):
        for c in list(conns):
            c.close()


def withdraw(running: Running, cfg: Config) -> None:
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
        if due is not None and due <= wall_ms() and node.sequencer.failed is None and node.sequencer.degraded is None:
            try:
                await node.submit(C.Tick())
            except CeresError as err:
                log.warning("tick refused: %s", err)
