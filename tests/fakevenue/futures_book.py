"""USDⓈ-M perpetual futures in miniature: the state behind the fake Binance ``/fapi`` (``binance_futures.py``).

A :class:`FuturesBook` is a :class:`~tests.fakevenue.book.Book` (its synthetic levels, public trades,
depth, tape, order lookup and announcements are reused as they are) whose accounts are
:class:`Wallet` s instead of spot balances. Everything is cross margin in single-asset mode with USDT
as the only margin asset, as Binance's defaults are:

- a wallet holds a USDT ``balance`` (deposits + realized PnL - fees), the position mode (``dual``:
  hedge mode; one-way by default) and a leverage per symbol (default 20).
- positions are per ``(symbol, position side)``: ``LONG``/``SHORT`` in hedge mode (``qty`` >= 0; a
  SHORT is rendered negative), ``BOTH`` in one-way mode (``qty`` signed, netting).
- hedge mode: ``BUY``+``LONG`` and ``SELL``+``SHORT`` open; ``SELL``+``LONG`` and ``BUY``+``SHORT`` close.
  A close larger than the position minus the open closes already resting on it is refused like a
  reduce-only order (``reduce_only``). Closes need no margin and are exempt from the minimum notional
  (Binance exempts reduce-only orders; treating hedge-mode closes the same is the fake's assumption).
- one-way mode: ``reduceOnly`` orders may only shrink the position (same refusal); other orders net
  against it (a fill past zero closes the old side, realizing its PnL, and opens the rest at the
  fill price). Every non-reduce-only order reserves margin for its whole quantity (simpler than
  Binance, which nets against the position).
- an opening order needs ``qty * price / leverage`` of available balance (``margin``), and the
  position plus the side's resting opens must stay under the leverage bracket's notional cap
  (``max_position``). Its initial margin stays reserved (``openOrderInitialMargin``) until it fills
  or is cancelled; nothing is frozen: margins are recomputed from the orders and positions.
- a fill charges a fee of 0.02 % (maker) or 0.04 % (taker) of ``qty * price`` in USDT, moves the
  position (the entry price is the quantity-weighted average of the opens, at 8 decimals) and credits
  the realized PnL of a close (``(price - entry) * qty``, negated for shorts) to the wallet.

Risk (:meth:`FuturesBook.risk`) is valued at the mark price: the one set by :meth:`FuturesBook.set_mark`,
else the last trade on the tape, else the entry price. Unrealized PnL is ``(mark - entry) * signed
qty``; a position's initial margin is ``|notional| / leverage``; maintenance margin is ``|notional| *
maintMarginRatio - cum`` of the position's bracket (:data:`BRACKETS`); ``available = max(0, wallet +
unrealized - position margin - open order margin)``. The liquidation price is Binance's cross-margin
formula for one symbol (both legs in hedge mode), the other symbols' PnL and maintenance margin held
constant; ``0`` when there is none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, ROUND_UP, Decimal

from tests.fakevenue.book import Account, Book, Change, Market, Order, Reject, Trade, now_ms

ZERO = Decimal(0)
EIGHT = Decimal("1e-8")
MAKER_FEE = Decimal("0.0002")
TAKER_FEE = Decimal("0.0004")
DEFAULT_LEVERAGE = 20
MARGIN_ASSET = "USDT"
FIRST_ORDER_ID = 4_000_000_000  # spot order ids start at 1000: the two never meet
FIRST_TRADE_ID = 900_000_000


@dataclass(frozen=True)
class Bracket:
    """One notional bracket of Binance's ``leverageBracket``; ``cum`` is the maintenance amount that
    makes the maintenance margin continuous across brackets."""

    number: int
    initial_leverage: int
    floor: Decimal
    cap: Decimal
    mmr: Decimal
    cum: Decimal


def brackets(*rows: tuple[int, int, int, str]) -> list[Bracket]:
    """Brackets from ``(initialLeverage, notionalFloor, notionalCap, maintMarginRatio)`` rows, ``cum``
    computed the way Binance does (``cum_n = cum_{n-1} + floor_n * (mmr_n - mmr_{n-1})``)."""
    result: list[Bracket] = []
    for number, (leverage, floor, cap, mmr) in enumerate(rows, 1):
        ratio = Decimal(mmr)
        cum = result[-1].cum + floor * (ratio - result[-1].mmr) if result else ZERO
        result.append(Bracket(number, leverage, Decimal(floor), Decimal(cap), ratio, cum))
    return result


BRACKETS: dict[str, list[Bracket]] = {
    "BTCUSDT": brackets((125, 0, 50_000, "0.004"), (100, 50_000, 600_000, "0.005"),
                        (50, 600_000, 3_000_000, "0.01"), (20, 3_000_000, 12_000_000, "0.025"),
                        (10, 12_000_000, 70_000_000, "0.05"), (1, 70_000_000, 800_000_000, "0.5")),
    "ETHUSDT": brackets((100, 0, 10_000, "0.005"), (75, 10_000, 100_000, "0.0065"),
                        (50, 100_000, 500_000, "0.01"), (25, 500_000, 1_000_000, "0.02"),
                        (10, 1_000_000, 2_000_000, "0.05"), (1, 2_000_000, 50_000_000, "0.5")),
}


@dataclass
class FuturesOrder(Order):
    position_side: str = "BOTH"
    reduce_only: bool = False

    @property
    def opens(self) -> bool:
        """Whether the order adds to a position (what needs margin)."""
        if self.position_side == "BOTH":
            return not self.reduce_only
        return (self.side == "buy") == (self.position_side == "LONG")


@dataclass
class FuturesTrade(Trade):
    position_side: str = "BOTH"
    realized_pnl: Decimal = ZERO


@dataclass
class Position:
    symbol: str
    side: str  # LONG, SHORT or BOTH
    qty: Decimal = ZERO  # >= 0 for LONG/SHORT, signed for BOTH
    entry: Decimal = ZERO
    updated: int = 0

    @property
    def amount(self) -> Decimal:
        """Binance's ``positionAmt``: negative for a short."""
        return -self.qty if self.side == "SHORT" else self.qty


@dataclass
class Wallet:
    key: str
    balance: Decimal = ZERO
    dual: bool = False
    leverage: dict[str, int] = field(default_factory=dict)
    positions: dict[tuple[str, str], Position] = field(default_factory=dict)
    updated: int = 0

    def position(self, symbol: str, side: str) -> Position:
        return self.positions.setdefault((symbol, side), Position(symbol, side))

    def open_positions(self) -> list[Position]:
        return [p for p in self.positions.values() if p.qty]


@dataclass
class PositionRisk:
    position: Position
    leverage: int
    mark: Decimal
    notional: Decimal  # signed, at the mark
    unrealized: Decimal
    initial: Decimal
    maint: Decimal
    bracket: Bracket
    liquidation: Decimal = ZERO


@dataclass
class AccountRisk:
    wallet: Decimal
    unrealized: Decimal
    position_initial: Decimal
    order_initial: Decimal
    maint: Decimal
    positions: list[PositionRisk]

    @property
    def margin_balance(self) -> Decimal:
        return self.wallet + self.unrealized

    @property
    def initial(self) -> Decimal:
        return self.position_initial + self.order_initial

    @property
    def available(self) -> Decimal:
        return max(ZERO, self.margin_balance - self.initial)


def eight(value: Decimal) -> Decimal:
    return value.quantize(EIGHT, rounding=ROUND_HALF_EVEN)


class FuturesBook(Book):
    """Orders, positions and wallets of the fake's USDⓈ-M perpetuals (see the module docstring)."""

    def __init__(self, markets: dict[str, Market], tiers: dict[str, list[Bracket]] | None = None) -> None:
        super().__init__(markets, fee_rate=TAKER_FEE, first_order_id=FIRST_ORDER_ID, first_trade_id=FIRST_TRADE_ID)
        self.tiers = tiers or BRACKETS
        self.wallets: dict[str, Wallet] = {}
        self.marks: dict[str, Decimal] = {}

    # -- wallets and settings ----------------------------------------------------------------
    def wallet(self, key: str) -> Wallet:
        """The futures wallet of an API key (an empty one the first time it is asked for)."""
        return self.wallets.setdefault(key, Wallet(key))

    def fund(self, key: str, amounts: dict[str, str]) -> Wallet:
        wallet = self.wallet(key)
        for asset, amount in amounts.items():
            if asset != MARGIN_ASSET:
                raise Reject("control", f"the futures wallet holds {MARGIN_ASSET} only, not {asset}")
            wallet.balance += Decimal(amount)
            wallet.updated = now_ms()
        return wallet

    def leverage(self, wallet: Wallet, symbol: str) -> int:
        return wallet.leverage.get(symbol, DEFAULT_LEVERAGE)

    def max_notional(self, symbol: str, leverage: int) -> Decimal:
        """The largest position notional allowed at ``leverage`` (``maxNotionalValue``)."""
        return max(b.cap for b in self.tiers[symbol] if b.initial_leverage >= leverage)

    def bracket(self, symbol: str, notional: Decimal) -> Bracket:
        tiers = self.tiers[symbol]
        return next((b for b in tiers if abs(notional) < b.cap), tiers[-1])

    def set_dual(self, key: str, dual: bool) -> Wallet:
        wallet = self.wallet(key)
        if wallet.dual == dual:
            raise Reject("no_need_dual")
        if any(o.key == key and o.is_open for o in self.orders.values()):
            raise Reject("dual_open_orders")
        if wallet.open_positions():
            raise Reject("dual_position")
        wallet.dual = dual
        return wallet

    def set_leverage(self, key: str, symbol: str, leverage: int) -> int:
        self.market(symbol)
        if not 1 <= leverage <= self.tiers[symbol][0].initial_leverage:
            raise Reject("leverage", str(leverage))
        wallet = self.wallet(key)
        before = self.leverage(wallet, symbol)
        wallet.leverage[symbol] = leverage
        risk = self.risk(wallet)
        exposure = sum((abs(r.notional) for r in risk.positions if r.position.symbol == symbol), ZERO)
        refusal = ("max_position" if exposure > self.max_notional(symbol, leverage)
                   else "leverage_margin" if risk.margin_balance < risk.initial else None)
        if refusal:
            wallet.leverage[symbol] = before
            raise Reject(refusal)
        return leverage

    def set_mark(self, symbol: str, price: Decimal | None) -> None:
        self.market(symbol)
        if price is None:
            self.marks.pop(symbol, None)
        elif price <= 0:
            raise Reject("control", f"mark price {price} must be positive")
        else:
            self.marks[symbol] = price

    def mark(self, symbol: str) -> Decimal | None:
        """The mark price: set by a test, else the last trade, else unknown (``None``)."""
        if symbol in self.marks:
            return self.marks[symbol]
        tape = self.tape(symbol)
        return tape[-1].price if tape else None

    # -- orders --------------------------------------------------------------------------------
    def place_order(self, account: Account, symbol: str, side: str, position_side: str, price: Decimal,
                    qty: Decimal, client_id: str, reduce_only: bool = False) -> FuturesOrder:
        """Validate and rest a GTC limit order (the checks in the order ``binance_futures.py`` lists them)."""
        market = self.market(symbol)
        wallet = self.wallet(account.key)
        if price <= 0:
            raise Reject("price_zero")
        if qty <= 0:
            raise Reject("qty_zero")
        if price % market.tick:
            raise Reject("tick")
        if qty % market.step:
            raise Reject("lot")
        if qty < market.min_qty:
            raise Reject("min_qty")
        if any(o.key == account.key and o.client_id == client_id and o.is_open for o in self.orders.values()):
            raise Reject("duplicate", client_id)
        created = now_ms()
        order = FuturesOrder(client_id, symbol, side, price, qty, id=0, key=account.key, created=created,
                             updated=created, position_side=position_side, reduce_only=reduce_only)
        if order.opens:
            self._check_open(wallet, order, market)
        else:
            self._check_close(wallet, order)
        order.id = next(self._order_ids)
        self.orders[order.id] = order
        self._announce(Change("place", symbol, order))
        return order

    def open_orders_of(self, key: str) -> list[FuturesOrder]:
        return [o for o in self.orders.values() if isinstance(o, FuturesOrder) and o.key == key and o.is_open]

    def _resting(self, key: str, symbol: str, position_side: str, opens: bool) -> list[FuturesOrder]:
        return [o for o in self.orders.values() if isinstance(o, FuturesOrder) and o.key == key and o.is_open
                and o.symbol == symbol and o.position_side == position_side and o.opens == opens]

    def _check_close(self, wallet: Wallet, order: FuturesOrder) -> None:
        position = wallet.position(order.symbol, order.position_side)
        if order.position_side == "BOTH":  # reduce-only: it must shrink a position on the other side
            closable = position.qty if order.side == "sell" else -position.qty
            pending = [o for o in self._resting(wallet.key, order.symbol, "BOTH", False) if o.side == order.side]
        else:
            closable, pending = position.qty, self._resting(wallet.key, order.symbol, order.position_side, False)
        if order.qty > closable - sum((o.qty - o.filled for o in pending), ZERO):
            raise Reject("reduce_only")

    def _check_open(self, wallet: Wallet, order: FuturesOrder, market: Market) -> None:
        if order.qty * order.price < market.min_notional:
            raise Reject("min_notional", format(market.min_notional.normalize(), "f"))
        leverage = self.leverage(wallet, order.symbol)
        position = wallet.position(order.symbol, order.position_side)
        resting = [o for o in self._resting(wallet.key, order.symbol, order.position_side, True)
                   if o.side == order.side]
        exposure = abs(position.qty) * (self.mark(order.symbol) or position.entry) + order.qty * order.price + sum(
            ((o.qty - o.filled) * o.price for o in resting), ZERO)
        if exposure > self.max_notional(order.symbol, leverage):
            raise Reject("max_position")
        if self.risk(wallet).available < order.qty * order.price / leverage:
            raise Reject("margin")

    def cancel(self, account: Account, order: Order) -> Order:
        """Nothing is frozen in futures: a cancel only ends the order (its margin is no longer counted)."""
        if not order.is_open:
            raise Reject("not_open", f"order {order.id} is {order.status}")
        order.status, order.updated = "canceled", now_ms()
        self._announce(Change("cancel", order.symbol, order))
        return order

    def fill(self, order_id: int, qty: Decimal | None = None, *, maker: bool = True) -> Trade:
        """Execute ``qty`` (default: all that is left) of an open order at its own price."""
        order = self.orders.get(order_id)
        if not isinstance(order, FuturesOrder) or not order.is_open:
            raise Reject("not_open", f"order {order_id}")
        qty = order.qty - order.filled if qty is None else qty
        if qty <= 0 or order.filled + qty > order.qty:
            raise Reject("fill", f"cannot fill {qty} of order {order_id}")
        wallet = self.wallet(order.key)
        position = wallet.position(order.symbol, order.position_side)
        quote = qty * order.price
        realized = self._move(position, order, qty)
        fee = (quote * (MAKER_FEE if maker else TAKER_FEE)).quantize(EIGHT, rounding=ROUND_UP)
        time = now_ms()
        wallet.balance += realized - fee
        wallet.updated = position.updated = time
        trade = FuturesTrade(order.client_id, order.symbol, order.side, order.price, qty, id=next(self._trade_ids),
                             order_id=order.id, fee=fee, fee_asset=MARGIN_ASSET, maker=maker, time=time,
                             position_side=order.position_side, realized_pnl=realized)
        order.trades.append(trade)
        order.filled += qty
        order.quote_filled += quote
        order.fee += fee
        order.status = "filled" if order.filled == order.qty else "partial"
        order.updated = time
        self._announce(Change("fill", order.symbol, order, trade))
        return trade

    @staticmethod
    def _move(position: Position, order: FuturesOrder, qty: Decimal) -> Decimal:
        """Apply a fill to the position; return the realized PnL."""
        price = order.price
        if position.side == "BOTH":
            signed = qty if order.side == "buy" else -qty
            held = position.qty
            if not held or (held > 0) == (signed > 0):
                position.entry = eight((abs(held) * position.entry + qty * price) / (abs(held) + qty))
                position.qty += signed
                return ZERO
            closed = min(qty, abs(held))
            realized = eight((price - position.entry) * closed * (1 if held > 0 else -1))
            position.qty += signed
            position.entry = ZERO if not position.qty else (price if qty > closed else position.entry)
            return realized
        if order.opens:
            position.entry = eight((position.qty * position.entry + qty * price) / (position.qty + qty))
            position.qty += qty
            return ZERO
        if qty > position.qty:
            raise Reject("fill", f"closing {qty} of a {position.side} position of {position.qty}")
        realized = eight((price - position.entry) * qty * (1 if position.side == "LONG" else -1))
        position.qty -= qty
        if not position.qty:
            position.entry = ZERO
        return realized

    # -- risk ----------------------------------------------------------------------------------
    def risk(self, wallet: Wallet) -> AccountRisk:
        rows = []
        for position in wallet.open_positions():
            leverage = self.leverage(wallet, position.symbol)
            mark = self.mark(position.symbol) or position.entry
            notional = position.amount * mark
            bracket = self.bracket(position.symbol, notional)
            rows.append(PositionRisk(position, leverage, mark, notional, (mark - position.entry) * position.amount,
                                     abs(notional) / leverage, abs(notional) * bracket.mmr - bracket.cum, bracket))
        order_initial = sum((((o.qty - o.filled) * o.price / self.leverage(wallet, o.symbol))
                             for o in self.orders.values() if isinstance(o, FuturesOrder) and o.key == wallet.key
                             and o.is_open and o.opens), ZERO)
        account = AccountRisk(wallet.balance, sum((r.unrealized for r in rows), ZERO),
                              sum((r.initial for r in rows), ZERO), order_initial,
                              sum((r.maint for r in rows), ZERO), rows)
        for row in rows:
            row.liquidation = self._liquidation(account, row.position.symbol)
        return account

    @staticmethod
    def _liquidation(account: AccountRisk, symbol: str) -> Decimal:
        """Binance's cross-margin liquidation price of ``symbol``: where the margin balance meets the
        maintenance margin, the symbol's legs moving with the price and everything else held still.

        ``LP = (WB - TMM1 + UPNL1 + sum cum - sum side*|qty|*entry) / (sum |qty|*mmr - sum side*|qty|)``
        """
        legs = [r for r in account.positions if r.position.symbol == symbol]
        others = [r for r in account.positions if r.position.symbol != symbol]
        numerator = (account.wallet - sum((r.maint for r in others), ZERO) + sum((r.unrealized for r in others), ZERO)
                     + sum((r.bracket.cum for r in legs), ZERO)
                     - sum((r.position.amount * r.position.entry for r in legs), ZERO))
        denominator = sum((abs(r.position.amount) * r.bracket.mmr - r.position.amount for r in legs), ZERO)
        if not denominator:
            return ZERO
        price = numerator / denominator
        return eight(price) if price > 0 else ZERO
