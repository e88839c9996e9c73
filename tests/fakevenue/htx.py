"""Fake HTX (Huobi) spot REST API (``/v1``, ``/v2``, ``/market``), as ccxt 4.5.90 ``htx`` calls it.

Endpoints as read in ``ccxt/async_support/htx.py`` (every spot call goes through the new-style
``['spot', 'public'|'private']`` API): ``fetch_markets`` (spot only with ``make_exchange``'s options:
``GET /v1/common/symbols``), ``fetch_currencies`` (``GET /v2/reference/currencies``, public, called by
``load_markets``), ``fetch_time`` (``GET /v1/common/timestamp``), ``fetch_accounts`` (``GET
/v1/account/accounts``, cached by ``load_accounts``; ``fetch_account_id_by_type`` picks the ``spot``
one), ``fetch_balance`` (``GET /v1/account/accounts/{account-id}/balance``), ``create_order`` (``POST
/v1/order/orders/place``, JSON body with ``account-id``, ``symbol``, ``type`` ``buy-limit``/``sell-limit``,
``amount``, ``price``, ``client-order-id``), ``fetch_order`` (``GET /v1/order/orders/{order-id}``, or
with a ``clientOrderId`` param ``GET /v1/order/orders/getClientOrder?clientOrderId=``), ``cancel_order``
(``POST /v1/order/orders/{order-id}/submitcancel``; with a client id ``POST
/v1/order/orders/submitCancelClientOrder``), ``fetch_open_orders`` (``GET /v1/order/openOrders`` with
``account-id``), ``fetch_my_trades`` (``GET /v1/order/matchresults``), ``fetch_order_trades`` (``GET
/v1/order/orders/{order-id}/matchresults``).

Authentication as ``htx.sign`` builds it and the HTX docs (huobiapi.github.io/docs/spot/v1/en/
"Authentication", HmacSHA256): the query carries ``AccessKeyId``, ``SignatureMethod=HmacSHA256``,
``SignatureVersion=2``, ``Timestamp`` (UTC ``YYYY-MM-DDThh:mm:ss``, "valid within 5 minutes") and
``Signature`` = base64(HMAC-SHA256(secret, "METHOD\\nhost\\npath\\nquery")), the query being every
query parameter but ``Signature``, URL-encoded (upper-case hex, ``%20``) and sorted by name. GET
parameters are signed; a POST's JSON body is not. The host is the lower-case host the request was
meant for: ccxt signs ``urls["hostnames"]["spot"]`` (``api.huobi.pro``), which ``make_exchange``'s
``rest_url`` leaves alone, so the fake accepts the hosts it stands in for (``api.huobi.pro``,
``api-aws.huobi.pro``) and the ``Host`` the request actually came with, and nothing else.

Errors use HTX's envelope ``{"status": "error", "err-code", "err-msg", "data": null}`` with HTTP 200
(``htx.handle_errors`` maps ``err-code``, then ``err-msg``, through its ``exceptions["exact"]``). The
codes are HTX's own (the docs' Trading "Error Code" table and messages as HTX sent them in issues
quoted by ccxt and the HTX SDKs); ccxt's class for each is in ``ERRORS``. An order desk should know
that several land on plain ``ExchangeError``: ``order-orderamount-precision-error`` (an amount off the
step), ``invalid-client-order-id`` (a client id used before: HTX refuses any reuse, not only of open
orders, "duplicated (within last 24h)"; the fake refuses every reuse), ``login-required``.

Filters from ``/v1/common/symbols`` (``price-precision``/``amount-precision`` as decimals, numbers not
strings: ``min-order-amt``, ``min-order-value``). Orders, balances and fills are the shared
:class:`~tests.fakevenue.book.Book`'s; each key gets a user id, a ``point`` account listed first and a
``spot`` account (an order or balance naming another account id is refused). Order states: ``submitted``,
``partial-filled``, ``filled``, ``canceled`` (nothing filled) or ``partial-canceled``; order amounts are
rendered with 18 decimals and the filled fields (``field-amount``... in order details, ``filled-amount``...
in open orders: HTX's own spellings) as ``"0.0"`` until something fills, as HTX prints them. A fee is
charged in what the order receives (``field-fees``, ``filled-fees`` + ``fee-currency`` per fill).
``submitcancel`` cancels at once (HTX only "submits" it: the order may sit in ``canceling``).

Public market data, from the book's synthetic levels, open orders and the tape (as for Binance;
``tests/fakevenue/tape.py``), all numbers JSON numbers as HTX sends them: ``GET /market/detail/merged``
(24 h stats, best bid/ask), ``GET /market/depth`` (``type=step0`` only; ``depth`` 5, 10, 20 or 150 levels
by default; ``version`` counts changes of the merged book), ``GET /market/history/trade`` (``size``
1..2000, default 1, newest first, one group per trade; ``direction`` is the taker's side), ``GET
/market/history/kline`` (``period``, ``size`` 1..2000, default 150, the latest candles newest first) and
``GET /market/history/candles`` (what ``fetch_ohlcv`` calls with its default
``useHistoricalEndpointForSpot``: ``from``/``to`` in seconds on the open time, ``size`` up to 1000; the
fake's choice, from HTX users' paging: the first ``size`` candles from ``from``, newest first). Periods
``1min`` .. ``1day`` (not ``1week``/``1mon``/``1year``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from aiohttp import web

from tests.fakevenue.book import Account, Change, Market, Order, Reject, Trade, buyer_is_maker, now_ms
from tests.fakevenue.server import FakeVenue, dec
from tests.fakevenue.tape import DAY_MS, INTERVALS_MS, Stats, candles

ZERO = Decimal(0)
HOSTS = ("api.huobi.pro", "api-aws.huobi.pro")  # the hosts ccxt (and HTX's docs) sign for
TIMESTAMP_WINDOW_S = 300  # "The value is valid within 5 minutes"
WINDOW_MS = 2 * DAY_MS  # matchresults: "The maximum size of the query window is 48 hour"
PERIODS = {"1min": "1m", "5min": "5m", "15min": "15m", "30min": "30m", "60min": "1h", "4hour": "4h", "1day": "1d"}
# order state -> the numeric "order-state" HTX puts next to order-orderstate-error
STATE_CODES = {"submitted": 3, "partial-filled": 4, "partial-canceled": 5, "filled": 6, "canceled": 7}
MARKET_KINDS = ("market_symbol", "market_parameter")  # public endpoints answer with "ts" and no "data"
# Reject.kind -> (err-code, err-msg); the comment is the class ccxt 4.5.90's htx raises for it
ERRORS: dict[str, tuple[str, str]] = {
    "login": ("login-required", "Login required."),  # ExchangeError
    "key": ("api-signature-not-valid", "Signature not valid: Incorrect Access key [Access key错误]"),  # Auth
    "signature": ("api-signature-not-valid", "Signature not valid: Verification failure [校验失败]"),  # Auth
    "timestamp": ("api-signature-not-valid", "Signature not valid: Invalid submission time or incorrect time "
                  "format [无效的提交时间，或时间格式错误]"),  # AuthenticationError (not InvalidNonce)
    "account": ("account-get-accounts-inexistent-error", "account for id `{}` does not exist"),  # ExchangeError
    "balance_account": ("account-get-balance-account-inexistent-error", "account for id `{}` does not exist"),
    "tick": ("order-orderprice-precision-error", "order price precision error, scale: `{}`"),  # InvalidOrder
    "lot": ("order-orderamount-precision-error", "order amount precision error, scale: `{}`"),  # ExchangeError
    "min_qty": ("order-limitorder-amount-min-error", "limit order amount error, min: `{}`"),  # InvalidOrder
    "min_notional": ("order-value-min-error", "Order total cannot be lower than: {}"),  # InvalidOrder
    "insufficient": ("account-frozen-balance-insufficient-error",
                     "trade account balance is not enough, left: `{}`"),  # InsufficientFunds
    "duplicate": ("invalid-client-order-id", "invalid.client.order.id (NT)"),  # ExchangeError
    "symbol": ("base-symbol-error", "The symbol is invalid"),  # BadSymbol
    "not_found": ("base-record-invalid", "record invalid"),  # OrderNotFound
    "not_open": ("order-orderstate-error", "Incorrect order state"),  # OrderNotFound
    "type": ("invalid-type", "Parameter `type` is invalid."),  # ExchangeError
    "missing": ("validation-constraints-required", "Field is missing: {}."),  # BadRequest
    "format": ("validation-format-error", "Format Error: {}."),  # BadRequest
    "interval": ("invalid-interval", "Query window is zero, negative or greater than limitation"),
    "market_symbol": ("invalid-parameter", "invalid symbol"),  # BadSymbol (ccxt matches the err-msg)
    "market_parameter": ("invalid-parameter", "invalid {}"),  # ExchangeError
}
_CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TIMESTAMP = "%Y-%m-%dT%H:%M:%S"


def d18(value: Decimal) -> str:
    """HTX's order amounts: 18 decimals (``"0.010000000000000000"``)."""
    return f"{value:.18f}"


def filled(value: Decimal) -> str:
    """HTX's filled amounts, cash and fees of an order: ``"0.0"`` until something fills, then 18 decimals."""
    return d18(value) if value else "0.0"


def number(value: Decimal) -> int | float:
    """Market data and symbol filters are JSON numbers (``30000``, ``0.0001``)."""
    return int(value) if value == value.to_integral_value() else float(value)


def scale(step: Decimal) -> int:
    """Decimals of a power-of-ten step (``0.01`` -> 2; ``1`` -> 0)."""
    return max(0, -step.normalize().as_tuple().exponent)  # type: ignore[operator]


def ok(data: Any, **extra: Any) -> web.Response:
    return web.json_response({"status": "ok", "data": data, **extra})


def decimal_param(params: Any, name: str) -> Decimal:
    value = params.get(name)
    if value in (None, ""):
        raise Reject("missing", name)
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise Reject("format", name) from None
    if not result.is_finite():
        raise Reject("format", name)
    return result


def int_param(params: Any, name: str, default: int | None = None, low: int | None = None,
              high: int | None = None) -> int | None:
    value = params.get(name)
    if value in (None, ""):
        return default
    try:
        result = int(value)
    except (TypeError, ValueError):
        raise Reject("format", name) from None
    if (low is not None and result < low) or (high is not None and result > high):
        raise Reject("format", name)
    return result


def order_state(order: Order) -> str:
    if order.status == "canceled":
        return "partial-canceled" if order.filled else "canceled"
    return {"new": "submitted", "partial": "partial-filled", "filled": "filled"}[order.status]


class HtxVenue(FakeVenue):
    kind = "htx"

    def __init__(self, markets: dict[str, Market] | None = None) -> None:
        super().__init__(markets)
        self.versions = dict.fromkeys(self.book.markets, 1)  # the depth "version" by symbol
        self.book.listeners.append(self._count_version)

    def _count_version(self, change: Change) -> None:
        if change.kind != "trade":
            self.versions[change.symbol] = self.versions.get(change.symbol, 0) + 1

    def default_markets(self) -> dict[str, Market]:
        return {
            "btcusdt": Market("BTC", "USDT", Decimal("0.01"), Decimal("0.00001"), Decimal("0.0001"), Decimal("5")),
            "ethusdt": Market("ETH", "USDT", Decimal("0.01"), Decimal("0.0001"), Decimal("0.001"), Decimal("5")),
        }

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/v1/common/timestamp", self.timestamp),
            web.get("/v1/common/symbols", self.symbols),
            web.get("/v2/reference/currencies", self.currencies),
            web.get("/v1/account/accounts", self.accounts),
            web.get("/v1/account/accounts/{account_id}/balance", self.balance),
            web.post("/v1/order/orders/place", self.place_order),
            web.get("/v1/order/orders/getClientOrder", self.get_client_order),
            web.post("/v1/order/orders/submitCancelClientOrder", self.cancel_client_order),
            web.get("/v1/order/orders/{order_id}", self.get_order),
            web.get("/v1/order/orders/{order_id}/matchresults", self.order_match_results),
            web.post("/v1/order/orders/{order_id}/submitcancel", self.cancel_order),
            web.get("/v1/order/openOrders", self.open_orders),
            web.get("/v1/order/matchresults", self.match_results),
            web.get("/market/detail/merged", self.detail_merged),
            web.get("/market/depth", self.depth),
            web.get("/market/history/trade", self.history_trade),
            web.get("/market/history/kline", self.kline),
            web.get("/market/history/candles", self.kline),
        ]

    def reject(self, exc: Reject) -> web.Response:
        code, msg = ERRORS[exc.kind]
        body: dict[str, Any] = {"status": "error", "err-code": code, "err-msg": msg.format(exc.detail)}
        if exc.kind in MARKET_KINDS:
            return web.json_response({"ts": now_ms(), **body})
        if exc.kind == "not_open":
            body["order-state"] = int(exc.detail)
        return web.json_response(body | {"data": None})

    # -- accounts ----------------------------------------------------------------------------
    def ids(self, account: Account) -> tuple[int, int, int]:
        """(user id, spot account id, point account id) of a key, by the order keys were added."""
        n = list(self.book.accounts).index(account.key) + 1
        return 30_000_000 + n, 50_000_000 + n, 70_000_000 + n

    def spot_account(self, account: Account, account_id: Any, kind: str = "account") -> None:
        """Refuse an ``account-id`` that is not the key's spot account."""
        if str(account_id) != str(self.ids(account)[1]):
            raise Reject(kind, f"{account_id}` and user id `{self.ids(account)[0]:,}")

    # -- authentication ----------------------------------------------------------------------
    async def signed(self, request: web.Request) -> tuple[Account, dict[str, str]]:
        """Check the signature of a private request; return the account and its (unsigned-out) query."""
        pairs = parse_qsl(request.rel_url.raw_query_string, keep_blank_values=True)
        params = dict(pairs)
        for name in ("AccessKeyId", "Signature", "SignatureMethod", "SignatureVersion", "Timestamp"):
            if not params.get(name):
                raise Reject("login")
        if params["SignatureMethod"] != "HmacSHA256" or params["SignatureVersion"] != "2":
            raise Reject("signature")
        try:
            sent = datetime.strptime(params["Timestamp"], _TIMESTAMP).replace(tzinfo=UTC).timestamp()
        except ValueError:
            raise Reject("timestamp") from None
        if abs(now_ms() / 1000 - sent) > TIMESTAMP_WINDOW_S:
            raise Reject("timestamp")
        account = self.account(params["AccessKeyId"])
        if account is None:
            raise Reject("key")
        query = urlencode(sorted((k, v) for k, v in pairs if k != "Signature"), quote_via=quote)
        for host in dict.fromkeys((*HOSTS, request.host.lower())):
            payload = "\n".join((request.method, host, request.path, query))
            expected = base64.b64encode(hmac.new(account.secret.encode(), payload.encode(), hashlib.sha256).digest())
            if hmac.compare_digest(expected.decode(), params["Signature"]):
                return account, {k: v for k, v in pairs if k not in ("AccessKeyId", "Signature", "SignatureMethod",
                                                                     "SignatureVersion", "Timestamp")}
        raise Reject("signature")

    # -- rendering ---------------------------------------------------------------------------
    def order_json(self, order: Order, *, open_orders: bool = False) -> dict[str, Any]:
        """An order as ``GET /v1/order/orders/{id}`` shows it (``field-*``), or as ``openOrders`` does
        (``filled-*``, no timestamps of ends)."""
        state = order_state(order)
        account = self.book.accounts[order.key]
        prefix = "filled" if open_orders else "field"
        body: dict[str, Any] = {
            "id": order.id, "symbol": order.symbol, "account-id": self.ids(account)[1],
            "client-order-id": order.client_id, "amount": d18(order.qty), "price": d18(order.price),
            "created-at": order.created, "type": f"{order.side}-limit", f"{prefix}-amount": filled(order.filled),
            f"{prefix}-cash-amount": filled(order.quote_filled), f"{prefix}-fees": filled(order.fee),
            "source": "spot-api", "state": state,
        }
        if not open_orders:
            ended = not order.is_open
            body |= {"finished-at": order.updated if ended else 0,
                     "canceled-at": order.updated if order.status == "canceled" else 0}
            if order.status == "canceled":
                body["canceled-source"] = "api"
        return body

    def match_json(self, trade: Trade) -> dict[str, Any]:
        return {
            "symbol": trade.symbol, "fee-currency": trade.fee_asset.lower(), "source": "spot-api",
            "price": dec(trade.price), "created-at": trade.time, "role": "maker" if trade.maker else "taker",
            "order-id": trade.order_id, "match-id": trade.id + 100_000, "trade-id": trade.id,
            "filled-amount": dec(trade.qty), "filled-fees": dec(trade.fee), "filled-points": "0.0",
            "fee-deduct-currency": "", "fee-deduct-state": "done", "id": trade.id * 1000 + 7,
            "type": f"{trade.side}-limit",
        }

    def find(self, account: Account, order_id: str) -> Order:
        if not order_id.isdigit():
            raise Reject("format", "order-id")
        order = self.book.orders.get(int(order_id))
        if order is None or order.key != account.key:
            raise Reject("not_found")
        return order

    def find_client(self, account: Account, client_id: str) -> Order:
        for order in sorted(self.book.orders.values(), key=lambda o: o.id, reverse=True):
            if order.key == account.key and order.client_id == client_id:
                return order
        raise Reject("not_found")

    # -- reference data ----------------------------------------------------------------------
    async def timestamp(self, request: web.Request) -> web.Response:
        return ok(now_ms())

    async def symbols(self, request: web.Request) -> web.Response:
        return ok([{
            "base-currency": m.base.lower(), "quote-currency": m.quote.lower(), "price-precision": scale(m.tick),
            "amount-precision": scale(m.step), "symbol-partition": "main", "symbol": sid, "state": "online",
            "value-precision": 8, "min-order-amt": number(m.min_qty), "max-order-amt": 1000,
            "min-order-value": number(m.min_notional), "limit-order-min-order-amt": number(m.min_qty),
            "limit-order-max-order-amt": 1000, "limit-order-max-buy-amt": 1000, "limit-order-max-sell-amt": 1000,
            "buy-limit-must-less-than": 1.1, "sell-limit-must-greater-than": 0.9,
            "sell-market-min-order-amt": number(m.min_qty), "sell-market-max-order-amt": 100,
            "buy-market-max-order-value": 1000000, "api-trading": "enabled", "tags": "",
        } for sid, m in self.book.markets.items()])

    async def currencies(self, request: web.Request) -> web.Response:
        assets = sorted({m.base for m in self.book.markets.values()} | {m.quote for m in self.book.markets.values()})
        return web.json_response({"code": 200, "data": [{
            "currency": a.lower(), "assetType": 1, "instStatus": "normal",
            "chains": [{"chain": a.lower(), "displayName": a, "baseChain": a, "baseChainProtocol": "",
                        "isDynamic": False, "numOfConfirmations": 2, "numOfFastConfirmations": 1,
                        "depositStatus": "allowed", "minDepositAmt": "0.0001", "withdrawStatus": "allowed",
                        "minWithdrawAmt": "0.001", "withdrawPrecision": 8, "maxWithdrawAmt": "1000",
                        "withdrawQuotaPerDay": "1000", "withdrawQuotaPerYear": None, "withdrawQuotaTotal": None,
                        "withdrawFeeType": "fixed", "transactFeeWithdraw": "0.0005", "addrWithTag": False,
                        "addrDepositTag": False}],
        } for a in assets]})

    # -- private endpoints -------------------------------------------------------------------
    async def accounts(self, request: web.Request) -> web.Response:
        account, _ = await self.signed(request)
        _, spot, point = self.ids(account)
        return ok([{"id": point, "type": "point", "subtype": "", "state": "working"},
                   {"id": spot, "type": "spot", "subtype": "", "state": "working"}])

    async def balance(self, request: web.Request) -> web.Response:
        account, _ = await self.signed(request)
        self.spot_account(account, request.match_info["account_id"], "balance_account")
        rows = []
        for asset in account.assets():
            for kind, amounts in (("trade", account.free), ("frozen", account.locked)):
                rows.append({"currency": asset.lower(), "type": kind, "balance": dec(amounts.get(asset, ZERO)),
                             "debt": "invalid", "available": "invalid", "seq-num": "1"})
        return ok({"id": self.ids(account)[1], "type": "spot", "state": "working", "list": rows})

    async def place_order(self, request: web.Request) -> web.Response:
        account, _ = await self.signed(request)
        try:
            body = json.loads(await request.text() or "{}")
        except ValueError:
            raise Reject("format", "body") from None
        if not isinstance(body, dict):
            raise Reject("format", "body")
        for name in ("account-id", "symbol", "type", "amount"):
            if body.get(name) in (None, ""):
                raise Reject("missing", name)
        self.spot_account(account, body["account-id"])
        side, _, order_type = str(body["type"]).partition("-")
        if side not in ("buy", "sell") or order_type != "limit":
            raise Reject("type")  # this fake only rests GTC limit orders (HTX also has market, ioc, fok...)
        qty, price = decimal_param(body, "amount"), decimal_param(body, "price")
        client_id = str(body.get("client-order-id") or "")
        if client_id and not _CLIENT_ID.fullmatch(client_id):
            raise Reject("format", "client-order-id")
        if client_id and any(o.key == account.key and o.client_id == client_id for o in self.book.orders.values()):
            raise Reject("duplicate")
        symbol = str(body["symbol"])
        market = self.book.market(symbol)
        try:
            order = self.book.place(account, symbol, side, price, qty, client_id)
        except Reject as exc:
            raise self.filter_reject(exc, market, account, side, price, qty) from None
        return ok(str(order.id))

    @staticmethod
    def filter_reject(exc: Reject, market: Market, account: Account, side: str, price: Decimal,
                      qty: Decimal) -> Reject:
        """The book's neutral refusal with the detail HTX puts in its message."""
        detail = {
            "tick": str(scale(market.tick)), "lot": str(scale(market.step)), "min_qty": dec(market.min_qty),
            "min_notional": f"{dec(market.min_notional)} {market.quote}",
            "insufficient": dec(account.free.get(market.quote if side == "buy" else market.base, ZERO)),
        }.get(exc.kind, exc.detail)
        return Reject(exc.kind, detail)

    async def get_order(self, request: web.Request) -> web.Response:
        account, _ = await self.signed(request)
        return ok(self.order_json(self.find(account, request.match_info["order_id"])))

    async def get_client_order(self, request: web.Request) -> web.Response:
        account, params = await self.signed(request)
        if not params.get("clientOrderId"):
            raise Reject("missing", "clientOrderId")
        return ok(self.order_json(self.find_client(account, params["clientOrderId"])))

    async def order_match_results(self, request: web.Request) -> web.Response:
        account, _ = await self.signed(request)
        order = self.find(account, request.match_info["order_id"])
        return ok([self.match_json(t) for t in reversed(order.trades)])

    def cancel(self, account: Account, order: Order) -> Order:
        if not order.is_open:
            raise Reject("not_open", str(STATE_CODES[order_state(order)]))
        return self.book.cancel(account, order)

    async def cancel_order(self, request: web.Request) -> web.Response:
        account, _ = await self.signed(request)
        order = self.cancel(account, self.find(account, request.match_info["order_id"]))
        return ok(str(order.id))

    async def cancel_client_order(self, request: web.Request) -> web.Response:
        """``data`` is a status code, not an order id: 10 (cancelling), the state code of an order that
        already ended (5, 6, 7) or -1 (no such client id). All three are ``"status": "ok"``."""
        account, _ = await self.signed(request)
        body = json.loads(await request.text() or "{}")
        if not body.get("client-order-id"):
            raise Reject("missing", "client-order-id")
        try:
            order = self.find_client(account, str(body["client-order-id"]))
        except Reject:
            return ok(-1)
        if not order.is_open:
            return ok(STATE_CODES[order_state(order)])
        self.book.cancel(account, order)
        return ok(10)

    async def open_orders(self, request: web.Request) -> web.Response:
        account, params = await self.signed(request)
        if params.get("account-id"):
            self.spot_account(account, params["account-id"])
        symbol, side = params.get("symbol"), params.get("side")
        if symbol:
            self.book.market(symbol)
        size = int_param(params, "size", 100, 1, 500)
        orders = [o for o in self.book.open_orders(account, symbol) if side in (None, "", o.side)]
        orders.sort(key=lambda o: o.id, reverse=True)
        return ok([self.order_json(o, open_orders=True) for o in orders[:size]])

    async def match_results(self, request: web.Request) -> web.Response:
        """Newest first in a window of at most 48 h (default: the 48 h before ``end-time``, or after
        ``start-time``, or before now)."""
        account, params = await self.signed(request)
        symbol = params.get("symbol")
        if symbol:
            self.book.market(symbol)
        size = int_param(params, "size", 100, 1, 500)
        start, end = int_param(params, "start-time"), int_param(params, "end-time")
        if start is None and end is None:
            end = now_ms()
        if start is None:
            start = end - WINDOW_MS  # type: ignore[operator]
        if end is None:
            end = start + WINDOW_MS
        if not 0 <= end - start <= WINDOW_MS:
            raise Reject("interval")
        trades = [t for t in self.book.trades(account, symbol or None) if start <= t.time <= end]
        trades.reverse()
        return ok([self.match_json(t) for t in trades[:size]])

    # --- public market data (no signature) ----------------------------------------------------
    def symbol_param(self, request: web.Request) -> str:
        symbol = request.query.get("symbol", "")
        if symbol not in self.book.markets:
            raise Reject("market_symbol")
        return symbol

    @staticmethod
    def market_int(request: web.Request, name: str, default: int | None, low: int, high: int) -> int | None:
        try:
            return int_param(request.query, name, default, low, high)
        except Reject:
            raise Reject("market_parameter", name) from None

    @staticmethod
    def market_json(channel: str, **body: Any) -> web.Response:
        return web.json_response({"ch": channel, "status": "ok", "ts": now_ms(), **body})

    async def detail_merged(self, request: web.Request) -> web.Response:
        """``GET /market/detail/merged``: the last 24 hours of the tape with the best bid and ask."""
        symbol = self.symbol_param(request)
        stats = Stats.of(self.book.tape(symbol), now_ms())
        bids, asks = self.book.depth(symbol)
        return self.market_json(f"market.{symbol}.detail.merged", tick={
            "id": self.versions[symbol], "version": self.versions[symbol], "open": number(stats.open),
            "close": number(stats.last), "low": number(stats.low), "high": number(stats.high),
            "amount": number(stats.volume), "vol": number(stats.quote_volume), "count": len(stats.trades),
            "bid": [number(p) for p in bids[0]] if bids else [], "ask": [number(p) for p in asks[0]] if asks else [],
        })

    async def depth(self, request: web.Request) -> web.Response:
        """``GET /market/depth?type=step0``: synthetic levels plus open orders."""
        symbol = self.symbol_param(request)
        if request.query.get("type") != "step0":
            raise Reject("market_parameter", "type")  # step1..step5 aggregate prices: not in this fake
        depth = self.market_int(request, "depth", 150, 5, 150)
        if depth not in (5, 10, 20, 150):
            raise Reject("market_parameter", "depth")
        bids, asks = self.book.depth(symbol)
        return self.market_json(f"market.{symbol}.depth.step0", tick={
            "ts": now_ms(), "version": self.versions[symbol],
            "bids": [[number(p), number(q)] for p, q in bids[:depth]],
            "asks": [[number(p), number(q)] for p, q in asks[:depth]],
        })

    async def history_trade(self, request: web.Request) -> web.Response:
        """``GET /market/history/trade``: the ``size`` most recent trades, newest first."""
        symbol = self.symbol_param(request)
        size = self.market_int(request, "size", 1, 1, 2000)
        trades = self.book.tape(symbol)[-size:]  # type: ignore[operator]
        return self.market_json(f"market.{symbol}.trade.detail", data=[{
            "id": t.id * 100_000 + 1, "ts": t.time,
            "data": [{"id": t.id * 100_000 + 1, "ts": t.time, "trade-id": t.id, "amount": number(t.qty),
                      "price": number(t.price), "direction": "sell" if buyer_is_maker(t) else "buy"}],
        } for t in reversed(trades)])

    async def kline(self, request: web.Request) -> web.Response:
        """``GET /market/history/kline`` (the latest ``size``) and ``/market/history/candles`` (also
        ``from``/``to`` in seconds): candles of the tape, newest first."""
        symbol, query = self.symbol_param(request), request.query
        period = query.get("period", "")
        if period not in PERIODS:
            raise Reject("market_parameter", "period")
        historical = request.path.endswith("candles")
        size = self.market_int(request, "size", 150, 1, 1000 if historical else 2000)
        start = self.market_int(request, "from", None, 0, 1 << 40) if historical else None
        end = self.market_int(request, "to", None, 0, 1 << 40) if historical else None
        rows = candles(self.book.tape(symbol), INTERVALS_MS[PERIODS[period]], None if start is None else start * 1000,
                       None if end is None else end * 1000, size, now_ms())  # type: ignore[arg-type]
        return self.market_json(f"market.{symbol}.kline.{period}", data=[{
            "id": c.open_time // 1000, "open": number(c.open), "close": number(c.close), "low": number(c.low),
            "high": number(c.high), "amount": number(c.volume), "vol": number(c.quote_volume), "count": c.count,
        } for c in reversed(rows)])
