"""The state a fake venue keeps, shared by every venue dialect: keys, balances, orders, fills.

A spot venue in miniature. Placing a limit order freezes what it may spend (the quote amount
``qty * price`` for a buy, ``qty`` of the base for a sell); a fill moves the frozen funds to the
counter-asset and charges a fee in the asset received (as Binance and OKX spot do without BNB/OKB
discounts); a cancel releases what is still frozen. Nothing matches by itself: tests fill orders
through the control API. All amounts are :class:`~decimal.Decimal`; venues render them as strings.

Venue rules that differ by dialect (error codes, id formats) live in the venue modules; the checks
themselves are here and raise :class:`Reject` with a neutral ``kind``.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from decimal import ROUND_UP, Decimal

ZERO = Decimal(0)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Reject(Exception):
    """A request the venue refuses; ``kind`` is one of the names used by the venue modules' tables."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail


@dataclass
class Market:
    """One spot instrument with the filters both venues apply (Binance PRICE_FILTER/LOT_SIZE/MIN_NOTIONAL,
    OKX tickSz/lotSz/minSz)."""

    base: str
    quote: str
    tick: Decimal
    step: Decimal
    min_qty: Decimal
    min_notional: Decimal = ZERO

    def check(self, price: Decimal, qty: Decimal) -> None:
        if price <= 0 or price % self.tick:
            raise Reject("tick", f"price {price} is not a multiple of {self.tick}")
        if qty % self.step:
            raise Reject("lot", f"quantity {qty} is not a multiple of {self.step}")
        if qty < self.min_qty:
            raise Reject("min_qty", f"quantity {qty} is below {self.min_qty}")
        if price * qty < self.min_notional:
            raise Reject("min_notional", f"notional {price * qty} is below {self.min_notional}")


@dataclass
class Account:
    key: str
    secret: str
    passphrase: str = ""
    free: dict[str, Decimal] = field(default_factory=dict)
    locked: dict[str, Decimal] = field(default_factory=dict)

    def move(self, asset: str, *, free: Decimal = ZERO, locked: Decimal = ZERO) -> None:
        self.free[asset] = self.free.get(asset, ZERO) + free
        self.locked[asset] = self.locked.get(asset, ZERO) + locked

    def assets(self) -> list[str]:
        return sorted(set(self.free) | set(self.locked))


@dataclass
class Deal:
    """What an order and each of its fills have in common."""

    client_id: str
    symbol: str
    side: str
    price: Decimal
    qty: Decimal


@dataclass
class Trade(Deal):
    id: int
    order_id: int
    fee: Decimal
    fee_asset: str
    maker: bool
    time: int


@dataclass
class Order(Deal):
    """``status`` uses neutral names: ``new``, ``partial``, ``filled``, ``canceled``."""

    id: int
    key: str
    created: int
    filled: Decimal = ZERO
    quote_filled: Decimal = ZERO
    fee: Decimal = ZERO
    status: str = "new"
    updated: int = 0
    trades: list[Trade] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.status in ("new", "partial")

    @property
    def average(self) -> Decimal:
        return self.quote_filled / self.filled if self.filled else ZERO


class Book:
    """Keys, balances, orders and trades of one fake venue."""

    def __init__(self, markets: dict[str, Market], *, fee_rate: Decimal = Decimal("0.001"),
                 first_order_id: int = 1000, first_trade_id: int = 5000) -> None:
        self.markets = markets
        self.fee_rate = fee_rate
        self.accounts: dict[str, Account] = {}
        self.orders: dict[int, Order] = {}
        self._order_ids = itertools.count(first_order_id)
        self._trade_ids = itertools.count(first_trade_id)

    def add_account(self, key: str, secret: str, passphrase: str = "",
                    balances: dict[str, str] | None = None) -> Account:
        account = Account(key, secret, passphrase)
        for asset, amount in (balances or {}).items():
            account.move(asset, free=Decimal(amount))
        self.accounts[key] = account
        return account

    def market(self, symbol: str) -> Market:
        market = self.markets.get(symbol)
        if market is None:
            raise Reject("symbol", symbol)
        return market

    def place(self, account: Account, symbol: str, side: str, price: Decimal, qty: Decimal, client_id: str) -> Order:
        """Validate, freeze funds and rest the order; the checks run in the order the venues document."""
        market = self.market(symbol)
        market.check(price, qty)
        if any(o.key == account.key and o.client_id == client_id and o.is_open for o in self.orders.values()):
            raise Reject("duplicate", client_id)
        asset, amount = (market.quote, price * qty) if side == "buy" else (market.base, qty)
        if account.free.get(asset, ZERO) < amount:
            raise Reject("insufficient", f"{asset} free {account.free.get(asset, ZERO)} < {amount}")
        account.move(asset, free=-amount, locked=amount)
        created = now_ms()
        order = Order(client_id, symbol, side, price, qty, id=next(self._order_ids), key=account.key, created=created,
                      updated=created)
        self.orders[order.id] = order
        return order

    def find(self, account: Account, symbol: str, order_id: int | None = None, client_id: str | None = None) -> Order:
        """The order by venue id, or else the newest one with that client id (Binance and OKX both
        answer a client-id query with the latest order that used it)."""
        for order in sorted(self.orders.values(), key=lambda o: o.id, reverse=True):
            if order.key != account.key or order.symbol != symbol:
                continue
            if (order_id is not None and order.id == order_id) or (order_id is None and order.client_id == client_id):
                return order
        raise Reject("not_found", f"{symbol} {order_id or client_id}")

    def cancel(self, account: Account, order: Order) -> Order:
        if not order.is_open:
            raise Reject("not_open", f"order {order.id} is {order.status}")
        market = self.market(order.symbol)
        rest = order.qty - order.filled
        asset, amount = (market.quote, rest * order.price) if order.side == "buy" else (market.base, rest)
        account.move(asset, free=amount, locked=-amount)
        order.status, order.updated = "canceled", now_ms()
        return order

    def fill(self, order_id: int, qty: Decimal | None = None, *, maker: bool = True) -> Trade:
        """Execute ``qty`` (default: all that is left) of an open order at its own price."""
        order = self.orders.get(order_id)
        if order is None or not order.is_open:
            raise Reject("not_open", f"order {order_id}")
        qty = order.qty - order.filled if qty is None else qty
        if qty <= 0 or order.filled + qty > order.qty:
            raise Reject("fill", f"cannot fill {qty} of order {order_id}")
        market, account = self.market(order.symbol), self.accounts[order.key]
        quote = qty * order.price
        if order.side == "buy":
            account.move(market.quote, locked=-quote)
            received, fee_asset = qty, market.base
        else:
            account.move(market.base, locked=-qty)
            received, fee_asset = quote, market.quote
        fee = (received * self.fee_rate).quantize(Decimal("1e-8"), rounding=ROUND_UP)
        account.move(fee_asset, free=received - fee)
        trade = Trade(order.client_id, order.symbol, order.side, order.price, qty, id=next(self._trade_ids),
                      order_id=order.id, fee=fee, fee_asset=fee_asset, maker=maker, time=now_ms())
        order.trades.append(trade)
        order.filled += qty
        order.quote_filled += quote
        order.fee += fee
        order.status = "filled" if order.filled == order.qty else "partial"
        order.updated = trade.time
        return trade

    def open_orders(self, account: Account, symbol: str | None = None) -> list[Order]:
        return [o for o in self.orders.values()
                if o.key == account.key and o.is_open and (symbol is None or o.symbol == symbol)]

    def trades(self, account: Account, symbol: str | None = None) -> list[Trade]:
        return sorted((t for o in self.orders.values() if o.key == account.key for t in o.trades
                       if symbol is None or t.symbol == symbol), key=lambda t: t.id)
