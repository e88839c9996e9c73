"""Fake Binance SPOT REST API (``/api/v3``), as ccxt 4.5.90 ``binance`` calls it.

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
"""

from __future__ import annotations

import hashlib
import hmac
import re
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from tests.fakevenue.book import Account, Market, Order, Reject, Trade, now_ms
from tests.fakevenue.server import FakeVenue

STATUS = {"new": "NEW", "partial": "PARTIALLY_FILLED", "filled": "FILLED", "canceled": "CANCELED"}
# Reject.kind -> (HTTP status, Binance code, msg); msgs verbatim from Binance's errors.md
ERRORS: dict[str, tuple[int, int, str]] = {
    "tick": (400, -1013, "Filter failure: PRICE_FILTER"),
    "lot": (400, -1013, "Filter failure: LOT_SIZE"),
    "min_qty": (400, -1013, "Filter failure: LOT_SIZE"),
    "min_notional": (400, -1013, "Filter failure: MIN_NOTIONAL"),
    "insufficient": (400, -2010, "Account has insufficient balance for requested action."),
    "duplicate": (400, -2010, "Duplicate order sent."),
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
}
_SIGNATURE = re.compile(r"&?signature=([^&]*)")


def num(value: Decimal) -> str:
    """Binance prints amounts with 8 decimals (``"0.00100000"``)."""
    return f"{value:.8f}"


class BinanceVenue(FakeVenue):
    kind = "binance"

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
        ]

    def reject(self, exc: Reject) -> web.Response:
        status, code, msg = ERRORS[exc.kind]
        return web.json_response({"code": code, "msg": msg.format(exc.detail)}, status=status)

    # -- authentication ----------------------------------------------------------------------
    async def signed(self, request: web.Request) -> tuple[Account, dict[str, str]]:
        """Check a SIGNED request the way Binance does; return the account and all parameters."""
        key = request.headers.get("X-MBX-APIKEY", "")
        if not re.fullmatch(r"[A-Za-z0-9]{64}", key):
            raise Reject("key_format")
        account = self.account(key)
        if account is None:
            raise Reject("key")
        query, body = request.rel_url.raw_query_string, await request.text()
        params = dict(parse_qsl(query, keep_blank_values=True)) | dict(parse_qsl(body, keep_blank_values=True))
        for name in ("timestamp", "signature"):
            if not params.get(name):
                raise Reject("mandatory", name)
        signed_part = _SIGNATURE.sub("", query) + _SIGNATURE.sub("", body)
        expected = hmac.new(account.secret.encode(), signed_part.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, params["signature"].lower()):
            raise Reject("signature")
        recv_window, server_time, timestamp = int(params.get("recvWindow", 5000)), now_ms(), int(params["timestamp"])
        if recv_window > 60000:
            raise Reject("recv_window_max")
        if timestamp >= server_time + 1000:
            raise Reject("ahead")
        if server_time - timestamp > recv_window:
            raise Reject("recv_window")
        return account, params

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
            "cummulativeQuoteQty": num(order.quote_filled), "status": STATUS[order.status], "timeInForce": "GTC",
            "type": "LIMIT", "side": order.side.upper(), "stopPrice": num(Decimal(0)), "icebergQty": num(Decimal(0)),
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
        for name in ("symbol", "side", "type", "quantity", "price", "timeInForce"):
            if not params.get(name):
                raise Reject("mandatory", name)
        if params["type"] != "LIMIT":
            raise Reject("mandatory", "type")  # this fake only rests GTC limit orders
        order = self.book.place(account, params["symbol"], params["side"].lower(), Decimal(params["price"]),
                                Decimal(params["quantity"]), params.get("newClientOrderId") or f"fake{now_ms()}")
        body = self.order_json(order) | {"transactTime": order.created, "fills": []}
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

    # --- public market data (no signature), from the fake's own orders and trades -----------
    async def depth(self, request: web.Request) -> web.Response:
        """``GET /api/v3/depth``: the open orders of every account, by price level."""
        symbol = request.query.get("symbol", "")
        self.book.market(symbol)
        limit = int(request.query.get("limit", 100))
        levels: dict[str, dict[Decimal, Decimal]] = {"buy": {}, "sell": {}}
        for o in self.book.orders.values():
            if o.symbol == symbol and o.is_open:
                levels[o.side][o.price] = levels[o.side].get(o.price, Decimal(0)) + o.qty - o.filled
        bids = sorted(levels["buy"].items(), reverse=True)[:limit]
        asks = sorted(levels["sell"].items())[:limit]
        return web.json_response({"lastUpdateId": len(self.seen), "bids": [[num(p), num(q)] for p, q in bids],
                                  "asks": [[num(p), num(q)] for p, q in asks]})

    async def ticker_24hr(self, request: web.Request) -> web.Response:
        """``GET /api/v3/ticker/24hr?symbol=``: the last 24 hours of the fake's trades."""
        symbol = request.query.get("symbol", "")
        self.book.market(symbol)
        now = now_ms()
        trades = sorted((t for o in self.book.orders.values() if o.symbol == symbol for t in o.trades
                         if t.time >= now - 86_400_000), key=lambda t: (t.time, t.id))
        prices = [t.price for t in trades] or [Decimal(0)]
        volume = sum((t.qty for t in trades), Decimal(0))
        return web.json_response({
            "symbol": symbol, "priceChange": num(prices[-1] - prices[0]), "priceChangePercent": "0.000",
            "weightedAvgPrice": num(prices[-1]), "prevClosePrice": num(prices[0]), "lastPrice": num(prices[-1]),
            "lastQty": num(trades[-1].qty if trades else Decimal(0)), "bidPrice": "0.00000000", "bidQty": "0.00000000",
            "askPrice": "0.00000000", "askQty": "0.00000000", "openPrice": num(prices[0]),
            "highPrice": num(max(prices)), "lowPrice": num(min(prices)), "volume": num(volume),
            "quoteVolume": num(sum((t.qty * t.price for t in trades), Decimal(0))), "openTime": now - 86_400_000,
            "closeTime": now, "firstId": trades[0].id if trades else -1, "lastId": trades[-1].id if trades else -1,
            "count": len(trades)})
