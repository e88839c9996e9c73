"""Fake OKX v5 REST API (SPOT, cash mode), as ccxt 4.5.90 ``okx`` calls it.

Endpoints as read in ``ccxt/async_support/okx.py``: ``fetch_markets_by_type`` (``GET
/api/v5/public/instruments?instType=SPOT``), ``fetch_currencies`` (``GET /api/v5/asset/currencies``,
called by ``load_markets`` once keys are set), ``fetch_time`` (``public/time``), ``fetch_balance``
(``GET account/balance``), ``create_order`` (``POST trade/order`` with ``options["createOrder"] =
"privatePostTradeOrder"``, else ``trade/batch-orders`` with a JSON list: both served), ``fetch_order``
(``GET trade/order`` by ``ordId`` or ``clOrdId``), ``cancel_order`` (``POST trade/cancel-order``),
``fetch_open_orders`` (``GET trade/orders-pending``), ``fetch_my_trades`` (``GET
trade/fills-history``, ``instType`` required; ``trade/fills`` is served too).

Authentication as ``okx.sign`` builds it and the OKX docs (www.okx.com/docs-v5/en/#overview-rest-
authentication) check it: ``OK-ACCESS-KEY``, ``OK-ACCESS-PASSPHRASE``, ``OK-ACCESS-TIMESTAMP`` (ISO 8601
with milliseconds, refused 30 s away from server time) and ``OK-ACCESS-SIGN`` = base64(HMAC-SHA256(secret,
timestamp + METHOD + requestPath-with-query + body)). Errors use the envelope ``{"code", "msg",
"data"}``; per-order failures of trade endpoints come back with HTTP 200, ``code "1"`` and
``sCode``/``sMsg`` in ``data[0]`` (``okx.handle_errors`` reads ``sCode`` first). Codes from the docs'
error table (``#error-code-rest-api``); ``51000 Parameter px error`` for an off-tick price as OKX
answered it in okxapi/python-okx issue #97.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from datetime import datetime
from decimal import Decimal
from typing import Any

from aiohttp import web

from tests.fakevenue.book import Account, Market, Order, Reject, Trade, buyer_is_maker, now_ms
from tests.fakevenue.server import FakeVenue, dec
from tests.fakevenue.tape import DAY_MS, Stats, candles

BARS_MS = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000, "1H": 3_600_000, "4H": 14_400_000,
           "1Dutc": 86_400_000}

STATE = {"new": "live", "partial": "partially_filled", "filled": "filled", "canceled": "canceled"}
# Reject.kind -> (HTTP status, code, msg). Auth failures are whole-request errors (HTTP 401).
ERRORS: dict[str, tuple[int, str, str]] = {
    "key_empty": (401, "50103", 'Request header "OK-ACCESS-KEY" cannot be empty.'),
    "passphrase_empty": (401, "50104", 'Request header "OK-ACCESS-PASSPHRASE" cannot be empty.'),
    "passphrase": (401, "50105", "Request header OK-ACCESS-PASSPHRASE incorrect."),
    "sign_empty": (401, "50106", 'Request header "OK-ACCESS-SIGN" cannot be empty.'),
    "timestamp_empty": (401, "50107", 'Request header "OK-ACCESS-TIMESTAMP" cannot be empty.'),
    "timestamp_expired": (401, "50102", "Timestamp request expired."),
    "key": (401, "50111", "Invalid OK-ACCESS-KEY."),
    "timestamp": (401, "50112", "Invalid OK-ACCESS-TIMESTAMP."),
    "signature": (401, "50113", "Invalid Sign."),
    "not_found": (200, "51603", "Order does not exist"),
    "symbol": (200, "51001", "Instrument ID does not exist."),
    "parameter": (200, "51000", "Parameter {} error"),
    "empty": (400, "50014", "Parameter {} can not be empty."),
}
# per-order failures (sCode, sMsg) inside data[0]
ORDER_ERRORS: dict[str, tuple[str, str]] = {
    "tick": ("51000", "Parameter px error"),
    "lot": ("51121", "Order quantity must be a multiple of the lot size."),
    "min_qty": ("51020", "Your order should meet or exceed the minimum order amount."),
    "min_notional": ("51020", "Your order should meet or exceed the minimum order amount."),
    "insufficient": ("51008", "Order failed. Insufficient balance."),
    "duplicate": ("51016", "Duplicated clOrdId"),
    "symbol": ("51001", "Instrument ID does not exist."),
    "parameter": ("51000", "Parameter {} error"),
    "not_found": ("51400", "Order cancellation failed as the order has been filled, canceled or does not exist."),
    "not_open": ("51400", "Order cancellation failed as the order has been filled, canceled or does not exist."),
}
_CLIENT_ID = re.compile(r"[A-Za-z0-9]{1,32}")


def num(value: Decimal) -> str:
    """OKX prints plain decimals without trailing zeros (``"0.001"``)."""
    return dec(value)


# (price, quantity, number of orders) of one side of a book, best first
Levels = list[tuple[Decimal, Decimal, int]]


def taker_side(trade: Trade) -> str:
    """The side of the taker: what OKX reports as a public trade's ``side``."""
    return "sell" if buyer_is_maker(trade) else "buy"


def levels_json(levels: Levels) -> list[list[str]]:
    return [[num(p), num(q), "0", str(n)] for p, q, n in levels]


def ok(data: list[Any]) -> web.Response:
    return web.json_response({"code": "0", "msg": "", "data": data})


class OrderFailed(Exception):
    """A trade endpoint's per-order failure: HTTP 200, ``code "1"``, ``sCode`` in ``data[0]``."""

    def __init__(self, kind: str, detail: str = "", ids: dict[str, str] | None = None) -> None:
        super().__init__(kind)
        code, msg = ORDER_ERRORS[kind]
        self.item = {"clOrdId": "", "ordId": "", "tag": "", **(ids or {}), "sCode": code,
                     "sMsg": msg.format(detail), "ts": str(now_ms())}


class OkxVenue(FakeVenue):
    kind = "okx"

    def default_markets(self) -> dict[str, Market]:
        return {
            "BTC-USDT": Market("BTC", "USDT", Decimal("0.1"), Decimal("0.00000001"), Decimal("0.00001")),
            "ETH-USDT": Market("ETH", "USDT", Decimal("0.01"), Decimal("0.000001"), Decimal("0.0001")),
        }

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/v5/public/time", self.time),
            web.get("/api/v5/public/instruments", self.instruments),
            web.get("/api/v5/asset/currencies", self.currencies),
            web.get("/api/v5/account/balance", self.balance),
            web.post("/api/v5/trade/order", self.place_order),
            web.post("/api/v5/trade/batch-orders", self.place_order),
            web.get("/api/v5/trade/order", self.get_order),
            web.post("/api/v5/trade/cancel-order", self.cancel_order),
            web.get("/api/v5/trade/orders-pending", self.orders_pending),
            web.get("/api/v5/trade/fills", self.fills),
            web.get("/api/v5/trade/fills-history", self.fills),
            web.get("/api/v5/market/books", self.market_books),
            web.get("/api/v5/market/ticker", self.market_ticker),
            web.get("/api/v5/market/trades", self.market_trades),
            web.get("/api/v5/market/candles", self.market_candles),
            web.get("/api/v5/market/history-candles", self.market_candles),
        ]

    def reject(self, exc: Reject) -> web.Response:
        status, code, msg = ERRORS[exc.kind]
        return web.json_response({"code": code, "msg": msg.format(exc.detail), "data": []}, status=status)

    # -- authentication ----------------------------------------------------------------------
    async def signed(self, request: web.Request) -> Account:
        headers, body = request.headers, await request.text()
        for header, kind in (("OK-ACCESS-KEY", "key_empty"), ("OK-ACCESS-SIGN", "sign_empty"),
                             ("OK-ACCESS-TIMESTAMP", "timestamp_empty"), ("OK-ACCESS-PASSPHRASE", "passphrase_empty")):
            if not headers.get(header):
                raise Reject(kind)
        stamp = headers["OK-ACCESS-TIMESTAMP"]
        try:
            sent_ms = int(datetime.fromisoformat(stamp).timestamp() * 1000)
        except ValueError:
            raise Reject("timestamp") from None
        if abs(now_ms() - sent_ms) > 30_000:
            raise Reject("timestamp_expired")
        account = self.account(headers["OK-ACCESS-KEY"])
        if account is None:
            raise Reject("key")
        if not hmac.compare_digest(headers["OK-ACCESS-PASSPHRASE"], account.passphrase):
            raise Reject("passphrase")
        prehash = stamp + request.method + request.raw_path + body
        expected = base64.b64encode(hmac.new(account.secret.encode(), prehash.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(expected.decode(), headers["OK-ACCESS-SIGN"]):
            raise Reject("signature")
        return account

    # -- rendering ---------------------------------------------------------------------------
    @staticmethod
    def order_json(order: Order) -> dict[str, Any]:
        last = order.trades[-1] if order.trades else None
        market_fee_ccy = last.fee_asset if last else ""
        return {
            "instType": "SPOT", "instId": order.symbol, "ccy": "", "ordId": str(order.id), "clOrdId": order.client_id,
            "tag": "", "px": num(order.price), "sz": num(order.qty), "pnl": "0", "ordType": "limit", "side": order.side,
            "posSide": "net", "tdMode": "cash", "accFillSz": num(order.filled),
            "fillPx": num(last.price) if last else "", "tradeId": str(last.id) if last else "",
            "fillSz": num(last.qty) if last else "", "fillTime": str(last.time) if last else "",
            "avgPx": num(order.average) if order.filled else "", "state": STATE[order.status], "lever": "",
            "fee": num(-order.fee), "feeCcy": market_fee_ccy, "rebate": "0", "rebateCcy": "", "category": "normal",
            "reduceOnly": "false", "stpMode": "cancel_maker", "tgtCcy": "", "cancelSource": "",
            "uTime": str(order.updated), "cTime": str(order.created),
        }

    @staticmethod
    def fill_json(trade: Trade) -> dict[str, Any]:
        return {
            "instType": "SPOT", "instId": trade.symbol, "tradeId": str(trade.id), "ordId": str(trade.order_id),
            "clOrdId": trade.client_id, "billId": str(trade.id * 10), "subType": "1" if trade.side == "buy" else "2",
            "tag": "", "fillPx": num(trade.price), "fillSz": num(trade.qty), "side": trade.side, "posSide": "net",
            "execType": "M" if trade.maker else "T", "feeCcy": trade.fee_asset, "fee": num(-trade.fee),
            "ts": str(trade.time), "fillTime": str(trade.time),
        }

    # -- endpoints ---------------------------------------------------------------------------
    async def time(self, request: web.Request) -> web.Response:
        return ok([{"ts": str(now_ms())}])

    async def instruments(self, request: web.Request) -> web.Response:
        if request.query.get("instType") != "SPOT":
            return ok([])  # only spot instruments are listed by this fake
        return ok([{
            "instType": "SPOT", "instId": sid, "uly": "", "instFamily": "", "baseCcy": m.base, "quoteCcy": m.quote,
            "settleCcy": "", "ctVal": "", "ctMult": "", "ctValCcy": "", "optType": "", "stk": "",
            "listTime": "1606468572000", "expTime": "", "lever": "", "tickSz": num(m.tick), "lotSz": num(m.step),
            "minSz": num(m.min_qty), "ctType": "", "alias": "", "state": "live", "ruleType": "normal",
            "maxLmtSz": "9999999999", "maxMktSz": "1000000", "maxLmtAmt": "20000000", "maxMktAmt": "1000000",
            "category": "1",
        } for sid, m in self.book.markets.items()])

    async def currencies(self, request: web.Request) -> web.Response:
        await self.signed(request)
        assets = sorted({m.base for m in self.book.markets.values()} | {m.quote for m in self.book.markets.values()})
        return ok([{"ccy": a, "name": a, "chain": f"{a}-{a}", "canDep": True, "canWd": True, "canInternal": True,
                    "minWd": "0.001", "maxFee": "0", "minFee": "0", "wdTickSz": "8", "mainNet": True} for a in assets])

    async def balance(self, request: web.Request) -> web.Response:
        account = await self.signed(request)
        wanted = set(filter(None, request.query.get("ccy", "").split(",")))
        details = [{
            "ccy": a, "eq": num(account.free.get(a, Decimal(0)) + account.locked.get(a, Decimal(0))),
            "cashBal": num(account.free.get(a, Decimal(0)) + account.locked.get(a, Decimal(0))),
            "availBal": num(account.free.get(a, Decimal(0))), "frozenBal": num(account.locked.get(a, Decimal(0))),
            "ordFrozen": num(account.locked.get(a, Decimal(0))), "availEq": "", "uTime": str(now_ms()),
        } for a in account.assets() if not wanted or a in wanted]
        return ok([{"uTime": str(now_ms()), "totalEq": "", "details": details}])

    async def place_order(self, request: web.Request) -> web.Response:
        account = await self.signed(request)
        payload = json.loads(await request.text() or "{}")
        items = payload if isinstance(payload, list) else [payload]
        results = []
        for item in items:
            try:
                results.append(self._place_one(account, item))
            except OrderFailed as failed:
                results.append(failed.item)
        failures = sum(r["sCode"] != "0" for r in results)
        code, msg = ("0", "") if not failures else ("1", "All operations failed") if failures == len(results) \
            else ("2", "Bulk operation partially succeeded.")
        return web.json_response({"code": code, "msg": msg, "data": results, "inTime": str(now_ms() * 1000),
                                  "outTime": str(now_ms() * 1000)})

    def _place_one(self, account: Account, item: dict[str, Any]) -> dict[str, Any]:
        client_id = str(item.get("clOrdId", ""))
        ids = {"clOrdId": client_id, "tag": str(item.get("tag", ""))}
        for name in ("instId", "tdMode", "side", "ordType", "sz", "px"):
            if not item.get(name):
                raise OrderFailed("parameter", name, ids)
        for name, valid in (("ordType", item["ordType"] == "limit"), ("tdMode", item["tdMode"] == "cash"),
                            ("clOrdId", not client_id or _CLIENT_ID.fullmatch(client_id))):
            if not valid:
                raise OrderFailed("parameter", name, ids)
        try:
            order = self.book.place(account, item["instId"], item["side"], Decimal(item["px"]), Decimal(item["sz"]),
                                    client_id)
        except Reject as exc:
            raise OrderFailed(exc.kind, exc.detail, ids) from None
        return {**ids, "ordId": str(order.id), "sCode": "0", "sMsg": "Order placed", "ts": str(order.created)}

    def _find(self, account: Account, params: Any) -> Order:
        symbol = params.get("instId") or ""
        if params.get("ordId"):
            return self.book.find(account, symbol, order_id=int(params["ordId"]))
        if params.get("clOrdId"):
            return self.book.find(account, symbol, client_id=params["clOrdId"])
        raise Reject("parameter", "ordId")

    async def get_order(self, request: web.Request) -> web.Response:
        account = await self.signed(request)
        return ok([self.order_json(self._find(account, request.query))])

    async def cancel_order(self, request: web.Request) -> web.Response:
        account = await self.signed(request)
        params = json.loads(await request.text() or "{}")
        ids = {"clOrdId": str(params.get("clOrdId", "")), "ordId": str(params.get("ordId", ""))}
        try:
            order = self.book.cancel(account, self._find(account, params))
        except Reject as exc:
            item = OrderFailed(exc.kind if exc.kind in ORDER_ERRORS else "parameter", exc.detail, ids).item
            return web.json_response({"code": "1", "msg": "All operations failed", "data": [item]})
        return ok([{"clOrdId": order.client_id, "ordId": str(order.id), "sCode": "0", "sMsg": "", "ts": str(now_ms())}])

    async def orders_pending(self, request: web.Request) -> web.Response:
        account = await self.signed(request)
        orders = self.book.open_orders(account, request.query.get("instId"))
        return ok([self.order_json(o) for o in sorted(orders, key=lambda o: o.id, reverse=True)])

    async def fills(self, request: web.Request) -> web.Response:
        account = await self.signed(request)
        query = request.query
        if request.path.endswith("fills-history") and not query.get("instType"):
            raise Reject("parameter", "instType")
        trades = [t for t in self.book.trades(account, query.get("instId"))
                  if int(query.get("begin", 0)) <= t.time <= int(query.get("end", 1 << 62))
                  and ("ordId" not in query or t.order_id == int(query["ordId"]))]
        trades.reverse()  # newest first, as OKX pages them
        return ok([self.fill_json(t) for t in trades[: int(query.get("limit", 100))]])

    # -- public market data ------------------------------------------------------------------
    def inst_id(self, request: web.Request) -> str:
        symbol = request.query.get("instId", "")
        if not symbol:
            raise Reject("empty", "instId")
        self.book.market(symbol)
        return symbol

    @staticmethod
    def limit(request: web.Request, name: str, default: int, maximum: int) -> int:
        try:
            value = int(request.query.get(name) or default)
        except ValueError:
            raise Reject("parameter", name) from None
        if not 1 <= value <= maximum:
            raise Reject("parameter", name)
        return value

    def levels(self, symbol: str) -> tuple[Levels, Levels]:
        """Bids and asks, best first, each level with its number of orders (a synthetic level is one)."""
        bids, asks = self.book.depth(symbol)
        synthetic = self.book.levels.get(symbol, {})
        counts = {side: dict.fromkeys(synthetic.get(side, {}), 1) for side in ("buy", "sell")}
        for o in self.book.orders.values():
            if o.symbol == symbol and o.is_open:
                counts[o.side][o.price] = counts[o.side].get(o.price, 0) + 1
        return ([(p, q, counts["buy"][p]) for p, q in bids], [(p, q, counts["sell"][p]) for p, q in asks])

    def ticker_json(self, symbol: str) -> dict[str, Any]:
        """The ``tickers`` object of OKX (REST ``market/ticker`` and the websocket channel); ``""`` where unknown."""
        now = now_ms()
        tape = self.book.tape(symbol)
        stats = Stats.of(tape, now)
        bids, asks = self.levels(symbol)

        def price(value: Decimal) -> str:
            return num(value) if stats.trades else ""

        def start_of_day(offset_ms: int) -> str:
            start = (now + offset_ms) // DAY_MS * DAY_MS - offset_ms
            before = [t for t in tape if t.time < start]
            after = [t for t in tape if start <= t.time <= now]
            return num(before[-1].price) if before else num(after[0].price) if after else ""

        return {
            "instType": "SPOT", "instId": symbol, "last": price(stats.last), "lastSz": price(stats.last_qty),
            "askPx": num(asks[0][0]) if asks else "", "askSz": num(asks[0][1]) if asks else "",
            "bidPx": num(bids[0][0]) if bids else "", "bidSz": num(bids[0][1]) if bids else "",
            "open24h": price(stats.open), "high24h": price(stats.high), "low24h": price(stats.low),
            "volCcy24h": num(stats.quote_volume), "vol24h": num(stats.volume),
            "sodUtc0": start_of_day(0), "sodUtc8": start_of_day(8 * 3_600_000), "ts": str(now),
        }

    async def market_books(self, request: web.Request) -> web.Response:
        """``GET /api/v5/market/books``: ``sz`` levels per side (default 1, max 400)."""
        symbol = self.inst_id(request)
        size = self.limit(request, "sz", 1, 400)
        bids, asks = self.levels(symbol)
        return ok([{"asks": levels_json(asks[:size]), "bids": levels_json(bids[:size]), "ts": str(now_ms())}])

    async def market_ticker(self, request: web.Request) -> web.Response:
        return ok([self.ticker_json(self.inst_id(request))])

    async def market_candles(self, request: web.Request) -> web.Response:
        """``GET /api/v5/market/candles`` (and ``history-candles``): candles of the tape, newest first;
        ``after``/``before`` (ms, exclusive) bound the open times from above/below; ``limit`` <= 300.
        Rows: ``[ts, o, h, l, c, vol, volCcy, volCcyQuote, confirm]`` (``confirm`` 0 while open)."""
        symbol, query = self.inst_id(request), request.query
        step = BARS_MS.get(query.get("bar", "1m"))
        if step is None:
            raise Reject("parameter", "bar")
        after, before = query.get("after"), query.get("before")
        end = int(after) - 1 if after else None
        start = int(before) + 1 if before else None
        rows = candles(self.book.tape(symbol), step, start, end, self.limit(request, "limit", 100, 300), now_ms())
        now = now_ms()
        return ok([[str(c.open_time), num(c.open), num(c.high), num(c.low), num(c.close), num(c.volume),
                    num(c.volume), num(c.quote_volume), "1" if c.close_time < now else "0"] for c in reversed(rows)])

    async def market_trades(self, request: web.Request) -> web.Response:
        """``GET /api/v5/market/trades``: the most recent trades, newest first (default 100, max 500)."""
        symbol = self.inst_id(request)
        trades = self.book.tape(symbol)[-self.limit(request, "limit", 100, 500):]
        return ok([{"instId": symbol, "side": taker_side(t), "sz": num(t.qty), "px": num(t.price),
                    "tradeId": str(t.id), "ts": str(t.time), "source": "0"} for t in reversed(trades)])
