"""Fake Binance USDⓈ-M futures REST (``/fapi``), as ccxt 4.5.90 ``binance`` calls it for linear perpetuals.

:class:`BinanceFuturesVenue` adds it to the spot fake of ``binance.py``; the venue served as ``binance``
(``binance_ws.BinanceWsVenue``) derives from it, so one fake serves spot, streams and futures on one
port. The state is a separate :class:`~tests.fakevenue.futures_book.FuturesBook` (``venue.futures``:
its own orders, ids from 4,000,000,000, trades, synthetic levels, tape and mark prices; the accounting
rules are in its module docstring); the API keys are the spot fake's and requests are signed and checked
exactly as there (``BinanceVenue.signed``).

Endpoints, and the ccxt call that reaches each (``ccxt/async_support/binance.py``):

- ``GET /fapi/v1/exchangeInfo``: ``load_markets`` with ``options["fetchMarkets"]["types"]`` holding
  ``linear`` (nothing else for linear: leverage brackets are loaded later, by ``fetch_positions``).
  BTCUSDT and ETHUSDT, ``contractType`` PERPETUAL, ``marginAsset`` USDT, PRICE_FILTER (``tickSize``
  0.10 / 0.01), LOT_SIZE and MARKET_LOT_SIZE (``stepSize`` = ``minQty`` = 0.001), MIN_NOTIONAL
  (``notional`` 5): ccxt's ``BTC/USDT:USDT``.
- ``GET /fapi/v1/leverageBracket`` (signed): ``load_leverage_brackets``, called once by
  ``fetch_positions`` (:data:`~tests.fakevenue.futures_book.BRACKETS`).
- ``POST /fapi/v1/positionSide/dual`` ``dualSidePosition=true|false``: ``set_position_mode`` ->
  ``{"code": 200, "msg": "success"}``; -4059 when already so, -4067/-4068 with open orders/positions.
  ``GET`` of it: ``fetch_position_mode`` -> ``{"dualSidePosition": bool}``.
- ``POST /fapi/v1/leverage`` ``symbol, leverage``: ``set_leverage`` -> ``{"leverage", "maxNotionalValue",
  "symbol"}``; -4028 outside 1..the first bracket's leverage, -2027 when a position is above the new
  cap, -2028 when the margin would not cover it.
- ``GET /fapi/v3/account`` (and ``/fapi/v2/account``, ``useV2``): ``fetch_balance({"type": "swap"})``
  (``"future"`` too: both are linear unless ``subType`` says ``inverse``). Totals, ``assets`` (USDT,
  and an untouched USDC row with ``updateTime`` 0, which ccxt skips) and ``positions``.
- ``POST /fapi/v1/order``: ``create_order`` (form body: ``symbol, side, type=LIMIT, timeInForce=GTC,
  quantity, price, newClientOrderId, newOrderRespType=RESULT``, ``positionSide`` passed through from
  params). Only LIMIT orders with GTC or GTX rest here (others: -1116/-1115). Refusals, in order:
  -4060/-4061 (position side vs. the position mode), -1106 (``reduceOnly`` in hedge mode), -4015
  (client id not ``^[.A-Z:/a-z0-9_-]{1,36}$``), -4001/-4003, -4014 (tick), -4023 (step), -4004 (min
  qty), -4116 (client id of an open order), then for a close -2022 ``ReduceOnly Order is rejected.``
  (what Binance answers a hedge-mode close larger than the position), for an open -4164 (min
  notional), -2027 (bracket cap) and -2019 ``Margin is insufficient.``.
- ``GET /fapi/v1/order`` (``orderId`` or ``origClientOrderId``): ``fetch_order`` and
  ``fetch_order_with_client_order_id``; -2013. ``DELETE /fapi/v1/order``: ``cancel_order``; -2011 for
  unknown and finished orders. Unlike spot, the cancel reply's ``clientOrderId`` is the order's own.
- ``GET /fapi/v1/openOrders`` (``symbol`` optional): ``fetch_open_orders``.
- ``GET /fapi/v1/userTrades`` (``symbol`` required; ``orderId``, ``startTime``/``endTime``, ``fromId``,
  ``limit`` <= 1000): ``fetch_my_trades``; ``realizedPnl``, ``commission`` in USDT, ``positionSide``,
  ``buyer``, ``maker``.
- ``GET /fapi/v3/positionRisk`` (``symbol`` optional): ``fetch_positions`` (default method
  ``positionRisk``, v3 unless ``useV2``). As Binance documents v3: only symbols with a position or an
  open order, without ``leverage``/``marginType``; ``GET /fapi/v2/positionRisk`` lists every symbol and
  side with ``leverage``, ``marginType`` "cross", ``isolated`` false, ``maxNotionalValue``.
- public, from the futures book: ``GET /fapi/v1/depth`` (``fetch_order_book``; ``limit`` one of 5, 10,
  20, 50, 100, 500, 1000, default 500, else -4021), ``GET /fapi/v1/ticker/24hr`` (``fetch_ticker``; no
  bid/ask in the futures ticker), ``GET /fapi/v1/aggTrades`` (``fetch_trades``; no ``M`` field),
  ``GET /fapi/v1/trades``, ``GET /fapi/v1/klines`` (``fetch_ohlcv``; ``limit`` <= 1500),
  ``GET /fapi/v1/premiumIndex`` (``fetch_mark_price``; the mark of the futures book, funding 0.01 %),
  ``GET /fapi/v1/ping``, ``GET /fapi/v1/time``.

Control API (besides ``server.py``'s):

- ``POST /_fake/accounts`` takes ``"futures": {"USDT": "1000"}``: the key's futures wallet (replaced,
  like the spot balances; a key without it has an empty wallet).
- ``POST /_fake/fill`` ``{"order_id", "qty"?, "maker"?}`` fills futures orders too (by id).
- ``GET /_fake/orders`` lists the futures orders after the spot ones, each with ``"market": "futures"``.
- ``POST /_fake/book``, ``POST /_fake/trade`` and ``POST /_fake/markets`` with ``"market": "futures"``
  act on the futures book.
- ``POST /_fake/mark`` ``{"symbol", "price"}`` sets the mark price (``null`` clears it: the last trade
  is the mark again) -> ``{"symbol", "markPrice"}``.
- ``GET /_fake/futures?key=`` -> ``{"dual", "wallet", "unrealized", "margin_balance",
  "position_margin", "order_margin", "maint_margin", "available", "leverage": {symbol: n},
  "positions": [{"symbol", "side", "qty", "entry", "mark", "unrealized", "liquidation"}]}``.

:class:`FuturesControl` drives these over HTTP.
"""

from __future__ import annotations

import re
import secrets
from decimal import Decimal
from typing import Any

from aiohttp import web

from tests.fakevenue.binance import ERRORS, STATUS, BinanceVenue, int_param, limit_param, num
from tests.fakevenue.book import Account, Change, Market, Reject, buyer_is_maker, now_ms
from tests.fakevenue.control_http import HttpControl
from tests.fakevenue.futures_book import (
    MARGIN_ASSET,
    FuturesBook,
    FuturesOrder,
    FuturesTrade,
    PositionRisk,
    Wallet,
)
from tests.fakevenue.server import Handler, dec, plain
from tests.fakevenue.tape import INTERVALS_MS, Stats, candles, select

ZERO = Decimal(0)
CLIENT_ID = re.compile(r"[.A-Z:/a-z0-9_-]{1,36}")
DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)
FUNDING_MS = 8 * 3_600_000
# Reject.kind -> (HTTP status, code, msg) for /fapi: the spot table with the futures codes over it
# (msgs from Binance's USDⓈ-M "Error Codes" page)
FUTURES_ERRORS: dict[str, tuple[int, int, str]] = ERRORS | {
    "price_zero": (400, -4001, "Price less than 0."),
    "qty_zero": (400, -4003, "Quantity less than zero."),
    "tick": (400, -4014, "Price not increased by tick size."),
    "lot": (400, -4023, "Qty not increased by step size."),
    "min_qty": (400, -4004, "Quantity less than min quantity."),
    "min_notional": (400, -4164, "Order's notional must be no smaller than {} (unless you choose reduce only)."),
    "margin": (400, -2019, "Margin is insufficient."),
    "reduce_only": (400, -2022, "ReduceOnly Order is rejected."),
    "max_position": (400, -2027, "Exceeded the maximum allowable position at current leverage."),
    "leverage_margin": (400, -2028, "Leverage is smaller than permitted: insufficient margin balance."),
    "duplicate": (400, -4116, "clientOrderId is duplicated."),
    "client_id": (400, -4015, "Client order id is not valid."),
    "no_need_dual": (400, -4059, "No need to change position side."),
    "dual_open_orders": (400, -4067, "Position side cannot be changed if there exists open orders."),
    "dual_position": (400, -4068, "Position side cannot be changed if there exists position."),
    "bad_position_side": (400, -4060, "Invalid position side."),
    "position_side": (400, -4061, "Order's position side does not match user's setting."),
    "not_required": (400, -1106, "Parameter '{}' sent when not required."),
    "leverage": (400, -4028, "Leverage {} is not valid"),
    "depth_limit": (400, -4021, "Invalid depth limit."),
    "tif": (400, -1115, "Invalid timeInForce."),
    "order_type": (400, -1116, "Invalid orderType."),
    "side": (400, -1117, "Invalid side."),
    "resp_type": (400, -1136, "Invalid newOrderRespType."),
}


def digits(step: Decimal) -> int:
    """Decimal places of a tick or step (``0.001`` -> 3)."""
    return max(0, -int(step.normalize().as_tuple().exponent))


def fixed(value: Decimal, places: int) -> str:
    return f"{value:.{places}f}"


class BinanceFuturesVenue(BinanceVenue):
    """The spot fake of ``binance.py`` plus the USDⓈ-M futures REST API on the same app."""

    def __init__(self, markets: dict[str, Market] | None = None,
                 contracts: dict[str, Market] | None = None) -> None:
        super().__init__(markets)
        self.futures = FuturesBook(contracts or self.default_contracts())
        self.futures_depth_ids = dict.fromkeys(self.futures.markets, 1)
        self.futures.listeners.append(self._count_futures_depth)

    def default_contracts(self) -> dict[str, Market]:
        return {
            "BTCUSDT": Market("BTC", "USDT", Decimal("0.10"), Decimal("0.001"), Decimal("0.001"), Decimal("5")),
            "ETHUSDT": Market("ETH", "USDT", Decimal("0.01"), Decimal("0.001"), Decimal("0.001"), Decimal("5")),
        }

    def _count_futures_depth(self, change: Change) -> None:
        if change.kind != "trade":
            self.futures_depth_ids[change.symbol] = self.futures_depth_ids.get(change.symbol, 0) + 1

    def routes(self) -> list[web.RouteDef]:
        return [
            *super().routes(),
            web.get("/fapi/v1/ping", self.ping),
            web.get("/fapi/v1/time", self.time),
            web.get("/fapi/v1/exchangeInfo", self.f_exchange_info),
            web.get("/fapi/v1/leverageBracket", self.f_leverage_bracket),
            web.get("/fapi/v1/positionSide/dual", self.f_get_dual),
            web.post("/fapi/v1/positionSide/dual", self.f_set_dual),
            web.post("/fapi/v1/leverage", self.f_leverage),
            web.get("/fapi/v2/account", self.f_account),
            web.get("/fapi/v3/account", self.f_account),
            web.post("/fapi/v1/order", self.f_new_order),
            web.get("/fapi/v1/order", self.f_query_order),
            web.delete("/fapi/v1/order", self.f_cancel_order),
            web.get("/fapi/v1/openOrders", self.f_open_orders),
            web.get("/fapi/v1/userTrades", self.f_user_trades),
            web.get("/fapi/v2/positionRisk", self.f_position_risk),
            web.get("/fapi/v3/positionRisk", self.f_position_risk),
            web.get("/fapi/v1/depth", self.f_depth),
            web.get("/fapi/v1/ticker/24hr", self.f_ticker_24hr),
            web.get("/fapi/v1/aggTrades", self.f_agg_trades),
            web.get("/fapi/v1/trades", self.f_recent_trades),
            web.get("/fapi/v1/klines", self.f_klines),
            web.get("/fapi/v1/premiumIndex", self.f_premium_index),
            web.post("/_fake/mark", self._set_mark),
            web.get("/_fake/futures", self._futures_state),
        ]

    async def _apply(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/fapi/"):
            return await super()._apply(request, handler)
        try:
            return await handler(request)  # type: ignore[no-any-return]
        except Reject as exc:
            status, code, msg = FUTURES_ERRORS[exc.kind]
            return web.json_response({"code": code, "msg": msg.format(exc.detail)}, status=status)

    # -- rendering ---------------------------------------------------------------------------
    def precision(self, symbol: str) -> tuple[int, int]:
        """``(pricePrecision, quantityPrecision)`` as Binance lists them (BTCUSDT: 2 and 3)."""
        market = self.futures.market(symbol)
        return max(2, digits(market.tick)), digits(market.step)

    @staticmethod
    def f_order_json(order: FuturesOrder, *, reply: bool = False) -> dict[str, Any]:
        """An order as ``GET /fapi/v1/order`` shows it; ``reply``: as placement and cancel replies do
        (``cumQty``, no ``time``)."""
        body: dict[str, Any] = {
            "orderId": order.id, "symbol": order.symbol, "status": STATUS[order.status],
            "clientOrderId": order.client_id, "price": dec(order.price), "avgPrice": fixed(order.average, 5),
            "origQty": dec(order.qty), "executedQty": dec(order.filled), "cumQuote": dec(order.quote_filled),
            "timeInForce": "GTC", "type": "LIMIT", "reduceOnly": order.reduce_only, "closePosition": False,
            "side": order.side.upper(), "positionSide": order.position_side, "stopPrice": "0",
            "workingType": "CONTRACT_PRICE", "priceProtect": False, "origType": "LIMIT", "priceMatch": "NONE",
            "selfTradePreventionMode": "EXPIRE_MAKER", "goodTillDate": 0,
        }
        if reply:
            body["cumQty"] = dec(order.filled)
        else:
            body["time"] = order.created
        body["updateTime"] = order.updated
        return body

    @staticmethod
    def f_trade_json(trade: FuturesTrade) -> dict[str, Any]:
        return {
            "buyer": trade.side == "buy", "commission": num(trade.fee), "commissionAsset": trade.fee_asset,
            "id": trade.id, "maker": trade.maker, "orderId": trade.order_id, "price": dec(trade.price),
            "qty": dec(trade.qty), "quoteQty": dec(trade.price * trade.qty), "realizedPnl": num(trade.realized_pnl),
            "side": trade.side.upper(), "positionSide": trade.position_side, "symbol": trade.symbol,
            "time": trade.time,
        }

    def position_rows(self, wallet: Wallet, symbol: str | None, *, every: bool) -> list[dict[str, Any]]:
        """positionRisk rows: v3 (``every`` False) shows the sides with a position or an open order,
        v2 (``every``) every symbol and side of the position mode, with leverage and margin type."""
        risk = self.futures.risk(wallet)
        by_leg = {(r.position.symbol, r.position.side): r for r in risk.positions}
        ordered = {(o.symbol, o.position_side) for o in self.futures.open_orders_of(wallet.key)}
        sides = ("LONG", "SHORT") if wallet.dual else ("BOTH",)
        rows = []
        for sym in self.futures.markets:
            if symbol not in (None, sym):
                continue
            for side in sides:
                leg = by_leg.get((sym, side))
                if not every and leg is None and (sym, side) not in ordered:
                    continue
                rows.append(self._position_row(wallet, sym, side, leg, every=every))
        return rows

    def _position_row(self, wallet: Wallet, symbol: str, side: str, leg: PositionRisk | None,
                      *, every: bool) -> dict[str, Any]:
        _, qty_places = self.precision(symbol)
        position = wallet.position(symbol, side)
        mark = self.futures.mark(symbol) or ZERO
        open_im = sum(((o.qty - o.filled) * o.price for o in self.futures.open_orders_of(wallet.key)
                       if o.symbol == symbol and o.position_side == side and o.opens), ZERO)
        leverage = self.futures.leverage(wallet, symbol)
        row: dict[str, Any] = {
            "symbol": symbol, "positionSide": side, "positionAmt": fixed(position.amount, qty_places),
            "entryPrice": dec(position.entry), "breakEvenPrice": dec(position.entry),
            "markPrice": num(leg.mark if leg else mark), "unRealizedProfit": num(leg.unrealized if leg else ZERO),
            "liquidationPrice": num(leg.liquidation) if leg and leg.liquidation else "0",
            "isolatedMargin": "0", "notional": num(leg.notional if leg else ZERO), "marginAsset": MARGIN_ASSET,
            "isolatedWallet": "0", "updateTime": position.updated,
        }
        if every:
            row |= {"leverage": str(leverage), "maxNotionalValue": dec(self.futures.max_notional(symbol, leverage)),
                    "marginType": "cross", "isAutoAddMargin": "false", "isolated": False, "adlQuantile": 0}
        else:
            row |= {"initialMargin": num((leg.initial if leg else ZERO) + open_im / leverage),
                    "maintMargin": num(leg.maint if leg else ZERO),
                    "positionInitialMargin": num(leg.initial if leg else ZERO),
                    "openOrderInitialMargin": num(open_im / leverage), "adl": 0, "bidNotional": "0",
                    "askNotional": "0"}
        return row

    # -- helpers ---------------------------------------------------------------------------
    def f_symbol(self, params: Any, *, required: bool = True) -> str | None:
        symbol = params.get("symbol") or None
        if symbol is None:
            if required:
                raise Reject("mandatory", "symbol")
            return None
        self.futures.market(symbol)
        return str(symbol)

    def f_order_by_params(self, account: Account, params: dict[str, str]) -> FuturesOrder:
        symbol = self.f_symbol(params) or ""
        if params.get("orderId"):
            order = self.futures.find(account, symbol, order_id=int_param(params, "orderId"))
        elif params.get("origClientOrderId"):
            order = self.futures.find(account, symbol, client_id=params["origClientOrderId"])
        else:
            raise Reject("mandatory", "orderId")
        assert isinstance(order, FuturesOrder)
        return order

    # -- private endpoints -------------------------------------------------------------------
    async def f_leverage_bracket(self, request: web.Request) -> web.Response:
        _, params = await self.signed(request)
        symbol = self.f_symbol(params, required=False)
        return web.json_response([
            {"symbol": sym, "notionalCoef": 1.5, "brackets": [
                {"bracket": b.number, "initialLeverage": b.initial_leverage, "notionalCap": int(b.cap),
                 "notionalFloor": int(b.floor), "maintMarginRatio": float(b.mmr), "cum": float(b.cum)}
                for b in tiers]}
            for sym, tiers in self.futures.tiers.items() if symbol in (None, sym)])

    async def f_get_dual(self, request: web.Request) -> web.Response:
        account, _ = await self.signed(request)
        return web.json_response({"dualSidePosition": self.futures.wallet(account.key).dual})

    async def f_set_dual(self, request: web.Request) -> web.Response:
        account, params = await self.signed(request)
        value = params.get("dualSidePosition", "").lower()
        if value not in ("true", "false"):
            raise Reject("mandatory", "dualSidePosition")
        self.futures.set_dual(account.key, value == "true")
        return web.json_response({"code": 200, "msg": "success"})

    async def f_leverage(self, request: web.Request) -> web.Response:
        account, params = await self.signed(request)
        symbol = self.f_symbol(params) or ""
        leverage = int_param(params, "leverage")
        if leverage is None:
            raise Reject("mandatory", "leverage")
        self.futures.set_leverage(account.key, symbol, leverage)
        return web.json_response({"leverage": leverage, "symbol": symbol,
                                  "maxNotionalValue": dec(self.futures.max_notional(symbol, leverage))})

    async def f_account(self, request: web.Request) -> web.Response:
        account, _ = await self.signed(request)
        wallet = self.futures.wallet(account.key)
        risk = self.futures.risk(wallet)
        totals = {
            "totalInitialMargin": num(risk.initial), "totalMaintMargin": num(risk.maint),
            "totalWalletBalance": num(risk.wallet), "totalUnrealizedProfit": num(risk.unrealized),
            "totalMarginBalance": num(risk.margin_balance), "totalPositionInitialMargin": num(risk.position_initial),
            "totalOpenOrderInitialMargin": num(risk.order_initial), "totalCrossWalletBalance": num(risk.wallet),
            "totalCrossUnPnl": num(risk.unrealized), "availableBalance": num(risk.available),
            "maxWithdrawAmount": num(max(ZERO, min(risk.available, risk.wallet))),
        }
        usdt = {"asset": MARGIN_ASSET, "walletBalance": totals["totalWalletBalance"],
                "unrealizedProfit": totals["totalUnrealizedProfit"], "marginBalance": totals["totalMarginBalance"],
                "maintMargin": totals["totalMaintMargin"], "initialMargin": totals["totalInitialMargin"],
                "positionInitialMargin": totals["totalPositionInitialMargin"],
                "openOrderInitialMargin": totals["totalOpenOrderInitialMargin"],
                "crossWalletBalance": totals["totalWalletBalance"], "crossUnPnl": totals["totalUnrealizedProfit"],
                "availableBalance": totals["availableBalance"], "maxWithdrawAmount": totals["maxWithdrawAmount"],
                "marginAvailable": True, "updateTime": wallet.updated}
        untouched = {key: num(ZERO) if isinstance(value, str) else value for key, value in usdt.items()}
        untouched |= {"asset": "USDC", "updateTime": 0}
        positions = [{k: row[k] for k in ("symbol", "positionSide", "positionAmt", "unRealizedProfit", "isolatedMargin",
                                           "notional", "isolatedWallet", "initialMargin", "maintMargin", "updateTime")}
                     for row in self.position_rows(wallet, None, every=False)]
        for position in positions:
            position["unrealizedProfit"] = position.pop("unRealizedProfit")
        body: dict[str, Any] = totals | {"assets": [usdt, untouched], "positions": positions}
        if request.path.startswith("/fapi/v2/"):
            body = {"feeTier": 0, "canTrade": True, "canDeposit": True, "canWithdraw": True,
                    "updateTime": 0, "multiAssetsMargin": False, "tradeGroupId": -1} | body
        return web.json_response(body)

    async def f_new_order(self, request: web.Request) -> web.Response:
        account, params = await self.signed(request)
        for name in ("symbol", "side", "type"):
            if not params.get(name):
                raise Reject("mandatory", name)
        symbol = self.f_symbol(params) or ""
        side = params["side"].lower()
        if side not in ("buy", "sell"):
            raise Reject("side")
        if params["type"] != "LIMIT":
            raise Reject("order_type")  # this fake only rests limit orders (no matching engine)
        for name in ("timeInForce", "quantity", "price"):
            if not params.get(name):
                raise Reject("mandatory", name)
        if params["timeInForce"] not in ("GTC", "GTX"):
            raise Reject("tif")
        if params.get("newOrderRespType", "ACK") not in ("ACK", "RESULT"):
            raise Reject("resp_type")
        wallet = self.futures.wallet(account.key)
        position_side = params.get("positionSide", "BOTH")
        if position_side not in ("BOTH", "LONG", "SHORT"):
            raise Reject("bad_position_side")
        if (position_side != "BOTH") != wallet.dual:
            raise Reject("position_side")
        if wallet.dual and "reduceOnly" in params:
            raise Reject("not_required", "reduceOnly")
        client_id = params.get("newClientOrderId") or secrets.token_hex(11)
        if not CLIENT_ID.fullmatch(client_id):
            raise Reject("client_id")
        try:
            price, qty = Decimal(params["price"]), Decimal(params["quantity"])
        except ArithmeticError:
            raise Reject("mandatory", "price") from None
        order = self.futures.place_order(account, symbol, side, position_side, price, qty, client_id,
                                         reduce_only=params.get("reduceOnly", "").lower() == "true")
        return web.json_response(self.f_order_json(order, reply=True))

    async def f_query_order(self, request: web.Request) -> web.Response:
        account, params = await self.signed(request)
        return web.json_response(self.f_order_json(self.f_order_by_params(account, params)))

    async def f_cancel_order(self, request: web.Request) -> web.Response:
        account, params = await self.signed(request)
        try:
            order = self.futures.cancel(account, self.f_order_by_params(account, params))
        except Reject as exc:
            if exc.kind not in ("not_found", "not_open"):
                raise
            raise Reject("cancel_unknown") from None
        assert isinstance(order, FuturesOrder)
        return web.json_response(self.f_order_json(order, reply=True))

    async def f_open_orders(self, request: web.Request) -> web.Response:
        account, params = await self.signed(request)
        symbol = self.f_symbol(params, required=False)
        return web.json_response([self.f_order_json(o) for o in self.futures.open_orders_of(account.key)
                                  if symbol in (None, o.symbol)])

    async def f_user_trades(self, request: web.Request) -> web.Response:
        account, params = await self.signed(request)
        symbol = self.f_symbol(params)
        limit = limit_param(params, 500, 1000)
        trades = [t for t in self.futures.trades(account, symbol) if isinstance(t, FuturesTrade)]
        order_id, from_id = int_param(params, "orderId"), int_param(params, "fromId")
        if order_id is not None:
            trades = [t for t in trades if t.order_id == order_id][:limit]
        elif from_id is not None:
            trades = [t for t in trades if t.id >= from_id][:limit]
        else:
            trades = select(trades, int_param(params, "startTime"), int_param(params, "endTime"), limit)
        return web.json_response([self.f_trade_json(t) for t in trades if isinstance(t, FuturesTrade)])

    async def f_position_risk(self, request: web.Request) -> web.Response:
        account, params = await self.signed(request)
        symbol = self.f_symbol(params, required=False)
        wallet = self.futures.wallet(account.key)
        return web.json_response(self.position_rows(wallet, symbol, every=request.path.startswith("/fapi/v2/")))

    # -- public endpoints --------------------------------------------------------------------
    async def f_exchange_info(self, request: web.Request) -> web.Response:
        now = now_ms()
        symbols = []
        for sid, m in self.futures.markets.items():
            price_places, qty_places = self.precision(sid)
            symbols.append({
                "symbol": sid, "pair": sid, "contractType": "PERPETUAL", "deliveryDate": 4133404800000,
                "onboardDate": 1569398400000, "status": "TRADING", "maintMarginPercent": "2.5000",
                "requiredMarginPercent": "5.0000", "baseAsset": m.base, "quoteAsset": m.quote,
                "marginAsset": MARGIN_ASSET, "pricePrecision": price_places, "quantityPrecision": qty_places,
                "baseAssetPrecision": 8, "quotePrecision": 8, "underlyingType": "COIN",
                "underlyingSubType": ["PoW"], "settlePlan": 0, "triggerProtect": "0.0500",
                "liquidationFee": "0.012500", "marketTakeBound": "0.05", "maxMoveOrderLimit": 10000,
                "filters": [
                    {"filterType": "PRICE_FILTER", "minPrice": fixed(m.tick, price_places), "maxPrice": "4529764",
                     "tickSize": fixed(m.tick, price_places)},
                    {"filterType": "LOT_SIZE", "stepSize": fixed(m.step, qty_places), "maxQty": "1000",
                     "minQty": fixed(m.min_qty, qty_places)},
                    {"filterType": "MARKET_LOT_SIZE", "stepSize": fixed(m.step, qty_places), "maxQty": "120",
                     "minQty": fixed(m.min_qty, qty_places)},
                    {"filterType": "MAX_NUM_ORDERS", "limit": 200},
                    {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
                    {"filterType": "MIN_NOTIONAL", "notional": dec(m.min_notional)},
                    {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500",
                     "multiplierDecimal": "4"},
                ],
                "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET",
                               "TRAILING_STOP_MARKET"],
                "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"], "permissionSets": ["GRID", "COPY"],
            })
        return web.json_response({
            "timezone": "UTC", "serverTime": now, "futuresType": "U_MARGINED", "rateLimits": [],
            "exchangeFilters": [], "assets": [{"asset": MARGIN_ASSET, "marginAvailable": True,
                                              "autoAssetExchange": "-10000"}],
            "symbols": symbols})

    async def f_depth(self, request: web.Request) -> web.Response:
        symbol = self.f_symbol(request.query) or ""
        limit = int_param(request.query, "limit", 500)
        if limit not in DEPTH_LIMITS:
            raise Reject("depth_limit")
        bids, asks = self.futures.depth(symbol)
        now = now_ms()
        return web.json_response({"lastUpdateId": self.futures_depth_ids[symbol], "E": now, "T": now,
                                  "bids": [[dec(p), dec(q)] for p, q in bids[:limit]],
                                  "asks": [[dec(p), dec(q)] for p, q in asks[:limit]]})

    async def f_ticker_24hr(self, request: web.Request) -> web.Response:
        symbol = self.f_symbol(request.query) or ""
        stats = Stats.of(self.futures.tape(symbol), now_ms())
        trades = stats.trades
        return web.json_response({
            "symbol": symbol, "priceChange": dec(stats.last - stats.open),
            "priceChangePercent": f"{stats.change_percent:.3f}", "weightedAvgPrice": num(stats.weighted_average),
            "lastPrice": dec(stats.last), "lastQty": dec(stats.last_qty), "openPrice": dec(stats.open),
            "highPrice": dec(stats.high), "lowPrice": dec(stats.low), "volume": dec(stats.volume),
            "quoteVolume": dec(stats.quote_volume), "openTime": stats.open_time, "closeTime": stats.close_time,
            "firstId": trades[0].id if trades else -1, "lastId": trades[-1].id if trades else -1,
            "count": len(trades)})

    async def f_agg_trades(self, request: web.Request) -> web.Response:
        symbol, query = self.f_symbol(request.query) or "", request.query
        limit = limit_param(query, 500, 1000)
        tape, from_id = self.futures.tape(symbol), int_param(query, "fromId")
        if from_id is not None:
            trades = sorted((t for t in tape if t.id >= from_id), key=lambda t: t.id)[:limit]
        else:
            trades = select(tape, int_param(query, "startTime"), int_param(query, "endTime"), limit)
        return web.json_response([{"a": t.id, "p": dec(t.price), "q": dec(t.qty), "f": t.id, "l": t.id, "T": t.time,
                                   "m": buyer_is_maker(t)} for t in trades])

    async def f_recent_trades(self, request: web.Request) -> web.Response:
        symbol = self.f_symbol(request.query) or ""
        trades = select(self.futures.tape(symbol), None, None, limit_param(request.query, 500, 1000))
        return web.json_response([{"id": t.id, "price": dec(t.price), "qty": dec(t.qty),
                                   "quoteQty": dec(t.price * t.qty), "time": t.time,
                                   "isBuyerMaker": buyer_is_maker(t)} for t in trades])

    async def f_klines(self, request: web.Request) -> web.Response:
        symbol, query = self.f_symbol(request.query) or "", request.query
        interval = query.get("interval", "")
        if not interval:
            raise Reject("mandatory", "interval")
        if interval not in INTERVALS_MS:
            raise Reject("interval")
        rows = candles(self.futures.tape(symbol), INTERVALS_MS[interval], int_param(query, "startTime"),
                       int_param(query, "endTime"), limit_param(query, 500, 1500), now_ms())
        return web.json_response([[c.open_time, dec(c.open), dec(c.high), dec(c.low), dec(c.close), dec(c.volume),
                                   c.close_time, dec(c.quote_volume), c.count, dec(c.taker_buy_volume),
                                   dec(c.taker_buy_quote), "0"] for c in rows])

    def premium_index(self, symbol: str) -> dict[str, Any]:
        now = now_ms()
        mark = num(self.futures.mark(symbol) or ZERO)
        return {"symbol": symbol, "markPrice": mark, "indexPrice": mark, "estimatedSettlePrice": mark,
                "lastFundingRate": "0.00010000", "interestRate": "0.00010000",
                "nextFundingTime": (now // FUNDING_MS + 1) * FUNDING_MS, "time": now}

    async def f_premium_index(self, request: web.Request) -> web.Response:
        symbol = self.f_symbol(request.query, required=False)
        if symbol is not None:
            return web.json_response(self.premium_index(symbol))
        return web.json_response([self.premium_index(s) for s in self.futures.markets])

    # -- control -----------------------------------------------------------------------------
    async def _add_account(self, request: web.Request) -> web.Response:
        spec = await request.json()
        response = await super()._add_account(request)  # aiohttp keeps the body: it reads it again
        self.futures.wallets.pop(spec["key"], None)
        self.futures.fund(spec["key"], spec.get("futures") or {})
        return response

    async def _fill(self, request: web.Request) -> web.Response:
        spec = await request.json()
        if int(spec["order_id"]) not in self.futures.orders:
            return await super()._fill(request)
        qty = spec.get("qty")
        trade = self.futures.fill(int(spec["order_id"]), None if qty is None else Decimal(qty),
                                  maker=spec.get("maker", True))
        return web.json_response(plain(trade))

    async def _orders(self, request: web.Request) -> web.Response:
        key = request.query.get("key")
        spot = [plain(o) for o in self.book.orders.values() if key in (None, o.key)]
        futures = [plain(o) | {"market": "futures"} for o in self.futures.orders.values() if key in (None, o.key)]
        return web.json_response(spot + futures)

    async def _set_book(self, request: web.Request) -> web.Response:
        spec = await request.json()
        if spec.get("market") != "futures":
            return await super()._set_book(request)
        self.futures.set_levels(spec["symbol"], *([(Decimal(p), Decimal(q)) for p, q in spec.get(side, [])]
                                                  for side in ("bids", "asks")))
        bids, asks = self.futures.depth(spec["symbol"])
        return web.json_response({"bids": [[dec(p), dec(q)] for p, q in bids],
                                  "asks": [[dec(p), dec(q)] for p, q in asks]})

    async def _public_trade(self, request: web.Request) -> web.Response:
        spec = await request.json()
        if spec.get("market") != "futures":
            return await super()._public_trade(request)
        time_ms = spec.get("time")
        trade = self.futures.public_trade(spec["symbol"], Decimal(spec["price"]), Decimal(spec["qty"]),
                                          spec.get("side", "buy"), None if time_ms is None else int(time_ms))
        return web.json_response(plain(trade))

    async def _set_market(self, request: web.Request) -> web.Response:
        spec = await request.json()
        if spec.pop("market", None) != "futures":
            return await super()._set_market(request)
        market = self.futures.market(spec.pop("symbol"))
        for name, value in spec.items():
            setattr(market, name, Decimal(value))
        return web.json_response(plain(market))

    async def _set_mark(self, request: web.Request) -> web.Response:
        spec = await request.json()
        price = spec.get("price")
        self.futures.set_mark(spec["symbol"], None if price is None else Decimal(price))
        mark = self.premium_index(spec["symbol"])["markPrice"]
        return web.json_response({"symbol": spec["symbol"], "markPrice": mark})

    async def _futures_state(self, request: web.Request) -> web.Response:
        wallet = self.futures.wallet(request.query["key"])
        risk = self.futures.risk(wallet)
        return web.json_response({
            "dual": wallet.dual, "wallet": dec(risk.wallet), "unrealized": dec(risk.unrealized),
            "margin_balance": dec(risk.margin_balance), "position_margin": dec(risk.position_initial),
            "order_margin": dec(risk.order_initial), "maint_margin": dec(risk.maint), "available": dec(risk.available),
            "leverage": {s: self.futures.leverage(wallet, s) for s in self.futures.markets},
            "positions": [{"symbol": r.position.symbol, "side": r.position.side, "qty": dec(r.position.amount),
                           "entry": dec(r.position.entry), "mark": dec(r.mark), "unrealized": dec(r.unrealized),
                           "liquidation": dec(r.liquidation)} for r in risk.positions],
        })


class FuturesControl(HttpControl):
    """The futures part of the control API over HTTP (works across processes); fills and the order
    list go through :class:`~tests.fakevenue.runner.Control` as for spot."""

    async def add_account(self, key: str, secret: str, futures: dict[str, str] | None = None,
                          balances: dict[str, str] | None = None) -> Any:
        """An API key with spot ``balances`` and a futures wallet (``{"USDT": "1000"}``)."""
        return await self._call("POST", "accounts", {"key": key, "secret": secret, "balances": balances or {},
                                                     "futures": futures or {}})

    async def set_mark(self, symbol: str, price: str | None) -> Any:
        return await self._call("POST", "mark", {"symbol": symbol, "price": price})

    async def state(self, key: str) -> dict[str, Any]:
        return await self._call("GET", "futures", key=key)  # type: ignore[no-any-return]

    async def set_book(self, symbol: str, bids: list[tuple[str, str]] | None = None,
                       asks: list[tuple[str, str]] | None = None) -> Any:
        return await self._call("POST", "book", {"symbol": symbol, "bids": bids or [], "asks": asks or [],
                                                 "market": "futures"})

    async def public_trade(self, symbol: str, price: str, qty: str, side: str = "buy", *,
                           time: int | None = None) -> Any:
        return await self._call("POST", "trade", {"symbol": symbol, "price": price, "qty": qty, "side": side,
                                                  "time": time, "market": "futures"})

    async def set_market(self, symbol: str, **filters: str) -> Any:
        return await self._call("POST", "markets", {"symbol": symbol, "market": "futures", **filters})
