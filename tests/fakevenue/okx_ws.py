"""Fake OKX v5 websockets, served by the same aiohttp app and port as the REST fake (``okx.py``), as ccxt.pro
4.5.90 ``okx`` uses them (``ccxt/pro/okx.py``: ``urls["api"]["ws"]`` + ``/public``, ``/private`` or
``/business`` from ``get_url``).

Requests are JSON ``{"op", "args": [...], "id"?}``; every reply carries ``connId`` (and the request's
``id`` when it had one). A failure is ``{"event": "error", "code", "msg", "connId"}`` (OKX docs
``#overview-websocket``; codes from the websocket error table): ``60012 Illegal request: <text>``
(no JSON object or no ``op``), ``60019 Invalid op``, ``60013 Invalid args``, ``60011 Please log in``
(a private channel before login), ``60018 Wrong URL or channel:<c>,instId:<i> doesn't exist ...`` (a
channel not served on that path, an unknown instrument or ``instType``). A subscribe with one bad arg
subscribes none of them. The text ``ping`` is answered with the text ``pong`` (ccxt sends ``ping``
every ``keepAlive`` = 18 s; OKX has no protocol-level ping).

- ``login`` (any path; ccxt's ``authenticate`` sends it on ``/private``): ``args: [{"apiKey",
  "passphrase", "timestamp" (Unix seconds), "sign"}]`` with ``sign`` = base64(HMAC-SHA256(secret,
  timestamp + "GET" + "/users/self/verify")). Checked against the book's accounts like a REST request:
  ``60027 Parameter <name> can not be empty``, ``60004 Invalid timestamp``, ``60006 Timestamp request
  expired`` (30 s away from now), ``60005 Invalid apiKey``, ``60024 Wrong passphrase``, ``60007 Invalid
  sign``; success is ``{"event": "login", "code": "0", "msg": ""}``. The connection stays open after a
  failed login (the docs show only the error event); ``close_on_failed_login`` (also ``POST /_fake/ws``)
  closes it right after the error instead.
- ``subscribe`` / ``unsubscribe``: one ack per arg, ``{"event": op, "arg": <arg as sent>}``; an arg
  subscribed twice on one connection is one subscription (pushed once). Pushes are ``{"arg", "data":
  [...]}`` (plus ``action`` for ``books``):

  - ``/ws/v5/private``, after login: ``orders`` with ``instType`` ``SPOT`` or ``ANY`` (others are
    accepted and never pushed: every order here is SPOT cash) and optionally ``instId``. Each change of
    that account's orders is one push of the order (the REST ``trade/order`` object, ``arg`` + ``uid``):
    placed -> ``state`` ``live``; each fill -> ``partially_filled``/``filled`` with that fill's
    ``tradeId``, ``fillPx``, ``fillSz``, ``fillTime``, ``fillFee`` (negative: a charge) and
    ``fillFeeCcy``, ``execType`` ``M``/``T``, and the order's ``accFillSz``, ``avgPx`` and total ``fee``;
    cancel -> ``canceled``. Pushes without a fill have ``tradeId`` ``""`` and ``fillSz`` ``"0"`` (ccxt's
    ``handle_my_trades`` makes a trade of every push whose ``tradeId`` is set).
  - ``/ws/v5/public``: ``trades`` (every public trade, the accounts' fills and injected ones; ``side`` is
    the taker's), ``tickers`` (after every trade and every change of the best bid or ask, and once on
    subscribing when there is a trade or a level), ``books`` (``action`` ``snapshot`` of 400 levels on
    subscribing, then one ``update`` per change of the merged book with the changed levels, ``"0"`` for a
    removed one; ``seqId`` is a per-instrument counter raised by every change and ``prevSeqId`` the one
    before (``-1`` in the snapshot), as ccxt checks; ``checksum`` = CRC32 as a signed 32-bit int of
    ``bid1px:bid1sz:ask1px:ask1sz:...`` over the top 25 levels, the longer side's extra levels appended:
    OKX's algorithm, which ccxt 4.5.90 does not verify), ``books5`` and ``bbo-tbt`` (the top 5 / top
    level in full on subscribing and whenever it changes; no ``action``).
  - ``/ws/v5/business``: ``candle<bar>`` (``1m`` ... ``4H``, ``6Hutc``, ``12Hutc``, ``1Dutc``: ccxt's
    ``watch_ohlcv`` connects here; the candle of each trade's bucket after the trade and the latest one on
    subscribing; rows ``[ts, o, h, l, c, vol, volCcy, volCcyQuote, confirm]``) and ``trades-all``.

Levels are ``[px, sz, "0", number of orders]`` (a synthetic level of ``/_fake/book`` counts as one
order), the same as REST ``market/books``. Not served: ``account``, ``positions``, ``orders-algo``,
order placement over the socket, the 30 s idle disconnect.

Faults as for Binance: ``POST /_fake/ws {"down": true}`` aborts every open socket (TCP reset, no close
frame) and answers upgrades with HTTP 503 until ``{"down": false}``; ``{"close_on_failed_login": bool}``
may come with it or alone. ``GET /_fake/ws`` -> ``{"down", "close_on_failed_login", "open": n,
"connections": {path: n}, "logins": {path: n}, "subscriptions": {path: n}, "streams": {path: [...]}}``
(a stream is ``channel:<instId|instType>``, e.g. ``books:BTC-USDT``, ``orders:SPOT``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import secrets
import zlib
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakevenue.binance_ws import Socket
from tests.fakevenue.book import Change, Market, Order, Trade, now_ms
from tests.fakevenue.okx import Levels, OkxVenue, levels_json, num, taker_side
from tests.fakevenue.tape import INTERVALS_MS, candles

PATHS = {"/ws/v5/public": "public", "/ws/v5/private": "private", "/ws/v5/business": "business"}
PUBLIC = ("tickers", "trades", "books", "books5", "bbo-tbt")
BOOKS = {"books": 400, "books5": 5, "bbo-tbt": 1}  # channel -> levels per side
BARS = {"1m": "1m", "3m": "3m", "5m": "5m", "15m": "15m", "30m": "30m", "1H": "1h", "2H": "2h", "4H": "4h",
        "6Hutc": "6h", "12Hutc": "12h", "1Dutc": "1d"}  # OKX bar -> tape interval (UTC-aligned ones only)
INST_TYPES = ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION", "ANY")
LOGIN_PATH = "/users/self/verify"
# WsReject.kind -> (code, msg); codes and wording from the OKX websocket error code table
WS_ERRORS: dict[str, tuple[str, str]] = {
    "request": ("60012", "Illegal request: {}"),
    "op": ("60019", "Invalid op: {}"),
    "args": ("60013", "Invalid args"),
    "empty": ("60027", "Parameter {} can not be empty."),
    "timestamp": ("60004", "Invalid timestamp"),
    "timestamp_expired": ("60006", "Timestamp request expired"),
    "key": ("60005", "Invalid apiKey"),
    "signature": ("60007", "Invalid sign"),
    "passphrase": ("60024", "Wrong passphrase"),
    "login": ("60011", "Please log in"),
    "channel": ("60018", "Wrong URL or {} doesn't exist. Please use the correct URL, channel and parameters "
                         "referring to API document."),
}
CLOSE = "\x00close"  # the writer's cue to close the socket
NO_FILL = {"tradeId": "", "fillPx": "", "fillSz": "0", "fillTime": "", "fillFee": "0", "fillFeeCcy": "",
           "execType": ""}


class WsReject(Exception):
    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind, self.detail = kind, detail


class OkxSocket(Socket):
    """One accepted websocket: the account it logged in as and its subscriptions (arg key -> arg)."""

    def __init__(self, ws: web.WebSocketResponse, request: web.Request) -> None:
        super().__init__(ws, request)
        self.access = PATHS[request.path]
        self.conn_id = secrets.token_hex(4)
        self.key: str | None = None
        self.subs: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}

    def send_text(self, text: str) -> None:
        self.outbox.put_nowait(text)

    def close_after_sent(self) -> None:
        """Close the connection (close frame 1000) once everything queued before has been sent."""
        self.outbox.put_nowait(CLOSE)

    async def _write(self) -> None:
        while True:
            text = await self.outbox.get()
            try:
                if text == CLOSE:
                    await self.ws.close()
                    return
                await self.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return  # the peer is gone; the reading side ends the socket

    def reply(self, message: dict[str, Any], rid: Any = None) -> None:
        self.send(({"id": rid} if rid not in (None, "") else {}) | message | {"connId": self.conn_id})

    def args(self, channel: str) -> list[dict[str, str]]:
        return [arg for arg in self.subs.values() if arg["channel"] == channel]


def arg_key(arg: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(arg.items()))


def stream_name(arg: dict[str, str]) -> str:
    return f"{arg['channel']}:{arg.get('instId') or arg.get('instType', '')}"


def checksum(bids: Levels, asks: Levels) -> int:
    """OKX's order book checksum: CRC32 of ``bid:size:ask:size:...`` (top 25 each side), as a signed int."""
    parts: list[str] = []
    for i in range(25):
        for side in (bids, asks):
            if i < len(side):
                parts += [num(side[i][0]), num(side[i][1])]
    value = zlib.crc32(":".join(parts).encode())
    return value - (1 << 32) if value >= 1 << 31 else value


def changed(before: Levels, after: Levels) -> Levels:
    """The levels of a ``books`` update: each price whose size or count changed, ``0`` for a removed one."""
    old, new = {p: (q, n) for p, q, n in before}, {p: (q, n) for p, q, n in after}
    gone = (Decimal(0), 0)
    return [(p, *new.get(p, gone)) for p in sorted(old.keys() | new.keys()) if old.get(p) != new.get(p)]


def uid(key: str) -> str:
    """A stable numeric user id per API key (OKX adds ``uid`` to the ``arg`` of private pushes)."""
    return str(int.from_bytes(hashlib.sha256(key.encode()).digest()[:6], "big"))


class OkxWsVenue(OkxVenue):
    """The fake OKX: the REST of ``okx.py`` plus its websockets on the same app."""

    def __init__(self, markets: dict[str, Market] | None = None) -> None:
        super().__init__(markets)
        self.sockets: list[OkxSocket] = []
        self.down = False
        self.close_on_failed_login = False
        self.seq_ids = dict.fromkeys(self.book.markets, 1)  # books seqId by instrument
        self._shown: dict[str, tuple[Levels, Levels]] = {}  # the merged book as last announced
        self.book.listeners.append(self._on_change)

    def app(self) -> web.Application:
        app = super().app()
        app.on_shutdown.append(self._abort_all)
        return app

    def routes(self) -> list[web.RouteDef]:
        return [*super().routes(),
                *(web.get(path, self.socket) for path in PATHS),
                web.get("/_fake/ws", self._ws_state),
                web.post("/_fake/ws", self._set_ws)]

    # -- connections -------------------------------------------------------------------------
    async def socket(self, request: web.Request) -> web.StreamResponse:
        if self.down:
            return web.Response(status=503, text="streams are down (fake venue)")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        sock = OkxSocket(ws, request)
        self.sockets.append(sock)
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    if message.data == "ping":
                        sock.send_text("pong")
                    else:
                        self._request(sock, message.data)
        finally:
            if sock in self.sockets:
                self.sockets.remove(sock)
            sock.writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sock.writer
        return ws

    async def _abort_all(self, app: web.Application | None = None) -> None:
        sockets, self.sockets = self.sockets, []
        for sock in sockets:
            sock.abort()

    # -- requests ----------------------------------------------------------------------------
    def _request(self, sock: OkxSocket, text: str) -> None:
        try:
            request = json.loads(text)
        except ValueError:
            request = None
        rid = request.get("id") if isinstance(request, dict) else None
        op = request.get("op") if isinstance(request, dict) else None
        try:
            if not isinstance(op, str):
                raise WsReject("request", text)
            args = request.get("args")
            if op == "login":
                self._login(sock, args)
                sock.reply({"event": "login", "code": "0", "msg": ""}, rid)
            elif op in ("subscribe", "unsubscribe"):
                self._subscribe(sock, op, args, rid)
            else:
                raise WsReject("op", op)
        except WsReject as exc:
            code, msg = WS_ERRORS[exc.kind]
            sock.reply({"event": "error", "code": code, "msg": msg.format(exc.detail)}, rid)
            if op == "login" and self.close_on_failed_login:
                sock.close_after_sent()

    def _login(self, sock: OkxSocket, args: Any) -> None:
        if not isinstance(args, list) or len(args) != 1 or not isinstance(args[0], dict):
            raise WsReject("args")
        fields = {name: str(args[0].get(name) or "") for name in ("apiKey", "passphrase", "timestamp", "sign")}
        for name, value in fields.items():
            if not value:
                raise WsReject("empty", name)
        try:
            seconds = float(fields["timestamp"])
        except ValueError:
            raise WsReject("timestamp") from None
        if abs(now_ms() / 1000 - seconds) > 30:
            raise WsReject("timestamp_expired")
        account = self.account(fields["apiKey"])
        if account is None:
            raise WsReject("key")
        if not hmac.compare_digest(fields["passphrase"], account.passphrase):
            raise WsReject("passphrase")
        prehash = fields["timestamp"] + "GET" + LOGIN_PATH
        expected = base64.b64encode(hmac.new(account.secret.encode(), prehash.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(expected.decode(), fields["sign"]):
            raise WsReject("signature")
        sock.key = account.key

    def _check_arg(self, sock: OkxSocket, arg: Any) -> dict[str, str]:
        if not isinstance(arg, dict) or not all(isinstance(v, str) for v in arg.values()) \
                or not arg.get("channel"):
            raise WsReject("args")
        channel, inst_id = arg["channel"], arg.get("instId", "")
        where = f"channel:{channel},instId:{inst_id}" if inst_id else f"channel:{channel}"
        served = {"public": PUBLIC, "business": ("trades-all",), "private": ("orders",)}[sock.access]
        candle = sock.access == "business" and channel.startswith("candle") and channel.removeprefix("candle") in BARS
        if channel not in served and not candle:
            raise WsReject("channel", where)
        if inst_id and inst_id not in self.book.markets:
            raise WsReject("channel", where)
        if channel == "orders":
            if sock.key is None:
                raise WsReject("login")
            if arg.get("instType") not in INST_TYPES:
                raise WsReject("channel", f"channel:{channel},instType:{arg.get('instType', '')}")
        elif not inst_id:
            raise WsReject("channel", where)
        return dict(arg)

    def _subscribe(self, sock: OkxSocket, op: str, args: Any, rid: Any) -> None:
        if not isinstance(args, list) or not args:
            raise WsReject("args")
        checked = [self._check_arg(sock, arg) for arg in args]  # all or nothing
        for arg in checked:
            key, new = arg_key(arg), arg_key(arg) not in sock.subs
            if op == "subscribe":
                sock.subs[key] = arg
            else:
                sock.subs.pop(key, None)
            sock.reply({"event": op, "arg": arg}, rid)
            if op == "subscribe" and new:
                self._first_push(sock, arg)

    def _first_push(self, sock: OkxSocket, arg: dict[str, str]) -> None:
        channel, symbol = arg["channel"], arg.get("instId", "")
        if channel in BOOKS:
            bids, asks = self.levels(symbol)
            if channel == "books":
                sock.send(self._books(arg, "snapshot", bids, asks, bids, asks, -1))
            else:
                sock.send(self._top(arg, bids, asks))
        elif channel == "tickers":
            bids, asks = self.levels(symbol)
            if bids or asks or self.book.tape(symbol):
                sock.send({"arg": arg, "data": [self.ticker_json(symbol)]})
        elif channel.startswith("candle"):
            tape = self.book.tape(symbol)
            if tape:
                sock.send({"arg": arg, "data": [self._candle(channel, symbol, max(now_ms(), tape[-1].time))]})

    # -- rendering ---------------------------------------------------------------------------
    def _books(self, arg: dict[str, str], action: str, bids: Levels, asks: Levels, full_bids: Levels,
               full_asks: Levels, prev: int) -> dict[str, Any]:
        symbol = arg["instId"]
        return {"arg": arg, "action": action, "data": [{
            "asks": levels_json(asks[:400]), "bids": levels_json(bids[:400]), "ts": str(now_ms()),
            "checksum": checksum(full_bids, full_asks), "prevSeqId": prev, "seqId": self.seq_ids[symbol]}]}

    def _top(self, arg: dict[str, str], bids: Levels, asks: Levels) -> dict[str, Any]:
        depth, symbol = BOOKS[arg["channel"]], arg["instId"]
        data: dict[str, Any] = {"asks": levels_json(asks[:depth]), "bids": levels_json(bids[:depth])}
        if arg["channel"] == "books5":
            data["instId"] = symbol
        return {"arg": arg, "data": [data | {"ts": str(now_ms()), "seqId": self.seq_ids[symbol]}]}

    def _candle(self, channel: str, symbol: str, at: int) -> list[str]:
        step = INTERVALS_MS[BARS[channel.removeprefix("candle")]]
        bucket = at // step * step
        candle = candles(self.book.tape(symbol), step, bucket, bucket, 1, now_ms())[0]
        confirm = "0" if now_ms() < bucket + step else "1"
        return [str(candle.open_time), num(candle.open), num(candle.high), num(candle.low), num(candle.close),
                num(candle.volume), num(candle.quote_volume), num(candle.quote_volume), confirm]

    def order_event(self, change: Change) -> dict[str, Any]:
        """The ``orders`` channel object of a placement, fill or cancel: the order after it, this fill."""
        order, trade = change.order, change.trade
        assert order is not None
        data = self.order_json(order) | NO_FILL | {"code": "0", "msg": "", "reqId": "", "amendResult": "",
                                                   "fillNotionalUsd": "", "notionalUsd": ""}
        if change.kind == "cancel":
            data["cancelSource"] = "1"  # OKX: canceled by the user
        if trade is not None:
            data |= {"tradeId": str(trade.id), "fillPx": num(trade.price), "fillSz": num(trade.qty),
                     "fillTime": str(trade.time), "fillFee": num(-trade.fee), "fillFeeCcy": trade.fee_asset,
                     "execType": "M" if trade.maker else "T"}
        return data

    # -- book changes -> pushes --------------------------------------------------------------
    def _on_change(self, change: Change) -> None:
        if change.order is not None:
            self._push_order(change.order, self.order_event(change))
        top_moved = change.kind != "trade" and self._book_changed(change.symbol)
        if change.trade is not None:
            self._push_trade(change.trade)
        if top_moved or change.trade is not None:
            ticker = self.ticker_json(change.symbol)
            self._publish(change.symbol, ("tickers",), lambda arg: {"arg": arg, "data": [ticker]})

    def _publish(self, symbol: str, channels: tuple[str, ...], render: Callable[[dict[str, str]], Any]) -> None:
        for sock in self.sockets:
            for arg in list(sock.subs.values()):
                if arg["channel"] in channels and arg.get("instId") == symbol:
                    sock.send(render(arg))

    def _push_order(self, order: Order, data: dict[str, Any]) -> None:
        for sock in self.sockets:
            if sock.key != order.key:
                continue
            for arg in sock.args("orders"):
                if arg.get("instType") in ("SPOT", "ANY") and arg.get("instId", order.symbol) == order.symbol:
                    sock.send({"arg": arg | {"uid": uid(order.key)}, "data": [data]})

    def _book_changed(self, symbol: str) -> bool:
        """Announce a change of the merged book; True when the best bid or ask moved."""
        bids, asks = self.levels(symbol)
        old_bids, old_asks = self._shown.get(symbol, ([], []))
        bid_diff, ask_diff = changed(old_bids, bids), changed(old_asks, asks)
        if not bid_diff and not ask_diff:
            return False
        self._shown[symbol] = (bids, asks)
        prev = self.seq_ids[symbol]
        self.seq_ids[symbol] = prev + 1
        self._publish(symbol, ("books",), lambda arg: self._books(arg, "update", bid_diff, ask_diff, bids, asks, prev))
        for channel, depth in (("books5", 5), ("bbo-tbt", 1)):
            if (old_bids[:depth], old_asks[:depth]) != (bids[:depth], asks[:depth]):
                self._publish(symbol, (channel,), lambda arg: self._top(arg, bids, asks))
        return (old_bids[:1], old_asks[:1]) != (bids[:1], asks[:1])

    def _push_trade(self, trade: Trade) -> None:
        data = {"instId": trade.symbol, "tradeId": str(trade.id), "px": num(trade.price), "sz": num(trade.qty),
                "side": taker_side(trade), "ts": str(trade.time)}
        self._publish(trade.symbol, ("trades",), lambda arg: {"arg": arg, "data": [data | {"count": "1",
                                                                                          "source": "0"}]})
        self._publish(trade.symbol, ("trades-all",), lambda arg: {"arg": arg, "data": [data | {"source": "0"}]})
        bars = tuple(f"candle{bar}" for bar in BARS)
        self._publish(trade.symbol, bars, lambda arg: {"arg": arg, "data": [
            self._candle(arg["channel"], trade.symbol, trade.time)]})

    # -- control -----------------------------------------------------------------------------
    def ws_state(self) -> dict[str, Any]:
        subscriptions: Counter[str] = Counter()
        logins: Counter[str] = Counter()
        streams: dict[str, list[str]] = {}
        for sock in self.sockets:
            subscriptions[sock.path] += len(sock.subs)
            logins[sock.path] += sock.key is not None
            streams[sock.path] = sorted({*streams.get(sock.path, []), *map(stream_name, sock.subs.values())})
        return {"down": self.down, "close_on_failed_login": self.close_on_failed_login, "open": len(self.sockets),
                "connections": dict(Counter(sock.path for sock in self.sockets)),
                "logins": {path: n for path, n in logins.items() if n}, "subscriptions": dict(subscriptions),
                "streams": streams}

    async def _ws_state(self, request: web.Request) -> web.Response:
        return web.json_response(self.ws_state())

    async def _set_ws(self, request: web.Request) -> web.Response:
        spec = await request.json()
        if "close_on_failed_login" in spec:
            self.close_on_failed_login = bool(spec["close_on_failed_login"])
        if "down" in spec:
            self.down = bool(spec["down"])
            if self.down:
                await self._abort_all()
        return web.json_response(self.ws_state())
