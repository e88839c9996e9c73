"""Liquidation and auto-deleveraging (ADL): the insurance fund never goes negative.

A liquidation (``engine.triggers`` fires it when the mark reaches the force price and the
book has orders on the side the position closes into) first trades against the book, but
only down (a long) or up (a short) to the **fund limit**: the worst price at which closing
the whole position at the taker fee would draw no more from the insurance fund than it
holds. With ``V`` lots, cost ``C``, margin ``M``, fund ``F``, taker rate ``r+ = max(taker,
0)`` and the unrounded notional ``N(p)`` at price ``p``, that is the worst ``p`` with

    ``M + PnL(N(p)) - r+ x N(p) >= 2V - F``    (PnL = N - C or C - N as in ``positions``)

The ``2V`` minor units pay for rounding: each fill floors its cost and margin shares and
(inverse) its notional, which costs less than two units per fill against the exact
shares, so no prefix of the liquidation's fills ever draws more than ``F``
(``tests/property/test_liquidation_props.py`` fails without them). When the book within
the limit can take the whole position, or the whole book side lies within it, the
liquidation is a market IOC order for the whole position (a thin book leaves the rest
for the retry); otherwise the order is for the lots within the limit only, and the rest
of the position is **auto-deleveraged**:

* candidates: the positions on the opposite side of the same contract (any product,
  including the liquidated one's own), lots not reserved by close orders;
* ranking: unrealised PnL at the mark divided by margin (at least one minor unit), times
  the position's leverage, highest first; ties by deal id (older first);
* each candidate in turn takes ``q = min(remaining, its free lots)`` at the bankruptcy
  price of those ``q`` lots of the liquidated position (``positions.bankruptcy_price``:
  where they lose exactly their margin, rounded in the liquidated side's favour) if that
  price does not cost the candidate more than the margin of its ``q`` lots; else it is
  skipped;
* an ADL execution is a pair of orders filled against each other at that price with no
  fee: a ``liquidation`` close order of the liquidated position (what is left of its
  margin, 0 or a rounding surplus, goes to the fund) and an ``adl`` close order of the
  candidate (credited like any close). Both emit order events (19003 messageType 1,
  status FILLED), both positions their position event (messageType 2), and a trade event
  (fills of both products, the public trade tape) at the bankruptcy price. The mark and the
  last price are not changed by it.

After ADL took some lots, the fewer left are tried on the book again (their limit is
wider). Lots that neither the book within the limit nor ADL can take stay open; the
liquidation is retried at the next command on the contract. TP/SL closes use the same
limit (``book_lots``) but never ADL: what lies beyond waits. Expiry deleverages the
deficits the fund cannot pay the same way (``engine.funding``).
"""

from __future__ import annotations

from fractions import Fraction

from ceres.domain.enums import PriceType, Side, TimeInForce
from ceres.domain.instruments import MAX_PRICE_TICKS, RATE_SCALE, Instrument
from ceres.domain.money import ceil_div
from ceres.engine import contracts, marks, matching
from ceres.engine.positions import LONG, SHORT, Position, bankruptcy_price, close_result, cost_part, pnl
from ceres.engine.state import State

BUY, SELL = int(Side.BUY), int(Side.SELL)
LIMIT, MARKET = int(PriceType.LIMIT), int(PriceType.MARKET)
IOC = int(TimeInForce.IOC)
LIQUIDATION_TAG = marks.TRIGGER_TAGS[marks.LIQ]
ADL_TAG = "adl"


def liquidate(state: State, pos: Position) -> None:
    """Close ``pos`` (its orders already cancelled): the book within the fund limit, then
    ADL for the rest if the book's remaining orders lie beyond the limit."""
    cs = state.contracts
    while pos.deal_id in cs.positions:
        lots, beyond = book_lots(state, pos)
        if lots:
            close_at_market(state, pos, lots, LIQUIDATION_TAG, liquidating=True)
        if not (beyond and pos.deal_id in cs.positions
                and deleverage(state, pos, pos.vol, marks.mark(state, pos.inst))):
            return  # else ADL took some lots: the fewer left may fit the limit on the book


def close_at_market(state: State, pos: Position, lots: int, tag: str, liquidating: bool = False) -> None:
    """A market IOC order closing ``lots`` of ``pos`` against the book (a liquidation's
    remaining margin goes to the fund)."""
    inst = pos.inst
    order = contracts.close_order(state, pos, SELL if pos.side == LONG else BUY, MARKET, 0, lots, tag, IOC)
    oid = order.spec.oid
    cs = state.contracts
    if liquidating:
        cs.liquidating.add(oid)
    matching.execute(state, order, state.books[inst.exchange, inst.contract], contracts.fill)
    cs.liquidating.discard(oid)


def book_lots(state: State, pos: Position) -> tuple[int, bool]:
    """How many lots of ``pos`` a trigger close may send to the book, and whether the book
    holds orders beyond the fund limit: all of them when the book within the limit can take
    them or the whole opposite side lies within it (a thin book), else the lots within it."""
    inst = pos.inst
    limit = fund_limit(inst, pos, state.contracts.insurance.get((inst.exchange, inst.settle), 0))
    if limit is None:
        return pos.vol, False
    book = state.books[inst.exchange, inst.contract]
    is_long = pos.side == LONG
    lots = 0
    for level in (book.bids if is_long else book.asks).iter_levels():
        if level.price < limit if is_long else level.price > limit:
            return lots, True
        lots += level.vol
        if lots >= pos.vol:
            break
    return pos.vol, False


def fund_limit(inst: Instrument, pos: Position, fund: int) -> int | None:
    """The fund limit in ticks (module docstring): a long may close at prices >= it, a
    short at prices <= it; None when any price will do."""
    S, r = RATE_SCALE, max(inst.taker_rate, 0)
    vol, cost = pos.vol, pos.cost
    need = 2 * vol - max(fund, 0) - pos.margin          # M - s*C + s*N - r*N >= 2V - F
    if (pos.side == LONG) != inst.inverse:             # PnL = N - C: (1 - r) N >= need + C
        n_min = need + cost
        if n_min <= 0:
            return None
        if not inst.inverse:                           # linear long: N = p V mult
            return ceil_div(n_min * S, (S - r) * vol * inst.notional_mult)
        return vol * inst.inv_num * (S - r) // (inst.tick_units * n_min * S)  # inverse short: N = V inv / p
    n_max = cost - need                                # PnL = C - N: (1 + r) N <= C - need
    if n_max <= 0:
        return MAX_PRICE_TICKS + 1 if inst.inverse else 0  # no price will do
    if not inst.inverse:                               # linear short
        return n_max * S // ((S + r) * vol * inst.notional_mult)
    return ceil_div(vol * inst.inv_num * (S + r), inst.tick_units * n_max * S)  # inverse long


def rank(inst: Instrument, positions: list[Position], mark: int | None) -> list[Position]:
    """ADL order: unrealised PnL at ``mark`` / margin x leverage, highest first, then deal id."""
    def score(p: Position) -> Fraction:
        upnl = pnl(inst, p.side, p.cost, inst.notional(p.vol, mark)) if mark else 0
        return Fraction(upnl * p.lever, max(p.margin, 1))

    return sorted(positions, key=lambda p: (-score(p), p.deal_id))


def deleverage(state: State, pos: Position, lots: int, mark: int | None) -> int:
    """Close up to ``lots`` of ``pos`` against the opposite side's positions in ADL order,
    each pair at the bankruptcy price of ``pos``'s part (module docstring). Returns the
    lots closed."""
    cs = state.contracts
    inst = pos.inst
    opposite = SHORT if pos.side == LONG else LONG
    candidates = rank(inst, [p for p in cs.positions.values()
                             if p.inst is inst and p.side == opposite and p.vol > p.closing], mark)
    wanted = left = min(lots, pos.vol - pos.closing)
    for other in candidates:
        if not left:
            break
        q = min(left, other.vol - other.closing)
        price = bankruptcy_price(inst, pos.side, q, cost_part(pos.cost, q, pos.vol), cost_part(pos.margin, q, pos.vol))
        if close_result(inst, other.side, q, cost_part(other.cost, q, other.vol),
                        cost_part(other.margin, q, other.vol), price) < 0:
            continue  # it would lose more than its margin at that price
        _execute(state, pos, other, q, price)
        left -= q
    return wanted - left


def _execute(state: State, pos: Position, other: Position, lots: int, price: int) -> None:
    """One ADL execution: ``pos``'s liquidation order against ``other``'s ADL order."""
    cs = state.contracts
    side = SELL if pos.side == LONG else BUY
    taker = contracts.close_order(state, pos, side, LIMIT, price, lots, LIQUIDATION_TAG, IOC)
    maker = contracts.close_order(state, other, BUY if side == SELL else SELL, LIMIT, price, lots, ADL_TAG, IOC)
    oid = taker.spec.oid
    cs.liquidating.add(oid)
    contracts.fill(state, maker, taker, price, lots, priced=False)
    cs.liquidating.discard(oid)
