"""Server wiring: the node, the transports, the admin endpoint, start-up and shutdown.

``ceres serve`` runs :func:`serve`. Start-up: lock and recover the data directory,
bootstrap the demo product on first start, listen on the configured ports (0 picks a
free port), write ``DATA_DIR/server.json`` (actual ports and pid: the readiness marker)
and ``DATA_DIR/admin.json`` (admin port and bearer token, mode 0600), print a banner.
Shutdown on SIGINT/SIGTERM: stop listening, drain the journal, final snapshot, unlock.
A journal failure stops the server with exit status 3.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import signal
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable

from aiohttp import web
from picows import ws_create_server

from ceres.admin import AdminOps
from ceres.pipeline.clock import wall_ms
from ceres.domain import commands as C
from ceres.config import Config
from ceres.domain.errors import CeresError, ErrorCode
from ceres.gcpolicy import tune_gc
from ceres.market.data import MarketData
from ceres.market.rest import MarketRest
from ceres.market.simulator import Simulator
from ceres.market.ws import MarketServer
from ceres.pipeline.node import Node
from ceres.store.sqlite import SqliteReader
from ceres.wire import codec
from ceres.gateway.auth import Authenticator
from ceres.gateway.handlers import Handlers
from ceres.gateway.http import RestApi, envelope_response, error_response, make_app
from ceres.gateway.metrics import Metrics
from ceres.gateway.notices import Notifier
from ceres.gateway.ratelimit import RateLimiter
from ceres.wire.ws import Registry
from ceres.gateway.ws_trade import TradeServer

log = logging.getLogger("ceres.server")
ADMIN_FILE = "admin.json"
SERVER_FILE = "server.json"
DEMO_FILE = "demo-credentials.json"
EXIT_JOURNAL_FAILURE = 3
WS_READ_BUFFER = 1024
WS_FRAME_CAP = 1 << 20


def write_private(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
    os.replace(tmp, path)


@dataclass
class Listening:
    http: int = 0
    trade_ws: int = 0
    notify_ws: int = 0
    market_ws: int = 0
    admin: int = 0
    extra: dict[str, int] = field(default_factory=dict)


class Server:
    def __init__(self, cfg: Config, *, simulator: bool | None = None,
                 banner: Callable[[str], None] = print) -> None:
        self.cfg = cfg
        self.simulate = cfg.simulator.enabled if simulator is None else simulator
        self.banner = banner
        self.node = Node(cfg)
        self.stop_event = asyncio.Event()
        self.exit_code = 0
        self.ports = Listening()
        self.registry = Registry()
        self._runners: list[web.AppRunner] = []
        self._ws_servers: list[asyncio.AbstractServer] = []
        self.metrics: Metrics | None = None
        self.handlers: Handlers | None = None
        self.market: MarketData | None = None
        self.notifier: Notifier | None = None
        self.simulator: Simulator | None = None
        self._timer: asyncio.Task | None = None
        self._advertised = False

    # --- start ---------------------------------------------------------------------------
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        cfg = self.cfg
        report = self.node.open(loop)
        rec = report.recovery
        log.info("recovered seq %d (snapshot %s, %d records replayed)", rec.last_seq,
                 rec.snapshot_seq, rec.replayed)
        node = self.node
        node.sequencer.on_fatal = self._fatal
        demo = await self._bootstrap_demo()
        tune_gc()
        reader = SqliteReader(node.projection_path)
        auth = Authenticator(node.engine.keys, window_ms=cfg.auth.timestamp_window_ms,
                             require_timestamp=cfg.auth.require_timestamp)
        self.metrics = metrics = Metrics(node, self.registry)
        self.handlers = handlers = Handlers(node.engine, node.sequencer, reader, tz=cfg.tz,
                                            base_currency=cfg.server.base_currency,
                                            max_order_query=cfg.limits.max_order_query)
        host = cfg.server.host
        lim = cfg.limits
        limiter = RateLimiter(lim.requests_per_second, lim.burst or 2 * lim.requests_per_second)
        rest = RestApi(handlers, auth, max_body=lim.max_body_bytes, on_reject=metrics.reject, limiter=limiter)
        app = make_app(cfg.limits.max_body_bytes)
        app.add_routes(rest.routes())
        app.add_routes([web.get("/health", self._health), web.get("/metrics", self._metrics),
                        web.get("/", self._console_file("index.html", "text/html")),
                        web.get("/console.js", self._console_file("console.js", "text/javascript")),
                        web.get("/console/config.json", self._console_config)])
        self.market = market = MarketData(node.engine, push_interval_ms=cfg.market.push_interval_ms)
        market.load(reader)
        handlers.last_price = market.last_price  # account rows' market_value
        unsent = cfg.limits.max_unsent_kib << 10
        self.notifier = notifier = Notifier(auth, self.registry, tz=cfg.tz, now_ms=wall_ms,
                                            retention=cfg.market.notice_retention, max_buffer=unsent)
        node.sequencer.listeners += [notifier.on_batch, market.on_batch, handlers.recent.on_batch]
        app.add_routes(MarketRest(market, reader, node.sequencer.projection_caught_up).routes())
        metrics.gauges["notices_sent_total"] = lambda: notifier.sent
        metrics.gauges["market_pushes_total"] = lambda: market.pushes
        self.ports.http = await self._serve_app(app, host, cfg.server.http_port)
        trade = TradeServer(handlers, auth, self.registry, now_ms=wall_ms,
                            max_message=cfg.limits.max_body_bytes, max_buffer=unsent,
                            on_reject=metrics.reject, limiter=limiter)
        self.ports.trade_ws = await self._serve_ws(trade.factory, host, cfg.server.trade_ws_port,
                                                   cfg.limits.max_body_bytes)
        admin_token = secrets.token_urlsafe(32)
        admin_app = web.Application(client_max_size=cfg.limits.max_body_bytes)
        admin_app.add_routes([web.post("/admin/{op}", self._admin_handler(admin_token))])
        self.ports.admin = await self._serve_app(admin_app, "127.0.0.1", cfg.server.admin_port)
        self.ports.notify_ws = await self._serve_ws(notifier.factory, host, cfg.server.notify_ws_port,
                                                    cfg.limits.max_body_bytes)
        market_ws = MarketServer(market, self.registry, max_buffer=unsent)
        self.ports.market_ws = await self._serve_ws(market_ws.factory, host, cfg.server.market_ws_port,
                                                    cfg.limits.max_body_bytes)
        market.start()
        if self.simulate:
            self.simulator = Simulator.from_config(node.engine, node.submit, cfg.simulator)
            await self.simulator.start()
        self._timer = asyncio.create_task(self._time_events())
        root = node.data_dir.root
        self._advertised = True
        write_private(root / ADMIN_FILE, {"port": self.ports.admin, "token": admin_token})
        write_private(root / SERVER_FILE, {"pid": os.getpid(), "host": host, "http": self.ports.http,
                                           "trade_ws": self.ports.trade_ws,
                                           "notify_ws": self.ports.notify_ws,
                                           "market_ws": self.ports.market_ws,
                                           "admin": self.ports.admin})
        self._print_banner(demo)

    async def _serve_app(self, app: web.Application, host: str, port: int) -> int:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runners.append(runner)
        return runner.addresses[0][1]

    async def _serve_ws(self, factory: Any, host: str, port: int, max_message: int) -> int:
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
        self._ws_servers.append(server)
        return server.sockets[0].getsockname()[1]

    async def _time_events(self, period: float = 1.0) -> None:
        """Submit a journaled Tick when funding or an expiry is due (engine.next_due)."""
        engine = self.node.engine
        while True:
            await asyncio.sleep(period)
            due = engine.next_due()
            if due is not None and due <= wall_ms() and self.node.sequencer.failed is None:
                try:
                    await self.node.submit(C.Tick())
                except CeresError as err:
                    log.warning("tick refused: %s", err)

    # --- demo ----------------------------------------------------------------------------
    async def _bootstrap_demo(self) -> dict | None:
        demo = self.cfg.demo
        path = self.node.data_dir.root / DEMO_FILE
        engine = self.node.engine
        if not demo.enabled:
            return None
        if demo.product in engine.products:
            if path.exists():
                return {**json.loads(path.read_text()), "first": False}
            return None
        ops = AdminOps(engine, self.node.submit)
        await ops.create_product(demo.product)
        cred = await ops.create_key(demo.product, "read,trade")
        exchange = next(iter(sorted(engine.exchanges)), "TEST")
        for funds, account_type in ((demo.funds, 3), (demo.contract_funds, 4)):
            for currency, amount in funds.items():
                await ops.deposit(demo.product, currency, amount)
                await ops.transfer(demo.product, currency, amount, 2, account_type, exchange)
        write_private(path, {"product": demo.product, "api_key": cred["api_key"], "secret": cred["secret"]})
        return {**cred, "first": True}

    def _print_banner(self, demo: dict | None) -> None:
        host = self.cfg.server.host
        p = self.ports
        lines = [
            f"Ceres is running (data in {self.node.data_dir.root})",
            f"  REST       http://{host}:{p.http}/api/v1/   health: http://{host}:{p.http}/health",
            f"  trade WS   ws://{host}:{p.trade_ws}/",
        ]
        if p.notify_ws:
            lines.append(f"  notices WS ws://{host}:{p.notify_ws}/")
        if p.market_ws:
            lines.append(f"  market WS  ws://{host}:{p.market_ws}/")
        lines.append(f"  admin      http://127.0.0.1:{p.admin}/ (token in {self.node.data_dir.root / ADMIN_FILE})")
        if demo is not None:
            if demo.get("first"):
                lines += [
                    f"Demo product {demo['product']!r} created and funded on TEST:",
                    f"  api_key {demo['api_key']}",
                    f"  secret  {demo['secret']}",
                ]
            else:
                lines.append(f"Demo api_key {demo['api_key']} (secret in "
                             f"{self.node.data_dir.root / DEMO_FILE})")
            secret = demo["secret"] if demo.get("first") else "$SECRET"
            lines.append(
                f"Try it:  curl -H 'api_key: {demo['api_key']}' -H \"sign: $(printf 'exchange=TEST&secret=%s' "
                f"{secret} | sha256sum | cut -d' ' -f1)\" 'http://{host}:{p.http}/api/v1/basic/contracts?exchange=TEST'")
        self.banner("\n".join(lines))

    # --- HTTP extras --------------------------------------------------------------------
    async def _health(self, request: web.Request) -> web.Response:
        seq = self.node.sequencer
        body = {"status": "ok" if seq.failed is None else "failed", "seq": seq.seq,
                "durable_seq": seq.durable_seq, "journal_lag": seq.seq - seq.durable_seq,
                "projected_seq": seq.projected_seq, "connections": self.registry.count}
        return web.json_response(body, status=200 if seq.failed is None else 503)

    @staticmethod
    def _console_file(name: str, content_type: str) -> Callable:
        body = resources.files("ceres").joinpath(f"web/{name}").read_bytes()

        async def handle(request: web.Request) -> web.Response:
            return web.Response(body=body, content_type=content_type)

        return handle

    async def _console_config(self, request: web.Request) -> web.Response:
        """The browser console's socket ports (public information)."""
        p = self.ports
        return web.json_response({"trade_ws": p.trade_ws, "notify_ws": p.notify_ws, "market_ws": p.market_ws})

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(text=self.metrics.render(), content_type="text/plain")

    def _admin_handler(self, token: str) -> Callable:
        ops = AdminOps(self.node.engine, self.node.submit)

        async def handle(request: web.Request) -> web.Response:
            if not secrets.compare_digest(request.headers.get("Authorization", ""), f"Bearer {token}"):
                return error_response(CeresError(ErrorCode.AUTH_BAD_SIGN, "bad admin token"))
            try:
                args = codec.decode_json_object(await request.read() or b"{}")
                result = await ops.call(request.match_info["op"], args)
            except CeresError as err:
                return error_response(err)
            if request.match_info["op"] == "revoke_key":
                closed = self.registry.close_key(args["api_key"])
                result = {**result, "connections_closed": closed}
            return envelope_response(codec.ok(result))

        return handle

    # --- stop ----------------------------------------------------------------------------
    def _fatal(self, exc: BaseException) -> None:
        self.exit_code = EXIT_JOURNAL_FAILURE
        self.stop_event.set()

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self.simulator is not None:
            await self.simulator.stop()
        if self.market is not None:
            await self.market.stop()
        for server in self._ws_servers:
            server.close()
        for conns in list(self.registry.by_key.values()):
            for c in list(conns):
                c.close()
        for runner in self._runners:
            await runner.cleanup()
        await self.node.close()
        if self._advertised:  # never remove another process's files (e.g. after a lock refusal)
            for name in (SERVER_FILE, ADMIN_FILE):
                (self.node.data_dir.root / name).unlink(missing_ok=True)


async def serve(cfg: Config, *, simulator: bool | None = None) -> int:
    server = Server(cfg, simulator=simulator)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, server.stop_event.set)
    try:
        await server.start()
    except BaseException:
        await server.stop()  # release what was opened (journal threads, lock) before failing
        raise
    await server.stop_event.wait()
    log.info("shutting down")
    await server.stop()
    return server.exit_code
