"""Fake Bitfinex v2 REST API (spot pairs, the ``exchange`` wallet), as ccxt 4.5.90 ``bitfinex`` calls it.

Endpoints as read in ``ccxt/async_support/bitfinex.py`` (``sign`` puts every call under ``/v2/``; public
ones on ``api-pub.bitfinex.com``, private ones on ``api.bitfinex.com``, both moved here by
``make_exchange``'s ``rest_url``): ``load_markets`` -> ``fetch_currencies`` (``GET /v2/conf/`` with eleven
comma-joined labels: ``pub:list:currency``, ``pub:map:currency:sym|label|unit|undl|pool|explorer|tx:fee``,
``pub:map:tx:method``, ``pub:info:tx:status``, ``pub:list:currency:margin``) and ``fetch_markets`` (``GET
/v2/conf/pub:info:pair,pub:info:pair:futures,pub:list:pair:securities,pub:list:pair:margin``; every label
ccxt has an endpoint for, ``pub:list:pair:exchange`` included, is served alone or joined), ``fetch_balance``
(``POST /v2/auth/r/wallets``, the ``exchange`` rows only), ``create_order`` (``POST /v2/auth/w/order/submit``,
JSON ``{"symbol", "amount", "price", "type": "EXCHANGE LIMIT", "cid"?, "flags"?}``, the amount signed:
negative sells), ``cancel_order`` (``POST /v2/auth/w/order/cancel`` with ``{"id"}``, or ``{"cid",
"cid_date"}``), ``fetch_order``/``fetch_open_order``/``fetch_open_orders`` (``POST /v2/auth/r/orders/{symbol}``,
or ``/v2/auth/r/orders`` without a symbol; ``{"id": [...]}`` filters), ``fetch_closed_order(s)`` (``POST
/v2/auth/r/orders/{symbol}/hist`` or ``/v2/auth/r/orders/hist``), ``fetch_my_trades`` (``POST
/v2/auth/r/trades/{symbol}/hist`` or ``/v2/auth/r/trades/hist``, always with ``end`` = now),
``fetch_order_trades`` (``POST /v2/auth/r/order/{symbol}:{id}/trades``), ``fetch_status`` (``GET
/v2/platform/status``), ``fetch_ticker`` (``GET /v2/ticker/{symbol}``), ``fetch_tickers`` (``GET
/v2/tickers?symbols=``), ``fetch_order_book`` (``GET /v2/book/{symbol}/R0``: ccxt's default precision is the
raw book; ``P0`` is served too), ``fetch_trades`` (``GET /v2/trades/{symbol}/hist``) and ``fetch_ohlcv``
(``GET /v2/candles/trade:{timeframe}:{symbol}/hist``, ``limit`` 100 unless given, ``sort=1`` with ``start``).

Replies are positional JSON arrays with JSON numbers, shaped as the Bitfinex v2 reference
(docs.bitfinex.com/reference) prints them and ccxt's parsers index them: an order is 32 fields (``[ID, GID,
CID, SYMBOL, MTS_CREATE, MTS_UPDATE, AMOUNT, AMOUNT_ORIG, TYPE, TYPE_PREV, MTS_TIF, _, FLAGS, STATUS, _, _,
PRICE, PRICE_AVG, PRICE_TRAILING, PRICE_AUX_LIMIT, _, _, _, NOTIFY, HIDDEN, PLACED_ID, _, _, ROUTING, _, _,
META]``, ``AMOUNT`` what remains, signed), a private trade 12 (``[ID, SYMBOL, MTS, ORDER_ID, EXEC_AMOUNT,
EXEC_PRICE, ORDER_TYPE, ORDER_PRICE, MAKER (1 or -1), FEE (negative: paid), FEE_CURRENCY, CID]``), a wallet 7
(``[TYPE, CURRENCY, BALANCE, UNSETTLED_INTEREST, AVAILABLE_BALANCE, LAST_CHANGE, TRADE_DETAILS]``), a
submit/cancel reply a notification ``[MTS, "on-req"|"oc-req", null, null, DATA, null, "SUCCESS", TEXT]``
(submit: ``DATA`` a list holding the new order; cancel: the order itself *as it was before the cancel*,
``ACTIVE`` or ``PARTIALLY FILLED``, as Bitfinex answers "Submitted for cancellation; waiting for
confirmation" — so ccxt's ``cancel_order`` returns status ``open``; the fake cancels at once). Statuses:
``ACTIVE``, ``PARTIALLY FILLED @ PRICE(AMOUNT)`` (one per fill, comma-joined), ``EXECUTED @ PRICE(AMOUNT): was
PARTIALLY FILLED @ ...``, ``CANCELED`` or ``CANCELED was: PARTIALLY FILLED @ ...``. ``/v2/auth/r/orders`` lists
active orders only; finished ones are in ``.../hist`` only (so ccxt's ``fetch_order`` of a finished order gets
``[]`` and returns an empty order: ``fetch_closed_order`` is the way to read it). A submit without ``cid``
gets the creation time in ms as its CID, as in the replies ccxt quotes.

Currencies: Tether is ``UST`` at Bitfinex (``tBTCUST``), ccxt's ``USDT`` (``commonCurrencies``); the shared
book keeps ``USDT`` (as the other fakes, so one funding works everywhere) and this module renders ``UST``.
Fees: 0.1 % maker, 0.2 % taker (Bitfinex's base tier, ccxt's static table), in the currency received.

Authentication as ``bitfinex.sign`` builds it and Bitfinex's REST auth guide describes it: headers
``bfx-apikey``, ``bfx-nonce`` (ccxt: milliseconds, ``incrementing_nonce`` per instance) and ``bfx-signature``
= hex HMAC-SHA384(secret, ``"/api" + path + nonce + body``), the body being the exact JSON text sent. The
nonce must be an integer above the key's last accepted one and at most 2^53 - 1; a request refused for its
key or signature does not use its nonce up.

Errors are ``["error", CODE, TEXT]`` with HTTP 500 (Bitfinex's codes: 10001 generic, 10020 parameters,
10100 authentication, 10114 nonce). ``bitfinex.handle_errors`` tries ``exceptions["broad"]`` on the text
first, then the code, then the text; the class ccxt raises for each is in the comments of ``ERRORS``.
Beware: every 10001 whose text is not in the broad table (the minimum size, a non-positive price) is
``PermissionDenied``, a subclass of ``AuthenticationError``. Texts are Bitfinex's where known (ccxt's
tables and issues quoting live replies: "apikey: invalid", "apikey: digest invalid", "nonce: small",
"symbol: invalid", "cid: invalid" for a client id that is not an int45 — a string such as Ceres'
``cer123``, as ccxt sends it unchanged —, "Invalid order: not enough exchange balance for ...",
"Invalid order: minimum size for BTC/UST is ...", "Order not found.").

Fake's choices (not Bitfinex's behaviour): a price with more than 5 significant digits or 8 decimals is
*refused* (10020 ``price: invalid (...)``, ccxt BadRequest) where Bitfinex rounds it, so tests can prove
nobody sends one (ccxt's ``price_to_precision`` rounds to 5 significant digits itself: only a raw call
carries such a price); an amount with more than 8 decimals likewise (ccxt truncates to 8). Only ``EXCHANGE
LIMIT`` orders are taken (others: ``type: invalid``); no client id is refused for being reused (Bitfinex:
"should be unique in the day", not enforced). Unknown ``conf`` labels, book precisions other than ``R0``
and ``P0``, book lengths other than 1/25/100 and timeframes outside ccxt's table are refused with 10020.

Public market data, from the book's synthetic levels, open orders and the tape (``tests/fakevenue/tape.py``):
ticker ``[BID, BID_SIZE, ASK, ASK_SIZE, DAILY_CHANGE, DAILY_CHANGE_RELATIVE, LAST_PRICE, VOLUME, HIGH, LOW]``
(24 h; sizes summed over the 25 best levels; the relative change rounded to 4 decimals), raw book ``[ID,
PRICE, ±AMOUNT]`` per order (synthetic levels get ids of their own), aggregated ``[PRICE, COUNT, ±AMOUNT]``
(bids positive, bids first, ``len`` per side, default 25), trades ``[ID, MTS, ±AMOUNT, PRICE]`` (the taker's
sign; ``limit`` default 125, max 10000), candles ``[MTS, OPEN, CLOSE, HIGH, LOW, VOLUME]`` (only intervals
with trades — the fake's reading of Bitfinex's gaps; ``limit`` default 100, max 10000; ``section`` ``last``
is the newest candle alone). Trades, candles and the account's trades take ``start``/``end`` (ms, inclusive)
and ``sort`` (-1, the default: newest first and the newest ``limit``; 1: oldest first and the oldest
``limit``); the order history is newest first, ``start``/``end`` on the creation time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from tests.fakevenue.book import Account, Book, Market, Order, Reject, Trade, buyer_is_maker, now_ms
from tests.fakevenue.server import FakeVenue, dec
from tests.fakevenue.tape import DAY_MS, Candle, Stats

ZERO = Decimal(0)
MAKER_FEE, TAKER_FEE = Decimal("0.001"), Decimal("0.002")
SIGNIFICANT, DECIMALS = 5, 8  # "up to 5 significant digits and up to 8 decimals"
INT45 = 1 << 45  # cid, gid: "(int45)"
MAX_NONCE = (1 << 53) - 1  # "the nonce provided should not exceed 9007199254740991"
ORDER_TYPE = "EXCHANGE LIMIT"
CURRENCY_IDS = {"USDT": "UST"}  # the book's asset -> Bitfinex's currency id
NAMES = {"BTC": "Bitcoin", "ETH": "Ethereum", "USDT": "Tether USDt"}
METHODS = {"BTC": "BITCOIN", "ETH": "ETHEREUM", "USDT": "TETHERUSE"}  # deposit/withdrawal method names
WITHDRAW_FEES = {"BTC": 0.0004, "ETH": 0.00135, "USDT": 1.5}
EXPLORERS = {"BTC": "https://blockstream.info", "ETH": "https://etherscan.io"}
BOOK_LENGTHS = (1, 25, 100)
MINUTE = 60_000
TIMEFRAMES = {"1m": MINUTE, "5m": 5 * MINUTE, "15m": 15 * MINUTE, "30m": 30 * MINUTE, "1h": 60 * MINUTE,
              "3h": 180 * MINUTE, "4h": 240 * MINUTE, "6h": 360 * MINUTE, "12h": 720 * MINUTE, "1D": DAY_MS,
              "7D": 7 * DAY_MS, "14D": 14 * DAY_MS}  # ccxt's timeframes but 1M (calendar months)
# Reject.kind -> (code, text); the comment is the class ccxt 4.5.90's bitfinex raises for it
ERRORS: dict[str, tuple[int, str]] = {
    "key": (10100, "apikey: invalid"),  # AuthenticationError
    "signature": (10100, "apikey: digest invalid"),  # AuthenticationError
    "nonce": (10114, "nonce: small"),  # InvalidNonce
    "nonce_format": (10114, "nonce: invalid"),  # InvalidNonce
    "symbol": (10020, "symbol: invalid"),  # BadSymbol (broad match on the text)
    "params": (10020, "{}: invalid"),  # BadRequest
    "precision": (10020, "price: invalid ({})"),  # BadRequest (the fake's refusal, see above)
    "price": (10001, "Invalid price: must be positive"),  # PermissionDenied
    "min_qty": (10001, "Invalid order: minimum size for {}"),  # PermissionDenied
    "max_qty": (10001, "Invalid order: maximum size for {}"),  # PermissionDenied
    "insufficient": (10001, "Invalid order: not enough exchange balance for {}"),  # InsufficientFunds
    "not_found": (10001, "Order not found."),  # OrderNotFound
    "not_open": (10001, "Order not found."),  # OrderNotFound: a finished order is no longer active
    "tick": (10020, "price: invalid ({})"),  # BadRequest: off a grid set by /_fake/markets
    "lot": (10020, "amount: invalid ({})"),  # BadRequest: likewise
    "min_notional": (10001, "Invalid order: minimum size ({})"),  # PermissionDenied: likewise
}
# one response per conf label; a request joins several with commas and gets their list
MARKET_LABELS = ("pub:info:pair", "pub:info:pair:futures", "pub:list:pair:securities", "pub:list:pair:margin",
                 "pub:list:pair:exchange")


def number(value: Decimal) -> int | float:
    """Bitfinex sends JSON numbers (``95000``, ``0.004``)."""
    return int(value) if value == value.to_integral_value() else float(value)


def shown(value: Decimal) -> str:
    """A number as Bitfinex writes it inside a status text (``95000.0``, ``-0.2``)."""
    return repr(float(value))


def significant_digits(value: Decimal) -> int:
    return len(value.normalize().as_tuple().digits)


def decimals(value: Decimal) -> int:
    return max(0, -value.normalize().as_tuple().exponent)  # type: ignore[operator]


def currency_id(asset: str) -> str:
    return CURRENCY_IDS.get(asset, asset)


def pair(symbol: str) -> str:
    """``tBTCUST`` -> ``BTCUST``."""
    return symbol[1:]


def signed(order_side: str, value: Decimal) -> Decimal:
    return value if order_side == "buy" else -value


def decimal_param(params: dict[str, Any], name: str) -> Decimal:
    value = params.get(name)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise Reject("params", name)
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise Reject("params", name) from None
    if not result.is_finite():
        raise Reject("params", name)
    return result


def int_param(params: Any, name: str, default: int | None = None, low: int | None = None,
              high: int | None = None) -> int | None:
    """An integer body or query parameter (a JSON integer or its decimal text)."""
    value = params.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise Reject("params", name)
    try:
        result = int(value)
    except ValueError:
        raise Reject("params", name) from None
    if (low is not None and result < low) or (high is not None and result > high):
        raise Reject("params", name)
    return result


def int45(params: dict[str, Any], name: str) -> int | None:
    """A ``cid``/``gid``: a JSON integer from 1 to 2^45 - 1 (its text, e.g. ``"123"``, is refused too)."""
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < INT45:
        raise Reject("params", name)
    return value


def id_list(params: dict[str, Any], name: str = "id") -> list[int] | None:
    ids = params.get(name)
    if ids is None:
        return None
    if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise Reject("params", name)
    return ids


def window(items: list[Any], params: Any, time_of: Any, limit_default: int, limit_max: int) -> list[Any]:
    """``start``/``end`` (inclusive), ``sort`` (-1 newest first, the default; 1 oldest first) and ``limit``
    (the newest or the oldest ones, by ``sort``). ``items`` sorted oldest first."""
    start, end = int_param(params, "start"), int_param(params, "end")
    limit = int_param(params, "limit", limit_default, 1, limit_max)
    sort = int_param(params, "sort", -1)
    if sort not in (-1, 1):
        raise Reject("params", "sort")
    inside = [i for i in items if (start is None or time_of(i) >= start) and (end is None or time_of(i) <= end)]
    return inside[:limit] if sort == 1 else inside[::-1][:limit]


def utc_date(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")


class BitfinexBook(Book):
    """The shared book with Bitfinex's base-tier fees (maker 0.1 %, taker 0.2 %) and ids of its size."""

    def __init__(self, markets: dict[str, Market]) -> None:
        super().__init__(markets, fee_rate=MAKER_FEE, first_order_id=120_000_000_000,
                         first_trade_id=1_790_000_000)

    def fill(self, order_id: int, qty: Decimal | None = None, *, maker: bool = True,
             price: Decimal | None = None) -> Trade:
        self.fee_rate = MAKER_FEE if maker else TAKER_FEE
        return super().fill(order_id, qty, maker=maker, price=price)


class BitfinexVenue(FakeVenue):
    kind = "bitfinex"

    def __init__(self, markets: dict[str, Market] | None = None) -> None:
        super().__init__(markets)
        self.book = BitfinexBook(self.book.markets)
        self.max_size = {"tBTCUST": Decimal("2000"), "tETHUST": Decimal("5000")}
        self.nonces: dict[str, int] = {}  # key -> the last nonce accepted
        self.extra: dict[int, tuple[int | None, int]] = {}  # order id -> (gid, flags) as submitted
        self._placeholders = 0  # counter for the book's unique client ids (Bitfinex does not refuse reuse)

    def default_markets(self) -> dict[str, Market]:
        tick = step = Decimal(1).scaleb(-DECIMALS)  # the 8-decimal grid; the digits rule is checked here
        return {
            "tBTCUST": Market("BTC", "USDT", tick, step, Decimal("0.00004")),
            "tETHUST": Market("ETH", "USDT", tick, step, Decimal("0.0008")),
        }

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/v2/platform/status", self.platform_status),
            web.get("/v2/conf/{config}", self.conf),
            web.get("/v2/ticker/{symbol}", self.ticker),
            web.get("/v2/tickers", self.tickers),
            web.get("/v2/book/{symbol}/{precision}", self.order_book),
            web.get("/v2/trades/{symbol}/hist", self.public_trades),
            web.get("/v2/candles/{candle}/{section}", self.candles),
            web.post("/v2/auth/r/wallets", self.wallets),
            web.post("/v2/auth/w/order/submit", self.submit),
            web.post("/v2/auth/w/order/cancel", self.cancel),
            web.post("/v2/auth/r/orders", self.active_orders),
            web.post("/v2/auth/r/orders/hist", self.orders_history),
            web.post("/v2/auth/r/orders/{symbol}", self.active_orders),
            web.post("/v2/auth/r/orders/{symbol}/hist", self.orders_history),
            web.post("/v2/auth/r/trades/hist", self.trades_history),
            web.post("/v2/auth/r/trades/{symbol}/hist", self.trades_history),
            web.post("/v2/auth/r/order/{symbol_id}/trades", self.order_trades),
        ]

    def reject(self, exc: Reject) -> web.Response:
        code, text = ERRORS[exc.kind]
        return web.json_response(["error", code, text.format(exc.detail)], status=500)

    # -- authentication ----------------------------------------------------------------------
    async def signed(self, request: web.Request) -> tuple[Account, dict[str, Any]]:
        """Check key, signature and nonce of a private request; return the account and the JSON body."""
        headers, body = request.headers, await request.text()
        account = self.account(headers.get("bfx-apikey", ""))
        if account is None:
            raise Reject("key")
        nonce = headers.get("bfx-nonce", "")
        payload = f"/api{request.rel_url.raw_path}{nonce}{body}"
        expected = hmac.new(account.secret.encode(), payload.encode(), hashlib.sha384).hexdigest()
        if not hmac.compare_digest(expected, headers.get("bfx-signature", "")):
            raise Reject("signature")
        if not nonce.isdigit() or int(nonce) > MAX_NONCE:
            raise Reject("nonce_format")
        if int(nonce) <= self.nonces.get(account.key, 0):
            raise Reject("nonce")
        self.nonces[account.key] = int(nonce)
        try:
            params = json.loads(body) if body else {}
        except ValueError:
            raise Reject("params", "body") from None
        if not isinstance(params, dict):
            raise Reject("params", "body")
        return account, params

    # -- rendering ---------------------------------------------------------------------------
    @staticmethod
    def fills_text(order: Order, trades: list[Trade]) -> str:
        return ", ".join(f"PARTIALLY FILLED @ {shown(t.price)}({shown(signed(order.side, t.qty))})" for t in trades)

    def status_text(self, order: Order) -> str:
        trades = order.trades
        if order.status == "new":
            return "ACTIVE"
        if order.status == "partial":
            return self.fills_text(order, trades)
        if order.status == "filled":
            last = trades[-1]
            head = f"EXECUTED @ {shown(last.price)}({shown(signed(order.side, last.qty))})"
            return f"{head}: was {self.fills_text(order, trades[:-1])}" if trades[:-1] else head
        return f"CANCELED was: {self.fills_text(order, trades)}" if trades else "CANCELED"

    def order_json(self, order: Order) -> list[Any]:
        gid, flags = self.extra.get(order.id, (None, 0))
        remaining = order.qty - order.filled if order.status != "filled" else ZERO
        return [
            order.id, gid, int(order.client_id), order.symbol, order.created, order.updated,
            number(signed(order.side, remaining)), number(signed(order.side, order.qty)), ORDER_TYPE, None, None,
            None, flags, self.status_text(order), None, None, number(order.price), number(order.average), 0, 0,
            None, None, None, 0, 0, None, None, None, "API>BFX", None, None, {},
        ]

    def trade_json(self, trade: Trade) -> list[Any]:
        order = self.book.orders[trade.order_id]
        return [trade.id, trade.symbol, trade.time, trade.order_id, number(signed(trade.side, trade.qty)),
                number(trade.price), ORDER_TYPE, number(order.price), 1 if trade.maker else -1, number(-trade.fee),
                currency_id(trade.fee_asset), int(order.client_id)]

    @staticmethod
    def notification(kind: str, data: Any, text: str) -> web.Response:
        return web.json_response([now_ms(), kind, None, None, data, None, "SUCCESS", text])

    # -- lookups -----------------------------------------------------------------------------
    def symbol(self, value: str) -> str:
        if value not in self.book.markets:
            raise Reject("symbol")
        return value

    def mine(self, account: Account, request: web.Request) -> list[Order]:
        """The account's orders, of the path's symbol if it has one, oldest first."""
        symbol = request.match_info.get("symbol")
        if symbol is not None:
            self.symbol(symbol)
        return [o for o in sorted(self.book.orders.values(), key=lambda o: o.id)
                if o.key == account.key and symbol in (None, o.symbol)]

    @staticmethod
    def by_cid(orders: list[Order], params: dict[str, Any]) -> list[Order]:
        """``cid`` filtering needs ``cid_date`` (the UTC day the order was created, ``YYYY-MM-DD``)."""
        cid = int45(params, "cid")
        if cid is None:
            return orders
        day = params.get("cid_date")
        if not isinstance(day, str):
            raise Reject("params", "cid_date")
        return [o for o in orders if o.client_id == str(cid) and utc_date(o.created) == day]

    # -- reference data ----------------------------------------------------------------------
    async def platform_status(self, request: web.Request) -> web.Response:
        return web.json_response([1])

    def conf_value(self, label: str) -> Any:
        markets = self.book.markets
        pairs = [pair(s) for s in markets]
        assets = sorted({m.base for m in markets.values()} | {m.quote for m in markets.values()})
        ids = [currency_id(a) for a in assets]
        table: dict[str, Any] = {
            "pub:info:pair": [[pair(s), [None, None, None, dec(m.min_qty), f"{self.max_size.get(s, 1000):.1f}",
                                         None, None, None, 0.2, 0.1, None, None]] for s, m in markets.items()],
            "pub:info:pair:futures": [],
            "pub:list:pair:securities": [],
            "pub:list:pair:margin": pairs,
            "pub:list:pair:exchange": pairs,
            "pub:list:currency": ids,
            "pub:map:currency:sym": [[currency_id(a), "USDt"] for a in assets if a == "USDT"],
            "pub:map:currency:label": [[currency_id(a), NAMES.get(a, a)] for a in assets],
            "pub:map:currency:unit": [],
            "pub:map:currency:undl": [],
            "pub:map:currency:pool": [[currency_id(a), "ETH"] for a in assets if a == "USDT"],
            "pub:map:currency:explorer": [[a, [url, f"{url}/address/VAL", f"{url}/tx/VAL"]]
                                          for a, url in EXPLORERS.items() if a in assets],
            "pub:map:currency:tx:fee": [[currency_id(a), [0, WITHDRAW_FEES.get(a, 0)]] for a in assets],
            "pub:map:tx:method": [[METHODS[a], [currency_id(a)]] for a in assets if a in METHODS],
            "pub:info:tx:status": [[METHODS[a], 1, 1, None, None, None, None, 0, 0, None, None, 3]
                                   for a in assets if a in METHODS],
            "pub:list:currency:margin": ids,
        }
        if label not in table:
            raise Reject("params", "config")
        return table[label]

    async def conf(self, request: web.Request) -> web.Response:
        """``GET /v2/conf/{labels}``: one label's value, or the list of several comma-joined labels' values."""
        labels = [label for label in request.match_info["config"].split(",") if label]
        if not labels:
            raise Reject("params", "config")
        values = [self.conf_value(label) for label in labels]
        return web.json_response(values if len(labels) > 1 else values[0])

    # -- private: wallets and orders ---------------------------------------------------------
    async def wallets(self, request: web.Request) -> web.Response:
        account, _ = await self.signed(request)
        rows = []
        for asset in account.assets():
            free, locked = account.free.get(asset, ZERO), account.locked.get(asset, ZERO)
            rows.append(["exchange", currency_id(asset), number(free + locked), 0, number(free), None, None])
        return web.json_response(rows)

    async def submit(self, request: web.Request) -> web.Response:
        account, params = await self.signed(request)
        symbol = self.symbol(str(params.get("symbol", "")))
        if params.get("type") != ORDER_TYPE:
            raise Reject("params", "type")  # this fake only rests exchange limit orders
        amount = decimal_param(params, "amount")
        if not amount or decimals(amount) > DECIMALS:
            raise Reject("params", "amount")
        price = decimal_param(params, "price")
        if price <= 0:
            raise Reject("price")
        if significant_digits(price) > SIGNIFICANT:
            raise Reject("precision", f"{dec(price)} has more than {SIGNIFICANT} significant digits")
        if decimals(price) > DECIMALS:
            raise Reject("precision", f"{dec(price)} has more than {DECIMALS} decimals")
        market, qty, side = self.book.market(symbol), abs(amount), "buy" if amount > 0 else "sell"
        name = f"{market.base}/{currency_id(market.quote)}"
        if qty < market.min_qty:
            raise Reject("min_qty", f"{name} is {dec(market.min_qty)}")
        if qty > self.max_size.get(symbol, qty):
            raise Reject("max_qty", f"{name} is {dec(self.max_size[symbol])}")
        cid, gid = int45(params, "cid"), int45(params, "gid")
        flags = params.get("flags", 0)
        if isinstance(flags, bool) or not isinstance(flags, int) or flags < 0:
            raise Reject("params", "flags")
        self._placeholders += 1
        try:
            order = self.book.place(account, symbol, side, price, qty, f"bitfinex-{self._placeholders}")
        except Reject as exc:
            if exc.kind == "insufficient":
                raise Reject("insufficient", f"{dec(amount)} {symbol} at {shown(price)}") from None
            raise
        order.client_id = str(cid if cid is not None else order.created)
        self.extra[order.id] = (gid, flags)
        return self.notification("on-req", [self.order_json(order)], "Submitting 1 orders.")

    async def cancel(self, request: web.Request) -> web.Response:
        """By ``id``, or by ``cid`` and ``cid_date``; the reply holds the order as it was (still active)."""
        account, params = await self.signed(request)
        orders = self.mine(account, request)
        if "id" in params:
            order_id = params["id"]
            if isinstance(order_id, bool) or not isinstance(order_id, int):
                raise Reject("params", "id")
            found = [o for o in orders if o.id == order_id]
        elif "cid" in params:
            found = self.by_cid(orders, params)
        else:
            raise Reject("params", "id")
        order = next((o for o in reversed(found) if o.is_open), None)
        if order is None:
            raise Reject("not_found")
        before = self.order_json(order)
        self.book.cancel(account, order)
        return self.notification("oc-req", before,
                                 f"Submitted for cancellation; waiting for confirmation (ID: {order.id}).")

    async def active_orders(self, request: web.Request) -> web.Response:
        """``POST /v2/auth/r/orders[/{symbol}]``: active orders only, newest first; ``id`` (a list), ``gid``,
        ``cid`` + ``cid_date`` filter them."""
        account, params = await self.signed(request)
        orders = [o for o in self.mine(account, request) if o.is_open]
        ids = id_list(params)
        if ids is not None:
            orders = [o for o in orders if o.id in ids]
        gid = int_param(params, "gid")
        if gid is not None:
            orders = [o for o in orders if self.extra.get(o.id, (None, 0))[0] == gid]
        orders = self.by_cid(orders, params)
        return web.json_response([self.order_json(o) for o in reversed(orders)])

    async def orders_history(self, request: web.Request) -> web.Response:
        """``POST /v2/auth/r/orders[/{symbol}]/hist``: finished orders (executed or canceled), newest first;
        ``id`` (a list), ``start``/``end`` on the creation time, ``limit`` (default 25, max 2500)."""
        account, params = await self.signed(request)
        orders = [o for o in self.mine(account, request) if not o.is_open]
        ids = id_list(params)
        if ids is not None:
            orders = [o for o in orders if o.id in ids]
        params = {k: v for k, v in params.items() if k != "sort"}  # not a parameter of this endpoint
        return web.json_response([self.order_json(o) for o in window(orders, params, lambda o: o.created, 25, 2500)])

    async def trades_history(self, request: web.Request) -> web.Response:
        """``POST /v2/auth/r/trades[/{symbol}]/hist``: the account's fills; ``start``/``end``, ``limit``
        (default 25, max 2500), ``sort``."""
        account, params = await self.signed(request)
        symbol = request.match_info.get("symbol")
        if symbol is not None:
            self.symbol(symbol)
        trades = sorted(self.book.trades(account, symbol), key=lambda t: (t.time, t.id))
        return web.json_response([self.trade_json(t) for t in window(trades, params, lambda t: t.time, 25, 2500)])

    async def order_trades(self, request: web.Request) -> web.Response:
        """``POST /v2/auth/r/order/{symbol}:{id}/trades``: one order's fills, oldest first."""
        account, _ = await self.signed(request)
        symbol, _, order_id = request.match_info["symbol_id"].partition(":")
        self.symbol(symbol)
        order = self.book.orders.get(int(order_id)) if order_id.isdigit() else None
        if order is None or order.key != account.key or order.symbol != symbol:
            return web.json_response([])
        return web.json_response([self.trade_json(t) for t in order.trades])

    # --- public market data (no signature) ----------------------------------------------------
    def levels(self, symbol: str, side: str, length: int) -> list[tuple[Decimal, list[tuple[int, Decimal]]]]:
        """One side of the book, best first, at most ``length`` prices: (price, [(order id, amount)...]),
        the synthetic level (an id of its own) before the accounts' open orders at that price."""
        at: dict[Decimal, list[tuple[int, Decimal]]] = {}
        synthetic = sorted(self.book.levels.get(symbol, {}).get(side, {}).items())
        for n, (price, qty) in enumerate(synthetic):
            at.setdefault(price, []).append((100_000_000_000 + n + (0 if side == "buy" else 50_000_000_000), qty))
        for o in sorted(self.book.orders.values(), key=lambda o: o.id):
            if o.symbol == symbol and o.side == side and o.is_open:
                at.setdefault(o.price, []).append((o.id, o.qty - o.filled))
        return sorted(at.items(), reverse=side == "buy")[:length]

    def best(self, symbol: str, side: str) -> tuple[Decimal, Decimal]:
        """The best price of a side (0 if empty) and the size of its 25 best levels together."""
        levels = self.levels(symbol, side, 25)
        size = sum((qty for _, orders in levels for _, qty in orders), ZERO)
        return (levels[0][0] if levels else ZERO), size

    def symbol_path(self, request: web.Request) -> str:
        return self.symbol(request.match_info["symbol"])

    def ticker_json(self, symbol: str) -> list[Any]:
        now = now_ms()
        stats = Stats.of(self.book.tape(symbol), now)
        (bid, bid_size), (ask, ask_size) = (self.best(symbol, side) for side in ("buy", "sell"))
        change = stats.last - stats.open
        relative = (change / stats.open).quantize(Decimal("0.0001")) if stats.open else ZERO
        return [number(bid), number(bid_size), number(ask), number(ask_size), number(change), number(relative),
                number(stats.last), number(stats.volume), number(stats.high), number(stats.low)]

    async def ticker(self, request: web.Request) -> web.Response:
        return web.json_response(self.ticker_json(self.symbol_path(request)))

    async def tickers(self, request: web.Request) -> web.Response:
        wanted = request.query.get("symbols", "ALL")
        symbols = list(self.book.markets) if wanted == "ALL" else [s for s in wanted.split(",")
                                                                  if s in self.book.markets]
        return web.json_response([[s, *self.ticker_json(s)] for s in symbols])

    async def order_book(self, request: web.Request) -> web.Response:
        """``GET /v2/book/{symbol}/R0|P0?len=``: raw orders or price levels, bids (positive) first."""
        symbol, precision = self.symbol_path(request), request.match_info["precision"]
        if precision not in ("R0", "P0"):
            raise Reject("params", "prec")  # P1..P4 aggregate coarser: not in this fake
        length = int_param(request.query, "len", 25)
        if length not in BOOK_LENGTHS:
            raise Reject("params", "len")
        rows: list[list[Any]] = []
        for side, sign in (("buy", 1), ("sell", -1)):
            for price, orders in self.levels(symbol, side, length):
                if precision == "R0":
                    rows += [[oid, number(price), number(sign * qty)] for oid, qty in orders]
                else:
                    rows.append([number(price), len(orders), number(sign * sum((q for _, q in orders), ZERO))])
        return web.json_response(rows)

    async def public_trades(self, request: web.Request) -> web.Response:
        """``GET /v2/trades/{symbol}/hist``: ``[ID, MTS, ±AMOUNT, PRICE]``, the taker's sign."""
        symbol = self.symbol_path(request)
        trades = window(self.book.tape(symbol), request.query, lambda t: t.time, 125, 10000)
        return web.json_response([[t.id, t.time, number(-t.qty if buyer_is_maker(t) else t.qty), number(t.price)]
                                  for t in trades])

    async def candles(self, request: web.Request) -> web.Response:
        """``GET /v2/candles/trade:{timeframe}:{symbol}/hist|last``: ``[MTS, OPEN, CLOSE, HIGH, LOW, VOLUME]``."""
        key, _, rest = request.match_info["candle"].partition(":")
        timeframe, _, symbol = rest.partition(":")
        section = request.match_info["section"]
        if key != "trade" or timeframe not in TIMEFRAMES or section not in ("hist", "last"):
            raise Reject("params", "key")
        self.symbol(symbol)
        step = TIMEFRAMES[timeframe]
        buckets: dict[int, Candle] = {}
        for trade in self.book.tape(symbol):
            open_time = trade.time // step * step
            candle = buckets.setdefault(open_time, Candle(open_time, open_time + step - 1, ZERO, ZERO, ZERO, ZERO))
            candle.add(trade)
        rows = [[c.open_time, number(c.open), number(c.close), number(c.high), number(c.low), number(c.volume)]
                for _, c in sorted(buckets.items())]
        if section == "last":
            return web.json_response(rows[-1] if rows else [])
        return web.json_response(window(rows, request.query, lambda row: row[0], 100, 10000))
