"""Fake Binance SPOT websockets, served by the same aiohttp app and port as the REST fake, as ccxt.pro
4.5.90 ``binance`` uses them (``ccxt/pro/binance.py``).

- WebSocket API ``/ws-api/v3`` (``urls["api"]["ws"]["ws-api"]["spot"]``): ``authenticate`` for spot
  calls ``ensure_user_data_stream_ws_subscribe_signature``, which sends ``{"id", "method":
  "userDataStream.subscribe.signature", "params": sign_params({})}``: ``apiKey``, ``timestamp`` and
  ``signature`` = hex HMAC-SHA256 of the other parameters sorted by name as ``k=v&...`` (Binance docs
  ``websocket-api`` "Request security" / "user-data-stream-requests"). Checked like a REST request
  (key, signature, recvWindow; same codes). Replies ``{"id", "status": 200, "result":
  {"subscriptionId": N}}`` or ``{"id", "status", "error": {"code", "msg"}}``. Then each change of the
  account's orders is pushed as ``{"subscriptionId": N, "event": {"e": "executionReport", ...}}``
  (``handle_message`` unwraps ``event``): ``x`` = ``NEW`` on placement, ``TRADE`` per fill (``t``, ``l``,
  ``L``, ``n``, ``N``, ``z``, ``Z``, ``Y``, ``m``), ``CANCELED`` on cancel (``C`` = the order's client
  id, ``c`` = the cancel's, as Binance does). Balance events (``outboundAccountPosition``) are not
  pushed. Also served: ``userDataStream.unsubscribe``, ``session.subscriptions``, ``ping`` and
  ``time``; another method gets a -1000 error reply.
- Market streams ``/ws``, ``/ws/<anything>`` (ccxt connects to ``/ws/<stream index>``; a stream name
  there is subscribed, as Binance's raw ``/ws/<stream>``) and ``/stream?streams=a/b`` (events wrapped
  in ``{"stream", "data"}``). ``{"method": "SUBSCRIBE"|"UNSUBSCRIBE", "params": [...], "id"}`` ->
  ``{"result": null, "id"}``; ``LIST_SUBSCRIPTIONS``; an unknown stream or method -> ``{"error":
  {"code": 2, "msg"}, "id"}``. Streams:

  - ``<sym>@trade`` and ``<sym>@aggTrade``: every public trade, the accounts' fills and injected ones.
  - ``<sym>@ticker`` (``24hrTicker``, with best bid/ask) and ``<sym>@miniTicker`` (``24hrMiniTicker``:
    what ``watch_ticker`` subscribes to by default, ``options["watchTickers"]["name"]``;
    ``params={"name": "ticker"}`` picks the full one): after every trade, and once on subscribing
    when the last 24 h had trades.
  - ``<sym>@depth``, ``@depth@100ms``, ``@depth@1000ms``: one ``depthUpdate`` per book change, sent at
    once, ``U = u`` = the update id that ``GET /api/v3/depth`` reports as ``lastUpdateId``. ccxt's
    snapshot-then-diff sync of ``watch_order_book`` needs ``U <= lastUpdateId + 1 <= u`` for the first
    event after the snapshot and ``U == previous u + 1`` after that (else ``ChecksumError``).

  Kline and book-ticker streams are not served.

Like Binance, the server pings every ``ping_seconds`` (20) and answers pings (ccxt pings every
``streaming.keepAlive`` = 180 s). ``POST /_fake/ws {"down": true}`` aborts every open socket (TCP
reset, no close frame) and answers upgrades with HTTP 503 until ``{"down": false}``; ``GET /_fake/ws``
-> ``{"down", "open": n, "connections": {path: n}, "subscriptions": {path: n}, "streams": {path: [...]}}``
(subscriptions count market streams and user data subscriptions).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakevenue.binance import ERRORS, STATUS, Level, num
from tests.fakevenue.binance_futures import BinanceFuturesVenue
from tests.fakevenue.book import Change, Market, Order, Reject, Trade, buyer_is_maker, now_ms
from tests.fakevenue.tape import Stats

STREAM = re.compile(r"([a-z0-9]+)@(trade|aggTrade|ticker|miniTicker|depth(?:@100ms|@1000ms)?)")
TICKERS = ("ticker", "miniTicker")
EXECUTION = {"place": "NEW", "fill": "TRADE", "cancel": "CANCELED", "expire": "EXPIRED"}
ZERO = Decimal(0)


class Socket:
    """One accepted websocket. A single writer task drains ``outbox``, so events keep their order."""

    def __init__(self, ws: web.WebSocketResponse, request: web.Request, *, combined: bool = False) -> None:
        self.ws, self.transport, self.path, self.combined = ws, request.transport, request.path, combined
        self.streams: set[str] = set()  # market streams
        self.users: dict[int, str] = {}  # WebSocket API: subscriptionId -> API key
        self._next_user = 0
        self.outbox: asyncio.Queue[str] = asyncio.Queue()
        self.writer = asyncio.ensure_future(self._write())

    def send(self, message: Any) -> None:
        self.outbox.put_nowait(json.dumps(message))

    def event(self, stream: str, event: dict[str, Any]) -> None:
        self.send({"stream": stream, "data": event} if self.combined else event)

    def add_user(self, key: str) -> int:
        sid, self._next_user = self._next_user, self._next_user + 1
        self.users[sid] = key
        return sid

    async def _write(self) -> None:
        while True:
            text = await self.outbox.get()
            try:
                await self.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return  # the peer is gone; the reading side ends the socket

    def abort(self) -> None:
        """Drop the connection the hard way: a TCP reset, no close frame."""
        if self.transport is not None:
            self.transport.abort()


def execution_report(change: Change) -> dict[str, Any]:
    """The ``executionReport`` of a placement, fill, cancel or expiry (an IOC/FOK's rest), with the
    order's state after it."""
    order, trade, kind = change.order, change.trade, change.kind
    assert order is not None
    qty, price = (trade.qty, trade.price) if trade else (ZERO, ZERO)
    canceled = kind == "cancel"
    return {
        "e": "executionReport", "E": now_ms(), "s": order.symbol,
        "c": f"cancel{order.id}" if canceled else order.client_id, "S": order.side.upper(),
        "o": "LIMIT_MAKER" if order.maker_only else "LIMIT", "f": order.tif, "q": num(order.qty),
        "p": num(order.price), "P": num(ZERO), "F": num(ZERO), "g": -1,
        "C": order.client_id if canceled else "", "x": EXECUTION[kind], "X": STATUS[order.status], "r": "NONE",
        "i": order.id, "l": num(qty), "z": num(order.filled), "L": num(price),
        "n": num(trade.fee) if trade else "0", "N": trade.fee_asset if trade else None,
        "T": trade.time if trade else order.updated, "t": trade.id if trade else -1, "I": order.id * 10,  # I: "ignore"
        "w": order.is_open, "m": trade.maker if trade else False, "M": trade is not None, "O": order.created,
        "Z": num(order.quote_filled), "Y": num(qty * price), "Q": num(ZERO), "W": order.created,
        "V": "EXPIRE_MAKER",
    }


def trade_event(stream: str, trade: Trade) -> dict[str, Any]:
    common = {"E": now_ms(), "s": trade.symbol, "p": num(trade.price), "q": num(trade.qty), "T": trade.time,
              "m": buyer_is_maker(trade), "M": True}
    if stream.endswith("@aggTrade"):
        return {"e": "aggTrade", "a": trade.id, "f": trade.id, "l": trade.id} | common
    return {"e": "trade", "t": trade.id} | common


def levels(pairs: list[Level]) -> list[list[str]]:
    return [[num(p), num(q)] for p, q in pairs]


class BinanceWsVenue(BinanceFuturesVenue):
    """The fake Binance: the spot REST of ``binance.py``, the USDⓈ-M futures REST of ``binance_futures.py``
    and the spot websockets, on the same app."""

    ping_seconds = 20.0

    def __init__(self, markets: dict[str, Market] | None = None) -> None:
        super().__init__(markets)
        self.sockets: list[Socket] = []
        self.down = False
        self.book.listeners.append(self._on_change)  # after the depth counter: depth events go first

    def app(self) -> web.Application:
        app = super().app()
        app.on_shutdown.append(self._abort_all)
        return app

    def routes(self) -> list[web.RouteDef]:
        return [*super().routes(),
                web.get("/ws-api/v3", self.api_socket),
                web.get("/ws", self.market_socket),
                web.get("/ws/{names:.*}", self.market_socket),
                web.get("/stream", self.market_socket),
                web.get("/_fake/ws", self._ws_state),
                web.post("/_fake/ws", self._set_ws)]

    # -- connections -------------------------------------------------------------------------
    async def _accept(self, request: web.Request, combined: bool = False) -> Socket | None:
        if self.down:
            return None
        ws = web.WebSocketResponse(heartbeat=self.ping_seconds)
        await ws.prepare(request)
        sock = Socket(ws, request, combined=combined)
        self.sockets.append(sock)
        return sock

    async def _serve(self, sock: Socket, handle: Callable[[Socket, Any], None]) -> None:
        try:
            async for message in sock.ws:
                if message.type == WSMsgType.TEXT:
                    try:
                        request = json.loads(message.data)
                    except ValueError:
                        request = None
                    handle(sock, request)
        finally:
            if sock in self.sockets:
                self.sockets.remove(sock)
            sock.writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sock.writer

    @staticmethod
    def _refused() -> web.Response:
        return web.Response(status=503, text="streams are down (fake venue)")

    async def api_socket(self, request: web.Request) -> web.StreamResponse:
        sock = await self._accept(request)
        if sock is None:
            return self._refused()
        await self._serve(sock, self._api_request)
        return sock.ws

    async def market_socket(self, request: web.Request) -> web.StreamResponse:
        combined = request.path == "/stream"
        sock = await self._accept(request, combined)
        if sock is None:
            return self._refused()
        names = request.query.get("streams", "") if combined else request.match_info.get("names", "")
        sock.streams |= {name for name in names.split("/") if self._stream_symbol(name)}
        await self._serve(sock, self._market_request)
        return sock.ws

    async def _abort_all(self, app: web.Application | None = None) -> None:
        sockets, self.sockets = self.sockets, []
        for sock in sockets:
            sock.abort()

    # -- WebSocket API -----------------------------------------------------------------------
    def _api_request(self, sock: Socket, request: Any) -> None:
        if not isinstance(request, dict):
            sock.send({"id": None, "status": 400, "error": {"code": -1000, "msg": "Malformed request."}})
            return
        rid, method, params = request.get("id"), request.get("method"), request.get("params") or {}
        try:
            if not isinstance(params, dict):
                raise Reject("mandatory", "params")
            try:
                result = self._api_call(sock, str(method), params)
            except (ValueError, TypeError):
                raise Reject("mandatory", "params") from None  # e.g. a timestamp that is no integer
        except Reject as exc:
            status, code, msg = ERRORS[exc.kind]
            sock.send({"id": rid, "status": status, "error": {"code": code, "msg": msg.format(exc.detail)}})
        else:
            sock.send({"id": rid, "status": 200, "result": result})

    def _api_call(self, sock: Socket, method: str, params: dict[str, Any]) -> Any:
        if method == "userDataStream.subscribe.signature":
            texts = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in params.items()}
            payload = "&".join(f"{k}={v}" for k, v in sorted(texts.items()) if k != "signature")
            account = self.verify(texts.get("apiKey", ""), payload, texts)
            return {"subscriptionId": sock.add_user(account.key)}
        if method == "userDataStream.unsubscribe":
            sid = params.get("subscriptionId")
            for key in list(sock.users) if sid is None else [int(sid)]:
                sock.users.pop(key, None)
            return {}
        if method == "session.subscriptions":
            return [{"subscriptionId": sid} for sid in sorted(sock.users)]
        if method == "ping":
            return {}
        if method == "time":
            return {"serverTime": now_ms()}
        raise Reject("method", method)

    # -- market streams ----------------------------------------------------------------------
    def _stream_symbol(self, name: str) -> str | None:
        match = STREAM.fullmatch(name)
        symbol = match.group(1).upper() if match else None
        return symbol if symbol in self.book.markets else None

    def _market_request(self, sock: Socket, request: Any) -> None:
        if not isinstance(request, dict):
            sock.send({"error": {"code": 3, "msg": "Invalid JSON"}, "id": None})
            return
        rid, method, params = request.get("id"), request.get("method"), request.get("params") or []
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not isinstance(params, list):
                params = [params]
            bad = [name for name in params if not isinstance(name, str) or not self._stream_symbol(name)]
            if bad:
                sock.send({"error": {"code": 2, "msg": f"Invalid request: invalid stream {bad[0]!r}"}, "id": rid})
                return
            new = set(params) - sock.streams
            sock.streams = sock.streams | new if method == "SUBSCRIBE" else sock.streams - set(params)
            sock.send({"result": None, "id": rid})
            for name in sorted(new if method == "SUBSCRIBE" else ()):
                symbol, kind = self._stream_symbol(name), name.partition("@")[2]
                if kind in TICKERS and symbol and Stats.of(self.book.tape(symbol), now_ms()).trades:
                    sock.event(name, self.ticker_event(symbol, kind))
        elif method == "LIST_SUBSCRIPTIONS":
            sock.send({"result": sorted(sock.streams), "id": rid})
        else:
            sock.send({"error": {"code": 2, "msg": f"Invalid request: unknown method {method!r}"}, "id": rid})

    def ticker_event(self, symbol: str, kind: str = "ticker") -> dict[str, Any]:
        t = self.ticker(symbol)
        if kind == "miniTicker":
            return {"e": "24hrMiniTicker", "E": now_ms(), "s": symbol, "c": t["lastPrice"], "o": t["openPrice"],
                    "h": t["highPrice"], "l": t["lowPrice"], "v": t["volume"], "q": t["quoteVolume"]}
        return {"e": "24hrTicker", "E": now_ms(), "s": symbol, "p": t["priceChange"], "P": t["priceChangePercent"],
                "w": t["weightedAvgPrice"], "x": t["prevClosePrice"], "c": t["lastPrice"], "Q": t["lastQty"],
                "b": t["bidPrice"], "B": t["bidQty"], "a": t["askPrice"], "A": t["askQty"], "o": t["openPrice"],
                "h": t["highPrice"], "l": t["lowPrice"], "v": t["volume"], "q": t["quoteVolume"], "O": t["openTime"],
                "C": t["closeTime"], "F": t["firstId"], "L": t["lastId"], "n": t["count"]}

    def _publish(self, symbol: str, kinds: tuple[str, ...], render: Callable[[str], dict[str, Any]]) -> None:
        """Send ``render(stream)`` to every subscriber of ``<symbol>@<kind>``."""
        for sock in self.sockets:
            for name in sock.streams:
                sym, _, kind = name.partition("@")
                if sym.upper() == symbol and kind in kinds:
                    sock.event(name, render(name))

    # -- book changes -> events --------------------------------------------------------------
    def depth_changed(self, symbol: str, update_id: int, bids: list[Level], asks: list[Level]) -> None:
        event = {"e": "depthUpdate", "E": now_ms(), "s": symbol, "U": update_id, "u": update_id,
                 "b": levels(bids), "a": levels(asks)}
        self._publish(symbol, ("depth", "depth@100ms", "depth@1000ms"), lambda name: event)

    def _on_change(self, change: Change) -> None:
        if change.order is not None:
            self._user_event(change.order, execution_report(change))
        if change.trade is not None:
            trade = change.trade
            self._publish(change.symbol, ("trade", "aggTrade"), lambda name: trade_event(name, trade))
            self._publish(change.symbol, TICKERS, lambda name: self.ticker_event(change.symbol, name.partition("@")[2]))

    def _user_event(self, order: Order, event: dict[str, Any]) -> None:
        for sock in self.sockets:
            for sid, key in sock.users.items():
                if key == order.key:
                    sock.send({"subscriptionId": sid, "event": event})

    # -- control -----------------------------------------------------------------------------
    def ws_state(self) -> dict[str, Any]:
        """Open connections and subscriptions (streams and user data subscriptions) by path."""
        subscriptions: Counter[str] = Counter()
        streams: dict[str, list[str]] = {}
        for sock in self.sockets:
            subscriptions[sock.path] += len(sock.streams) + len(sock.users)
            streams[sock.path] = sorted({*streams.get(sock.path, []), *sock.streams})
        return {"down": self.down, "open": len(self.sockets),
                "connections": dict(Counter(sock.path for sock in self.sockets)),
                "subscriptions": dict(subscriptions), "streams": streams}

    async def _ws_state(self, request: web.Request) -> web.Response:
        return web.json_response(self.ws_state())

    async def _set_ws(self, request: web.Request) -> web.Response:
        self.down = bool((await request.json())["down"])
        if self.down:
            await self._abort_all()
        return web.json_response(self.ws_state())
