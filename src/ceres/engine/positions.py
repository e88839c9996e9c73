"""Contract positions and their integer arithmetic (hedge mode, isolated margin).

One position per opening order (its ``dealId``): the order's first fill opens it, later
fills add to it. A product may hold long and short positions in one contract at once.

Units: ``vol`` lots; ``cost`` the entry notional in settle minor units (the sum of
``Instrument.notional(lots, price)`` over the opening fills, so the average entry price is
implied exactly); ``margin`` settle minor units held for the position; ``realized`` its
realised PnL so far (``close_profit``).

Profit and loss of ``lots`` closed (or valued) at price ``P``, with ``cp`` the part of the
cost they carry (``cost x lots // vol``; the last lots carry the remainder, so parts always
sum to the cost) and ``N = notional(lots, P)``:

* linear (quote-settled): long ``N - cp``, short ``cp - N``;
* inverse (coin-settled, notional = contracts x value / price): long ``cp - N``, short ``N - cp``.

Liquidation (force) price, with maintenance rate ``mmr`` (over S = 1e8), from
``equity(mark) <= mmr x notional(mark)``; the position is liquidated when the mark is at
or beyond it:

* linear long:  ``F = floor((cost - margin) x S / (vol x mult x (S - mmr)))``, mark <= F;
* linear short: ``F = ceil((cost + margin) x S / (vol x mult x (S + mmr)))``, mark >= F;
* inverse long: ``F = floor(vol x inv x (S + mmr) / (tick_units x (cost + margin) x S))``, mark <= F;
* inverse short: ``F = ceil(vol x inv x (S - mmr) / (tick_units x (cost - margin) x S))``, mark >= F;

(``mult``, ``inv``, ``tick_units`` from :class:`~ceres.domain.instruments.Instrument`). A
result that can never be reached (long F < 1 tick; short with cost <= margin on inverse)
is 0: "no liquidation price", shown as ``"0"``.

Bankruptcy price of ``lots`` carrying cost ``cp`` and margin ``mp``: the worst price for
the position at which closing them (no fee) still returns ``mp + PnL >= 0``, i.e. loses
at most their margin, in whole ticks:

* linear long: ``ceil((cp - mp) / (lots x mult))`` (at least 1 tick);
* linear short: ``floor((cp + mp) / (lots x mult))``;
* inverse long: ``floor(lots x inv / (tick_units x (cp + mp + 1))) + 1``;
* inverse short: ``floor(lots x inv / (tick_units x (cp - mp)))`` (none if cp <= mp).

(each capped to 1..MAX_PRICE_TICKS; a short with no bankruptcy price gets the cap).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ceres.domain.enums import PositionSide
from ceres.domain.instruments import MAX_PRICE_TICKS, RATE_SCALE, Instrument
from ceres.domain.money import ceil_div

if TYPE_CHECKING:
    from ceres.engine.ledger import Balance, Product

LONG = int(PositionSide.LONG)
SHORT = int(PositionSide.SHORT)
StateRow = list[int | str]


class Position:
    __slots__ = ("armed", "bal", "closing", "cost", "deal_id", "force", "inst", "lever", "margin",
                 "oid", "opened", "product", "realized", "side", "sl", "tp", "vol")

    def __init__(self, deal_id: int, product: Product, inst: Instrument, side: int, lever: int,
                 tp: int, sl: int, oid: int, opened: int, bal: Balance) -> None:
        self.deal_id = deal_id
        self.product = product
        self.inst = inst
        self.side = side
        self.vol = 0
        self.cost = 0
        self.margin = 0
        self.lever = lever
        self.realized = 0
        self.tp = tp
        self.sl = sl
        self.oid = oid          # the opening order
        self.opened = opened    # ms
        self.closing = 0        # lots reserved by open close orders
        self.force = 0
        self.bal = bal          # the contract account's settle-currency balance
        self.armed = -1         # the force price last pushed to the trigger heaps (-1: none)

    def __repr__(self) -> str:
        return (f"Position({self.deal_id}, {self.product.name}, {self.inst.contract}, "
                f"{'long' if self.side == LONG else 'short'}, vol={self.vol}, cost={self.cost}, "
                f"margin={self.margin}, force={self.force})")

    def to_state(self) -> StateRow:
        return [self.deal_id, self.product.name, self.inst.exchange, self.inst.contract, self.side,
                self.vol, self.cost, self.margin, self.lever, self.realized, self.tp, self.sl,
                self.oid, self.opened, self.closing]


def pnl(inst: Instrument, side: int, cost_part: int, notional_now: int) -> int:
    """Profit of a position part with entry notional ``cost_part`` valued at ``notional_now``."""
    if (side == LONG) != inst.inverse:
        return notional_now - cost_part
    return cost_part - notional_now


def cost_part(total: int, lots: int, vol: int) -> int:
    """The share of ``total`` carried by ``lots`` of ``vol`` (floor; all of it at the end)."""
    return total if lots >= vol else total * lots // vol


def force_price(inst: Instrument, side: int, vol: int, cost: int, margin: int) -> int:
    """Liquidation price in ticks (0 = none); formulas in the module docstring."""
    if vol <= 0:
        return 0
    S, mmr = RATE_SCALE, inst.maint_rate
    if not inst.inverse:
        base = vol * inst.notional_mult
        if side == LONG:
            num = cost - margin
            return max(0, num * S // (base * (S - mmr))) if num > 0 else 0
        return ceil_div((cost + margin) * S, base * (S + mmr))
    if side == LONG:
        return vol * inst.inv_num * (S + mmr) // (inst.tick_units * (cost + margin) * S)
    num = cost - margin
    if num <= 0:
        return 0
    return ceil_div(vol * inst.inv_num * (S - mmr), inst.tick_units * num * S)


def pool_term(inst: Instrument, side: int, cost: int) -> int:
    """A position's share of the open-PnL pool in the conservation identity:
    sum(balances) + fees + insurance + sum(pool_term) == deposits - withdrawals."""
    if (side == LONG) != inst.inverse:
        return -cost
    return cost


def close_result(inst: Instrument, side: int, lots: int, cp: int, mp: int, price: int) -> int:
    """What closing ``lots`` carrying cost ``cp`` and margin ``mp`` at ``price`` returns
    to the holder before fees: margin plus PnL (negative: a loss beyond the margin)."""
    return mp + pnl(inst, side, cp, inst.notional(lots, price))


def bankruptcy_price(inst: Instrument, side: int, lots: int, cp: int, mp: int) -> int:
    """Ticks (formulas in the module docstring): ``close_result`` there is >= 0."""
    if not inst.inverse:
        base = lots * inst.notional_mult
        price = ceil_div(cp - mp, base) if side == LONG else (cp + mp) // base
    elif side == LONG:
        price = lots * inst.inv_num // (inst.tick_units * (cp + mp + 1)) + 1
    else:
        price = lots * inst.inv_num // (inst.tick_units * (cp - mp)) if cp > mp else MAX_PRICE_TICKS
    return min(max(price, 1), MAX_PRICE_TICKS)
