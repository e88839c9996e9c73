"""The state a fake venue keeps, shared by every venue dialect: keys, balances, orders, fills.

A spot venue in miniature. Placing a limit order freezes what it may spend (the quote amount
``qty * price`` for a buy, ``qty`` of the base for a sell); a fill moves the frozen funds to the
counter-asset and charges a fee in the asset received (as Binance and OKX spot do without BNB/OKB
discounts); a cancel releases what is still frozen. Nothing matches by itself: tests fill orders
through the control API. All amounts are :class:`~decimal.Decimal`; venues render them as strings.

Besides the accounts' own orders, a book holds what other market participants do, set by tests:
synthetic resting levels per symbol (:meth:`Book.set_levels`, merged with the open orders in
:meth:`Book.depth`) and public trades (:meth:`Book.public_trade`); :meth:`Book.tape` is every public
trade of a symbol, the accounts' fills included. Every change is announced to :attr:`Book.listeners`
as a :class:`Change` (the streams of ``binance_ws.py`` turn them into websocket events).

Time in force (the fake Binance's, ``Book.place``'s ``tif``): ``GTC`` rests without matching, even when
it crosses (tests fill it through the control API, as before); ``IOC`` and ``FOK`` take the synthetic
levels of the other side at or through their limit, best price first, at the levels' prices (a taker:
``maker`` False), the level's quantity reduced by what they took; an IOC's remainder and a FOK that the
levels cannot fill whole end ``expired`` (a FOK then with nothing filled) and never rest, never show in
the depth. ``maker_only`` (Binance's LIMIT_MAKER) is refused (``would_take``) when the other side of the
depth (synthetic levels and every account's open orders) has a level at or through its price. IOC/FOK
do not take the accounts' own open orders: accounts never match each other in this fake (a real venue
would, or apply its self-trade prevention).

Venue rules that differ by dialect (error codes, id formats) live in the venue modules; the checks
themselves are here and raise :class:`Reject` with a neutral ``kind``.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
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


def buyer_is_maker(trade: Trade) -> bool:
    """``side`` is the account order's side for a fill and the taker's side for a public trade
    (whose ``maker`` is False), so the buyer made the market iff a buy was the maker side."""
    return (trade.side == "buy") == trade.maker


@dataclass
class Order(Deal):
    """``status`` uses neutral names: ``new``, ``partial``, ``filled``, ``canceled``, ``expired``.
    ``tif`` ``GTC``/``IOC``/``FOK``; ``maker_only``: refused rather than take (Binance's LIMIT_MAKER)."""

    id: int
    key: str
    created: int
    filled: Decimal = ZERO
    quote_filled: Decimal = ZERO
    fee: Decimal = ZERO
    status: str = "new"
    updated: int = 0
    trades: list[Trade] = field(default_factory=list)
    tif: str = "GTC"
    maker_only: bool = False

    @property
    def is_open(self) -> bool:
        return self.status in ("new", "partial")

    @property
    def average(self) -> Decimal:
        return self.quote_filled / self.filled if self.filled else ZERO


@dataclass
class Change:
    """One change of the book, as listeners get it. ``kind``: ``place``, ``fill`` (with the trade),
    ``cancel`` or ``expire`` (an account order; ``order`` set), ``trade`` (a public trade by someone
    else) or ``levels`` (the synthetic levels of ``symbol`` were replaced)."""

    kind: str
    symbol: str
    order: Order | None = None
    trade: Trade | None = None


Listener = Callable[[Change], None]
Levels = dict[str, dict[Decimal, Decimal]]  # side ("buy"/"sell") -> price -> quantity


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
        self.levels: dict[str, Levels] = {}  # synthetic resting liquidity by symbol
        self.public_trades: list[Trade] = []  # trades between other participants
        self.listeners: list[Listener] = []

    def _announce(self, change: Change) -> None:
        for listener in list(self.listeners):
            listener(change)

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

    def place(self, account: Account, symbol: str, side: str, price: Decimal, qty: Decimal, client_id: str, *,
              tif: str = "GTC", maker_only: bool = False) -> Order:
        """Validate, freeze funds and rest the order (GTC), or match it at once (IOC, FOK; see the
        module's docstring); the checks run in the order the venues document."""
        market = self.market(symbol)
        market.check(price, qty)
        if any(o.key == account.key and o.client_id == client_id and o.is_open for o in self.orders.values()):
            raise Reject("duplicate", client_id)
        asset, amount = (market.quote, price * qty) if side == "buy" else (market.base, qty)
        if account.free.get(asset, ZERO) < amount:
            raise Reject("insufficient", f"{asset} free {account.free.get(asset, ZERO)} < {amount}")
        if maker_only and self._crosses(symbol, side, price):
            raise Reject("would_take", f"{side} at {price} crosses the book")
        account.move(asset, free=-amount, locked=amount)
        created = now_ms()
        order = Order(client_id, symbol, side, price, qty, id=next(self._order_ids), key=account.key, created=created,
                      updated=created, tif=tif, maker_only=maker_only)
        self.orders[order.id] = order
        self._announce(Change("place", symbol, order))
        if tif in ("IOC", "FOK"):
            self._take(order)
        return order

    def _crosses(self, symbol: str, side: str, price: Decimal) -> bool:
        bids, asks = self.depth(symbol)
        other = asks if side == "buy" else bids
        return bool(other) and (other[0][0] <= price if side == "buy" else other[0][0] >= price)

    def _take(self, order: Order) -> None:
        """An IOC/FOK order's match against the synthetic levels of the other side; the rest expires."""
        levels = self.levels.get(order.symbol, {}).get("sell" if order.side == "buy" else "buy", {})
        crossing = sorted((p for p in levels if (p <= order.price if order.side == "buy" else p >= order.price)),
                          reverse=order.side == "sell")
        if order.tif == "FOK" and sum(levels[p] for p in crossing) < order.qty:
            crossing = []  # not all of it: nothing
        for level_price in crossing:
            qty = min(order.qty - order.filled, levels[level_price])
            levels[level_price] -= qty
            if not levels[level_price]:
                del levels[level_price]
            self.fill(order.id, qty, maker=False, price=level_price)
            if order.status == "filled":
                return
        self._end(order, "expired")

    def _end(self, order: Order, status: str) -> None:
        """Release what the open order still holds frozen; ``canceled`` or ``expired``."""
        market, account = self.market(order.symbol), self.accounts[order.key]
        rest = order.qty - order.filled
        asset, amount = (market.quote, rest * order.price) if order.side == "buy" else (market.base, rest)
        account.move(asset, free=amount, locked=-amount)
        order.status, order.updated = status, now_ms()
        self._announce(Change("cancel" if status == "canceled" else "expire", order.symbol, order))

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
        self._end(order, "canceled")
        return order

    def fill(self, order_id: int, qty: Decimal | None = None, *, maker: bool = True,
             price: Decimal | None = None) -> Trade:
        """Execute ``qty`` (default: all that is left) of an open order at its own price, or at
        ``price`` (a taker's: never worse than its limit; a buy gets the difference back)."""
        order = self.orders.get(order_id)
        if order is None or not order.is_open:
            raise Reject("not_open", f"order {order_id}")
        qty = order.qty - order.filled if qty is None else qty
        if qty <= 0 or order.filled + qty > order.qty:
            raise Reject("fill", f"cannot fill {qty} of order {order_id}")
        price = order.price if price is None else price
        if price <= 0 or (price > order.price if order.side == "buy" else price < order.price):
            raise Reject("fill", f"price {price} is worse than the limit of order {order_id}")
        market, account = self.market(order.symbol), self.accounts[order.key]
        quote = qty * price
        if order.side == "buy":
            frozen = qty * order.price
            account.move(market.quote, free=frozen - quote, locked=-frozen)
            received, fee_asset = qty, market.base
        else:
            account.move(market.base, locked=-qty)
            received, fee_asset = quote, market.quote
        fee = (received * self.fee_rate).quantize(Decimal("1e-8"), rounding=ROUND_UP)
        account.move(fee_asset, free=received - fee)
        trade = Trade(order.client_id, order.symbol, order.side, price, qty, id=next(self._trade_ids),
                      order_id=order.id, fee=fee, fee_asset=fee_asset, maker=maker, time=now_ms())
        order.trades.append(trade)
        order.filled += qty
        order.quote_filled += quote
        order.fee += fee
        order.status = "filled" if order.filled == order.qty else "partial"
        order.updated = trade.time
        self._announce(Change("fill", order.symbol, order, trade))
        return trade

    def open_orders(self, account: Account, symbol: str | None = None) -> list[Order]:
        return [o for o in self.orders.values()
                if o.key == account.key and o.is_open and (symbol is None or o.symbol == symbol)]

    def trades(self, account: Account, symbol: str | None = None) -> list[Trade]:
        return sorted((t for o in self.orders.values() if o.key == account.key for t in o.trades
                       if symbol is None or t.symbol == symbol), key=lambda t: t.id)

    # -- the rest of the market: synthetic levels and other participants' trades ---------------
    def set_levels(self, symbol: str, bids: list[tuple[Decimal, Decimal]], asks: list[tuple[Decimal, Decimal]]) -> None:
        """Replace the synthetic levels of ``symbol`` (``(price, qty)`` pairs; a price given twice adds up)."""
        self.market(symbol)
        levels: Levels = {"buy": {}, "sell": {}}
        for side, pairs in (("buy", bids), ("sell", asks)):
            for price, qty in pairs:
                if price <= 0 or qty <= 0:
                    raise Reject("control", f"level {price} x {qty} must be positive")
                levels[side][price] = levels[side].get(price, ZERO) + qty
        self.levels[symbol] = levels
        self._announce(Change("levels", symbol))

    def public_trade(self, symbol: str, price: Decimal, qty: Decimal, side: str, time: int | None = None) -> Trade:
        """A trade between two other participants; ``side`` is the taker's (``buy``: someone lifted an offer)."""
        self.market(symbol)
        if side not in ("buy", "sell") or price <= 0 or qty <= 0:
            raise Reject("control", f"bad public trade {side} {qty} @ {price}")
        trade = Trade("", symbol, side, price, qty, id=next(self._trade_ids), order_id=-1, fee=ZERO, fee_asset="",
                      maker=False, time=now_ms() if time is None else time)
        self.public_trades.append(trade)
        self._announce(Change("trade", symbol, trade=trade))
        return trade

    def depth(self, symbol: str) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        """Bids (best first) and asks (best first): the synthetic levels plus every account's open orders."""
        levels: Levels = {side: dict(prices) for side, prices in self.levels.get(symbol, {}).items()}
        for o in self.orders.values():
            if o.symbol == symbol and o.is_open and o.tif == "GTC":  # an IOC/FOK never rests
                side = levels.setdefault(o.side, {})
                side[o.price] = side.get(o.price, ZERO) + o.qty - o.filled
        return (sorted(levels.get("buy", {}).items(), reverse=True), sorted(levels.get("sell", {}).items()))

    def tape(self, symbol: str) -> list[Trade]:
        """Every public trade of ``symbol`` (accounts' fills and others' trades) by time, then id."""
        fills = [t for o in self.orders.values() if o.symbol == symbol for t in o.trades]
        others = [t for t in self.public_trades if t.symbol == symbol]
        return sorted(fills + others, key=lambda t: (t.time, t.id))
