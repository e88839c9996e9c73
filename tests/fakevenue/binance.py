"""Fake Binance SPOT REST API (``/api/v3``), as ccxt 4.5.90 ``binance`` calls it. The venue served
as ``binance`` is its subclass with the websockets, ``binance_ws.BinanceWsVenue``.

Endpoints and parameters as read in ``ccxt/async_support/binance.py``: ``fetch_markets`` (spot only:
``GET exchangeInfo``), ``fetch_time`` (``GET time``), ``fetch_balance`` (``GET account``),
``create_order`` / ``create_order_request`` (``POST order``, form body, ``newClientOrderId``,
``newOrderRespType=FULL``), ``fetch_order`` (``GET order`` with ``orderId`` or ``origClientOrderId``),
``cancel_order`` (``DELETE order``), ``fetch_open_orders`` (``GET openOrders``), ``fetch_my_trades``
(``GET myTrades``, symbol required). Signing as in ``binance.sign``: every private parameter plus
``timestamp`` and ``recvWindow`` urlencoded, ``signature`` = hex HMAC-SHA256 of that string with the
secret appended last, ``X-MBX-APIKEY`` header; GET/DELETE in the query, POST in the body.

Checks and error bodies follow the Binance spot docs (developers.binance.com/docs/binance-spot-api-docs:
``rest-api`` "SIGNED endpoint security" and "Timing security": accepted when
``timestamp < serverTime + 1000`` and ``serverTime - timestamp <= recvWindow``; ``errors.md`` for the
codes). Filters: PRICE_FILTER (tickSize), LOT_SIZE (stepSize, minQty), MIN_NOTIONAL.

Public market data, from the book's synthetic levels, the accounts' open orders and the tape (the
accounts' fills and other participants' trades, ``tests/fakevenue/tape.py``): ``GET depth`` (what
``fetch_order_book`` and ``watch_order_book``'s snapshot call; ``limit`` default 100, max 5000) with
``lastUpdateId``, a per-symbol counter raised by one on every change of the merged book, the ids the
diff depth stream of ``binance_ws.py`` numbers its events with; ``GET ticker/24hr``; ``GET aggTrades``
(``fetch_trades``' default ``publicGetAggTrades``: ``startTime``/``endTime`` inclusive, ``fromId``,
``limit`` default 500, max 1000; one aggregate per trade: ``a = f = l`` = the trade id), ``GET trades``
(most recent) and ``GET klines`` (``fetch_ohlcv``: ``interval``, ``startTime``/``endTime`` on the open
time, ``limit`` default 500, max 1000; rows ``[openTime, open, high, low, close, volume, closeTime,
quoteVolume, count, takerBuyBase, takerBuyQuote, "0"]``). A ``limit`` out of range is refused with
-1130 (ccxt never sends one above 1000 for klines; it passes a spot trades limit as given).

Order types and time in force, as Binance spot checks them (``rest-api`` "New order", ``errors.md``;
ccxt 4.5.90 sends ``timeInForce`` GTC/IOC/FOK with type LIMIT, and a post-only order as type
LIMIT_MAKER without ``timeInForce``): LIMIT needs ``timeInForce`` (-1102 without it) among GTC, IOC,
FOK (else -1115 "Invalid timeInForce."); LIMIT_MAKER takes none (-1106 "Parameter 'timeInForce' sent
when not required.") and is refused with -2010 "Order would immediately match and take." when the
book has an opposite level at or through its price (nothing placed, nothing frozen); an unknown type
is -1116 "Invalid orderType."; Binance's other types (MARKET, stop orders) are not served (-1102 on
``type``). IOC and FOK match the synthetic levels at once (``book.py``); what an IOC does not fill,
and a FOK that cannot fill whole, ends with status EXPIRED (HTTP 200, ``fills`` listing what it
got). Orders show ``timeInForce`` (GTC for LIMIT_MAKER, as Binance does) and ``type``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from tests.fakevenue.book import Account, Change, Market, Order, Reject, Trade, buyer_is_maker, now_ms
from tests.fakevenue.server import FakeVenue
from tests.fakevenue.tape import INTERVALS_MS, Stats, candles, select

Level = tuple[Decimal, Decimal]

STATUS = {"new": "NEW", "partial": "PARTIALLY_FILLED", "filled": "FILLED", "canceled": "CANCELED",
          "expired": "EXPIRED"}
ORDER_TYPES = ("LIMIT", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT", "LIMIT_MAKER")
TIME_IN_FORCE = ("GTC", "IOC", "FOK")
# Reject.kind -> (HTTP status, Binance code, msg); msgs verbatim from Binance's errors.md
ERRORS: dict[str, tuple[int, int, str]] = {
    "tick": (400, -1013, "Filter failure: PRICE_FILTER"),
    "lot": (400, -1013, "Filter failure: LOT_SIZE"),
    "min_qty": (400, -1013, "Filter failure: LOT_SIZE"),
    "min_notional": (400, -1013, "Filter failure: MIN_NOTIONAL"),
    "insufficient": (400, -2010, "Account has insufficient balance for requested action."),
    "duplicate": (400, -2010, "Duplicate order sent."),
    "would_take": (400, -2010, "Order would immediately match and take."),
    "not_required": (400, -1106, "Parameter '{}' sent when not required."),
    "tif": (400, -1115, "Invalid timeInForce."),
    "order_type": (400, -1116, "Invalid orderType."),
    "not_found": (400, -2013, "Order does not exist."),
    "cancel_unknown": (400, -2011, "Unknown order sent."),
    "symbol": (400, -1121, "Invalid symbol."),
    "key_format": (401, -2014, "API-key format invalid."),
    "key": (401, -2015, "Invalid API-key, IP, or permissions for action."),
    "signature": (400, -1022, "Signature for this request is not valid."),
    "recv_window": (400, -1021, "Timestamp for this request is outside of the recvWindow."),
    "ahead": (400, -1021, "Timestamp for this request was 1000ms ahead of the server's time."),
    "recv_window_max": (400, -1131, "recvWindow must be less than 60000"),
    "mandatory": (400, -1102, "Mandatory parameter '{}' was not sent, was empty/null, or malformed."),
    "limit": (400, -1130, "Data sent for parameter 'limit' is not valid."),
    "interval": (400, -1120, "Invalid interval."),
    "method": (400, -1000, "Unknown method '{}'."),  # the fake's wording: unknown WebSocket API methods
}
_SIGNATURE = re.compile(r"&?signature=([^&]*)")


def num(value: Decimal) -> str:
    """Binance prints amounts with 8 decimals (``"0.00100000"``)."""
    return f"{value:.8f}"


def changed(before: list[Level], after: list[Level]) -> list[Level]:
    """The levels of a diff depth event: each price whose quantity changed, ``0`` for a removed one."""
    old, new = dict(before), dict(after)
    return sorted((price, new.get(price, Decimal(0))) for price in old.keys() | new.keys()
                  if old.get(price) != new.get(price))


def int_param(query: Any, name: str, default: int | None = None) -> int | None:
    value = query.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError:
        raise Reject("mandatory", name) from None


def limit_param(query: Any, default: int, maximum: int) -> int:
    limit = int_param(query, "limit", default)
    if limit is None or not 1 <= limit <= maximum:
        raise Reject("limit")
    return limit


class BinanceVenue(FakeVenue):
    kind = "binance"

    def __init__(self, markets: dict[str, Market] | None = None) -> None:
        super().__init__(markets)
        self.depth_ids = dict.fromkeys(self.book.markets, 1)  # lastUpdateId by symbol
        self._depth_shown: dict[str, tuple[list[Level], list[Level]]] = {}
        self.book.listeners.append(self._count_depth)

    def _count_depth(self, change: Change) -> None:
        """Every change of a symbol's merged book raises its update id by one (and is one diff event)."""
        if change.kind == "trade":
            return  # other participants' trades leave the synthetic levels as they are
        bids, asks = self.book.depth(change.symbol)
        shown_bids, shown_asks = self._depth_shown.get(change.symbol, ([], []))
        bid_diff, ask_diff = changed(shown_bids, bids), changed(shown_asks, asks)
        if bid_diff or ask_diff:
            self._depth_shown[change.symbol] = (bids, asks)
            self.depth_ids[change.symbol] = self.depth_ids.get(change.symbol, 0) + 1
            self.depth_changed(change.symbol, self.depth_ids[change.symbol], bid_diff, ask_diff)

    def depth_changed(self, symbol: str, update_id: int, bids: list[Level], asks: list[Level]) -> None:
        """Hook for the streams (``binance_ws.py``): the book of ``symbol`` is now at ``update_id``."""

    def default_markets(self) -> dict[str, Market]:
        return {
            "BTCUSDT": Market("BTC", "USDT", Decimal("0.01"), Decimal("0.00001"), Decimal("0.00001"), Decimal("5")),
            "ETHUSDT": Market("ETH", "USDT", Decimal("0.01"), Decimal("0.0001"), Decimal("0.0001"), Decimal("5")),
        }

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/v3/ping", self.ping),
            web.get("/api/v3/time", self.time),
            web.get("/api/v3/exchangeInfo", self.exchange_info),
            web.get("/api/v3/account", self.account_info),
            web.post("/api/v3/order", self.new_order),
            web.get("/api/v3/order", self.query_order),
            web.delete("/api/v3/order", self.cancel_order),
            web.get("/api/v3/openOrders", self.open_orders),
            web.get("/api/v3/myTrades", self.my_trades),
            web.get("/api/v3/depth", self.depth),
            web.get("/api/v3/ticker/24hr", self.ticker_24hr),
            web.get("/api/v3/aggTrades", self.agg_trades),
            web.get("/api/v3/trades", self.recent_trades),
            web.get("/api/v3/klines", self.klines),
        ]

    def reject(self, exc: Reject) -> web.Response:
        status, code, msg = ERRORS[exc.kind]
        return web.json_response({"code": code, "msg": msg.format(exc.detail)}, status=status)

    # -- authentication ----------------------------------------------------------------------
    async def signed(self, request: web.Request) -> tuple[Account, dict[str, str]]:
        """Check a SIGNED request the way Binance does; return the account and all parameters."""
        query, body = request.rel_url.raw_query_string, await request.text()
        params = dict(parse_qsl(query, keep_blank_values=True)) | dict(parse_qsl(body, keep_blank_values=True))
        signed_part = _SIGNATURE.sub("", query) + _SIGNATURE.sub("", body)
        return self.verify(request.headers.get("X-MBX-APIKEY", ""), signed_part, params), params

    def verify(self, key: str, payload: str, params: dict[str, str]) -> Account:
        """The key, the HMAC-SHA256 ``signature`` of ``payload`` and the timing of ``params`` (REST and
        WebSocket API sign the same way; they differ in how the payload is laid out)."""
        if not re.fullmatch(r"[A-Za-z0-9]{64}", key):
            raise Reject("key_format")
        account = self.account(key)
        if account is None:
            raise Reject("key")
        for name in ("timestamp", "signature"):
            if not params.get(name):
                raise Reject("mandatory", name)
        expected = hmac.new(account.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, str(params["signature"]).lower()):
            raise Reject("signature")
        recv_window, server_time, timestamp = int(params.get("recvWindow", 5000)), now_ms(), int(params["timestamp"])
        if recv_window > 60000:
            raise Reject("recv_window_max")
        if timestamp >= server_time + 1000:
            raise Reject("ahead")
        if server_time - timestamp > recv_window:
            raise Reject("recv_window")
        return account

    def order_by_params(self, account: Account, params: dict[str, str]) -> Order:
        symbol = params.get("symbol") or ""
        self.book.market(symbol)
        if "orderId" in params:
            return self.book.find(account, symbol, order_id=int(params["orderId"]))
        if "origClientOrderId" in params:
            return self.book.find(account, symbol, client_id=params["origClientOrderId"])
        raise Reject("mandatory", "orderId")

    # -- rendering ---------------------------------------------------------------------------
    @staticmethod
    def order_json(order: Order) -> dict[str, Any]:
        return {
            "symbol": order.symbol, "orderId": order.id, "orderListId": -1, "clientOrderId": order.client_id,
            "price": num(order.price), "origQty": num(order.qty), "executedQty": num(order.filled),
            "cummulativeQuoteQty": num(order.quote_filled), "status": STATUS[order.status], "timeInForce": order.tif,
            "type": "LIMIT_MAKER" if order.maker_only else "LIMIT", "side": order.side.upper(),
            "stopPrice": num(Decimal(0)), "icebergQty": num(Decimal(0)),
            "time": order.created, "updateTime": order.updated, "isWorking": True, "workingTime": order.created,
            "origQuoteOrderQty": num(Decimal(0)), "selfTradePreventionMode": "EXPIRE_MAKER",
        }

    @staticmethod
    def trade_json(trade: Trade) -> dict[str, Any]:
        return {
            "symbol": trade.symbol, "id": trade.id, "orderId": trade.order_id, "orderListId": -1,
            "price": num(trade.price), "qty": num(trade.qty), "quoteQty": num(trade.price * trade.qty),
            "commission": num(trade.fee), "commissionAsset": trade.fee_asset, "time": trade.time,
            "isBuyer": trade.side == "buy", "isMaker": trade.maker, "isBestMatch": True,
        }

    # -- endpoints ---------------------------------------------------------------------------
    async def ping(self, request: web.Request) -> web.Response:
        return web.json_response({})

    async def time(self, request: web.Request) -> web.Response:
        return web.json_response({"serverTime": now_ms()})

    async def exchange_info(self, request: web.Request) -> web.Response:
        symbols = [{
            "symbol": sid, "status": "TRADING", "baseAsset": m.base, "baseAssetPrecision": 8, "quoteAsset": m.quote,
            "quotePrecision": 8, "quoteAssetPrecision": 8, "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
            "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
            "icebergAllowed": True, "ocoAllowed": True, "quoteOrderQtyMarketAllowed": True, "allowTrailingStop": True,
            "cancelReplaceAllowed": True, "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": num(m.tick), "maxPrice": "1000000.00000000",
                 "tickSize": num(m.tick)},
                {"filterType": "LOT_SIZE", "minQty": num(m.min_qty), "maxQty": "9000.00000000",
                 "stepSize": num(m.step)},
                {"filterType": "MIN_NOTIONAL", "minNotional": num(m.min_notional), "applyToMarket": True,
                 "avgPriceMins": 5},
            ],
            "permissions": [], "permissionSets": [["SPOT"]], "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
        } for sid, m in self.book.markets.items()]
        return web.json_response({"timezone": "UTC", "serverTime": now_ms(), "rateLimits": [], "exchangeFilters": [],
                                  "symbols": symbols})

    async def account_info(self, request: web.Request) -> web.Response:
        account, _ = await self.signed(request)
        balances = [{"asset": a, "free": num(account.free.get(a, Decimal(0))),
                     "locked": num(account.locked.get(a, Decimal(0)))} for a in account.assets()]
        return web.json_response({
            "makerCommission": 10, "takerCommission": 10, "buyerCommission": 0, "sellerCommission": 0,
            "canTrade": True, "canWithdraw": True, "canDeposit": True, "brokered": False,
            "requireSelfTradePrevention": False, "preventSor": False, "updateTime": now_ms(), "accountType": "SPOT",
            "balances": balances, "permissions": ["SPOT"], "uid": 1,
        })

    async def new_order(self, request: web.Request) -> web.Response:
        account, params = await self.signed(request)
        for name in ("symbol", "side", "type"):
            if not params.get(name):
                raise Reject("mandatory", name)
        order_type, tif = params["type"], params.get("timeInForce")
        if order_type not in ORDER_TYPES:
            raise Reject("order_type")
        if order_type not in ("LIMIT", "LIMIT_MAKER"):
            raise Reject("mandatory", "type")  # this fake serves limit orders only
        for name in ("quantity", "price", *(("timeInForce",) if order_type == "LIMIT" else ())):
            if not params.get(name):
                raise Reject("mandatory", name)
        if order_type == "LIMIT_MAKER" and tif is not None:
            raise Reject("not_required", "timeInForce")
        if order_type == "LIMIT" and tif not in TIME_IN_FORCE:
            raise Reject("tif")
        order = self.book.place(account, params["symbol"], params["side"].lower(), Decimal(params["price"]),
                                Decimal(params["quantity"]), params.get("newClientOrderId") or f"fake{now_ms()}",
                                tif=tif or "GTC", maker_only=order_type == "LIMIT_MAKER")
        fills = [{"price": num(t.price), "qty": num(t.qty), "commission": num(t.fee),
                  "commissionAsset": t.fee_asset, "tradeId": t.id} for t in order.trades]
        body = self.order_json(order) | {"transactTime": order.created, "fills": fills}
        return web.json_response(body)

    async def query_order(self, request: web.Request) -> web.Response:
        account, params = await self.signed(request)
        return web.json_response(self.order_json(self.order_by_params(account, params)))

    async def cancel_order(self, request: web.Request) -> web.Response:
        account, params = await self.signed(request)
        try:
            order = self.book.cancel(account, self.order_by_params(account, params))
        except Reject as exc:
            if exc.kind not in ("not_found", "not_open"):
                raise
            raise Reject("cancel_unknown") from None  # Binance answers -2011 for unknown *and* finished orders
        body = self.order_json(order) | {"origClientOrderId": order.client_id, "transactTime": now_ms(),
                                         "clientOrderId": params.get("newClientOrderId", f"cancel{order.id}")}
        return web.json_response(body)

    async def open_orders(self, request: web.Request) -> web.Response:
        account, params = await self.signed(request)
        symbol = params.get("symbol")
        if symbol:
            self.book.market(symbol)
        return web.json_response([self.order_json(o) for o in self.book.open_orders(account, symbol)])

    async def my_trades(self, request: web.Request) -> web.Response:
        account, params = await self.signed(request)
        if not params.get("symbol"):
            raise Reject("mandatory", "symbol")
        self.book.market(params["symbol"])
        trades = [t for t in self.book.trades(account, params["symbol"])
                  if int(params.get("startTime", 0)) <= t.time <= int(params.get("endTime", 1 << 62))
                  and ("orderId" not in params or t.order_id == int(params["orderId"]))]
        return web.json_response([self.trade_json(t) for t in trades[: int(params.get("limit", 500))]])

    # --- public market data (no signature) ----------------------------------------------------
    def symbol_param(self, request: web.Request) -> str:
        symbol = request.query.get("symbol", "")
        if not symbol:
            raise Reject("mandatory", "symbol")
        self.book.market(symbol)
        return symbol

    async def depth(self, request: web.Request) -> web.Response:
        """``GET /api/v3/depth``: synthetic levels plus open orders, with the book's ``lastUpdateId``."""
        symbol = self.symbol_param(request)
        limit = limit_param(request.query, 100, 5000)
        bids, asks = self.book.depth(symbol)
        return web.json_response({"lastUpdateId": self.depth_ids[symbol],
                                  "bids": [[num(p), num(q)] for p, q in bids[:limit]],
                                  "asks": [[num(p), num(q)] for p, q in asks[:limit]]})

    def ticker(self, symbol: str) -> dict[str, Any]:
        """The 24 h ticker of ``symbol`` with the REST field names (the stream renames them)."""
        now = now_ms()
        stats = Stats.of(self.book.tape(symbol), now)
        bids, asks = self.book.depth(symbol)
        (bid, bid_qty), (ask, ask_qty) = (bids or [(Decimal(0),) * 2])[0], (asks or [(Decimal(0),) * 2])[0]
        trades = stats.trades
        return {
            "symbol": symbol, "priceChange": num(stats.last - stats.open),
            "priceChangePercent": f"{stats.change_percent:.3f}", "weightedAvgPrice": num(stats.weighted_average),
            "prevClosePrice": num(stats.open), "lastPrice": num(stats.last), "lastQty": num(stats.last_qty),
            "bidPrice": num(bid), "bidQty": num(bid_qty), "askPrice": num(ask), "askQty": num(ask_qty),
            "openPrice": num(stats.open), "highPrice": num(stats.high), "lowPrice": num(stats.low),
            "volume": num(stats.volume), "quoteVolume": num(stats.quote_volume), "openTime": stats.open_time,
            "closeTime": stats.close_time, "firstId": trades[0].id if trades else -1,
            "lastId": trades[-1].id if trades else -1, "count": len(trades)}

    async def ticker_24hr(self, request: web.Request) -> web.Response:
        """``GET /api/v3/ticker/24hr?symbol=``: the last 24 hours of the tape, best bid and ask."""
        return web.json_response(self.ticker(self.symbol_param(request)))

    async def agg_trades(self, request: web.Request) -> web.Response:
        """``GET /api/v3/aggTrades``: one aggregate per trade, ``fromId``/``startTime``/``endTime`` inclusive."""
        symbol, query = self.symbol_param(request), request.query
        limit = limit_param(query, 500, 1000)
        tape, from_id = self.book.tape(symbol), int_param(query, "fromId")
        if from_id is not None:
            trades = sorted((t for t in tape if t.id >= from_id), key=lambda t: t.id)[:limit]
        else:
            trades = select(tape, int_param(query, "startTime"), int_param(query, "endTime"), limit)
        return web.json_response([{"a": t.id, "p": num(t.price), "q": num(t.qty), "f": t.id, "l": t.id, "T": t.time,
                                   "m": buyer_is_maker(t), "M": True} for t in trades])

    async def recent_trades(self, request: web.Request) -> web.Response:
        """``GET /api/v3/trades``: the ``limit`` most recent trades, oldest first."""
        symbol = self.symbol_param(request)
        trades = select(self.book.tape(symbol), None, None, limit_param(request.query, 500, 1000))
        return web.json_response([{"id": t.id, "price": num(t.price), "qty": num(t.qty),
                                   "quoteQty": num(t.price * t.qty), "time": t.time, "isBuyerMaker": buyer_is_maker(t),
                                   "isBestMatch": True} for t in trades])

    async def klines(self, request: web.Request) -> web.Response:
        """``GET /api/v3/klines``: candles of the tape (``tests/fakevenue/tape.py`` has the rules)."""
        symbol, query = self.symbol_param(request), request.query
        interval = query.get("interval", "")
        if not interval:
            raise Reject("mandatory", "interval")
        if interval not in INTERVALS_MS:
            raise Reject("interval")
        rows = candles(self.book.tape(symbol), INTERVALS_MS[interval], int_param(query, "startTime"),
                       int_param(query, "endTime"), limit_param(query, 500, 1000), now_ms())
        return web.json_response([[c.open_time, num(c.open), num(c.high), num(c.low), num(c.close), num(c.volume),
                                   c.close_time, num(c.quote_volume), c.count, num(c.taker_buy_volume),
                                   num(c.taker_buy_quote), "0"] for c in rows])
