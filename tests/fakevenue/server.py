"""The HTTP side shared by every fake venue: request log, injected faults and the ``/_fake/`` control API.

A venue dialect (``binance.py``, ``okx.py``) subclasses :class:`FakeVenue`, declares its markets and
routes and renders :class:`~tests.fakevenue.book.Reject` in its own error format. Everything under
``/_fake/`` is for tests only and is reachable over HTTP, so another process can drive the venue:

- ``POST /_fake/accounts`` ``{"key", "secret", "passphrase"?, "balances": {"USDT": "1000"}}``
- ``POST /_fake/fill`` ``{"order_id": 1000, "qty"?: "0.1", "maker"?: true}`` -> the trade
- ``POST /_fake/fail_next`` ``{"path", "method"?, "mode", "count"?, "status"?, "body"?, "seconds"?}``;
  ``mode`` is ``error`` (answer ``status``/``body`` instead), ``hang_before`` (wait ``seconds``, then
  answer the error without applying), ``hang_after`` (apply, then wait before answering: the
  unknown-outcome case), ``drop`` (close the connection without applying) or ``drop_after``.
- ``GET /_fake/requests`` (``DELETE`` clears it), ``GET /_fake/orders``, ``GET /_fake/balances?key=``
- ``POST /_fake/markets`` ``{"symbol", "tick"?, "step"?, "min_qty"?, "min_notional"?}``: change a
  filter (venues do, and a client with cached markets then sends prices the venue refuses).
- ``POST /_fake/book`` ``{"symbol": "BTCUSDT", "bids": [["29990", "1.5"], ...], "asks": [...]}``: replace
  the synthetic resting levels of other participants (merged with the accounts' open orders in the
  venue's depth; Binance: ``/api/v3/depth``, the diff depth stream and the ticker's bid/ask) -> the
  merged book ``{"bids", "asks"}``.
- ``POST /_fake/trade`` ``{"symbol", "price", "qty", "side": "buy"|"sell", "time"?: ms}``: a public
  trade between others (``side`` is the taker's; ``time`` lays out history, default now) -> the trade.
  It is in the public trades and klines (Binance REST and streams), never in an account's trades.
- Streams (``binance_ws.py``, ``okx_ws.py``): ``POST /_fake/ws`` ``{"down": true|false}`` aborts every open
  websocket (no close frame) and refuses upgrades with HTTP 503 while down; ``GET /_fake/ws`` ->
  ``{"down", "open": n, "connections": {path: n}, "subscriptions": {path: n}, "streams": {path: [...]}}``
  (OKX adds ``logins`` and ``close_on_failed_login``, also settable there).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any, ClassVar

from aiohttp import web

from tests.fakevenue.book import Account, Book, Market, Order, Reject, Trade

Handler = Any  # an aiohttp handler: async (web.Request) -> web.StreamResponse


@dataclass
class Fault:
    path: str
    mode: str
    count: int = 1
    method: str | None = None
    status: int = 503
    body: str = '{"error": "injected"}'
    seconds: float = 5.0

    MODES: ClassVar[tuple[str, ...]] = ("error", "hang_before", "hang_after", "drop", "drop_after")


def dec(value: Decimal) -> str:
    """A decimal as a plain string without exponent or trailing zeros (``"700"``, ``"0.004"``)."""
    return format(value.normalize(), "f") if value else "0"


def plain(obj: Any) -> Any:
    """JSON-ready copy of book objects: Decimals become strings (:func:`dec`), never floats."""
    if isinstance(obj, Order | Trade | Market):
        return plain(asdict(obj))
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [plain(v) for v in obj]
    return dec(obj) if isinstance(obj, Decimal) else obj


class FakeVenue:
    """Base of a venue dialect: owns the :class:`Book`, the request log and the fault plan."""

    kind: ClassVar[str] = ""

    def __init__(self, markets: dict[str, Market] | None = None) -> None:
        self.book = Book(markets or self.default_markets())
        self.faults: list[Fault] = []
        self.seen: list[dict[str, Any]] = []

    # -- what a dialect provides -------------------------------------------------------------
    def default_markets(self) -> dict[str, Market]:
        raise NotImplementedError

    def routes(self) -> list[web.RouteDef]:
        raise NotImplementedError

    def reject(self, exc: Reject) -> web.Response:
        raise NotImplementedError

    def account(self, key: str) -> Account | None:
        return self.book.accounts.get(key)

    # -- the application ---------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app.add_routes(self.routes())
        app.add_routes([
            web.post("/_fake/accounts", self._add_account),
            web.post("/_fake/fill", self._fill),
            web.post("/_fake/fail_next", self._fail_next),
            web.get("/_fake/requests", self._requests),
            web.delete("/_fake/requests", self._clear_requests),
            web.get("/_fake/orders", self._orders),
            web.get("/_fake/balances", self._balances),
            web.post("/_fake/markets", self._set_market),
            web.post("/_fake/book", self._set_book),
            web.post("/_fake/trade", self._public_trade),
        ])
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/_fake/"):
            try:
                return await handler(request)  # type: ignore[no-any-return]
            except Reject as exc:
                return web.json_response({"error": str(exc)}, status=400)
        self.seen.append({"method": request.method, "url": str(request.url), "path": request.path,
                          "query": dict(request.query), "headers": dict(request.headers),
                          "body": await request.text(), "time": time.time()})
        fault = self._take_fault(request)
        if fault is None or fault.mode == "error":
            return await self._apply(request, handler) if fault is None else self._fault_response(fault)
        if fault.mode == "hang_before":
            await asyncio.sleep(fault.seconds)
            return self._fault_response(fault)
        if fault.mode == "drop":
            return self._drop(request)
        response = await self._apply(request, handler)
        if fault.mode == "drop_after":
            return self._drop(request)
        await asyncio.sleep(fault.seconds)
        return response

    async def _apply(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)  # type: ignore[no-any-return]
        except Reject as exc:
            return self.reject(exc)

    def _take_fault(self, request: web.Request) -> Fault | None:
        for fault in self.faults:
            if fault.path == request.path and fault.method in (None, request.method):
                fault.count -= 1
                if fault.count <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    @staticmethod
    def _fault_response(fault: Fault) -> web.Response:
        return web.Response(status=fault.status, text=fault.body, content_type="application/json")

    @staticmethod
    def _drop(request: web.Request) -> web.Response:
        if request.transport is not None:
            request.transport.abort()  # RST, no response bytes at all
        return web.Response(status=500)  # never reaches the client

    # -- control handlers --------------------------------------------------------------------
    async def _add_account(self, request: web.Request) -> web.Response:
        spec = await request.json()
        self.book.add_account(spec["key"], spec["secret"], spec.get("passphrase", ""), spec.get("balances"))
        return web.json_response({"key": spec["key"]})

    async def _fill(self, request: web.Request) -> web.Response:
        spec = await request.json()
        qty = spec.get("qty")
        trade = self.book.fill(int(spec["order_id"]), None if qty is None else Decimal(qty),
                               maker=spec.get("maker", True))
        return web.json_response(plain(trade))

    async def _fail_next(self, request: web.Request) -> web.Response:
        fault = Fault(**await request.json())
        if fault.mode not in Fault.MODES:
            raise Reject("control", f"mode must be one of {Fault.MODES}")
        self.faults.append(fault)
        return web.json_response(asdict(fault))

    async def _requests(self, request: web.Request) -> web.Response:
        return web.json_response(self.seen)

    async def _clear_requests(self, request: web.Request) -> web.Response:
        self.seen.clear()
        return web.json_response([])

    async def _orders(self, request: web.Request) -> web.Response:
        key = request.query.get("key")
        return web.json_response([plain(o) for o in self.book.orders.values() if key in (None, o.key)])

    async def _balances(self, request: web.Request) -> web.Response:
        account = self.book.accounts[request.query["key"]]
        zero = Decimal(0)
        return web.json_response({asset: {"free": dec(account.free.get(asset, zero)),
                                          "locked": dec(account.locked.get(asset, zero))}
                                  for asset in account.assets()})

    async def _set_market(self, request: web.Request) -> web.Response:
        spec = await request.json()
        market = self.book.market(spec.pop("symbol"))
        for name, value in spec.items():
            setattr(market, name, Decimal(value))
        return web.json_response(plain(market))

    async def _set_book(self, request: web.Request) -> web.Response:
        spec = await request.json()
        symbol = spec["symbol"]
        self.book.set_levels(symbol, *([(Decimal(p), Decimal(q)) for p, q in spec.get(side, [])]
                                       for side in ("bids", "asks")))
        bids, asks = self.book.depth(symbol)
        return web.json_response({"bids": [[dec(p), dec(q)] for p, q in bids],
                                  "asks": [[dec(p), dec(q)] for p, q in asks]})

    async def _public_trade(self, request: web.Request) -> web.Response:
        spec = await request.json()
        time_ms = spec.get("time")
        trade = self.book.public_trade(spec["symbol"], Decimal(spec["price"]), Decimal(spec["qty"]),
                                       spec.get("side", "buy"), None if time_ms is None else int(time_ms))
        return web.json_response(plain(trade))
