"""Price-time matching of a new order against the book, then its lifetime.

``execute`` is how every new order (spot, contract, trigger close) trades: a fill-or-kill
order that the book cannot fill completely does not match at all; otherwise ``match``
crosses it against the opposite side, best price first and, within a price, oldest first,
handing each fill to the caller's ``settle`` (``spot.fill`` or ``contracts.fill``, which
move the money and report the fill). Then the order rests (GTC with volume left) or ends
(``lifetime.finish``). Complexity: O(1) per fill plus O(L) to drop an emptied level.

Self-trade prevention: when the taker meets a maker of its own product and its ``stp``
mode is not NONE, they do not trade (no fill, no fee): CANCEL_MAKER cancels the maker and
matching goes on, CANCEL_TAKER ends the taker there (its remainder is cancelled, it does
not rest), CANCEL_BOTH does both. ``on_cancel`` is told of each maker cancelled this way
(contracts announce the margin of an opening order gone).
"""

from __future__ import annotations

from collections.abc import Callable

from ceres.domain.enums import OrderStatus, PriceType, ReportKind, Side
from ceres.engine import lifetime
from ceres.engine.book import OrderBook
from ceres.engine.orders import Order
from ceres.engine.state import State

Settle = Callable[[State, Order, Order, int, int], None]
OnCancel = Callable[[State, Order], None] | None

BUY = int(Side.BUY)
LIMIT = int(PriceType.LIMIT)
FILLED = int(OrderStatus.FILLED)
_LIVE_MAX = int(OrderStatus.PART_FILLED)
FOK, RESTING = lifetime.FOK, lifetime.RESTING
CANCEL_MAKER, CANCELLED = lifetime.CANCEL_MAKER, int(ReportKind.CANCELLED)


def execute(state: State, order: Order, book: OrderBook, settle: Settle, on_cancel: OnCancel = None) -> bool:
    """Match a new order, then rest it or end it by its time in force. True if it rests."""
    spec = order.spec
    if spec.side == BUY:
        opp = book.asks.prices
        crosses = bool(opp) and (spec.ptype != LIMIT or opp[0] <= spec.price)
    else:
        opp = book.bids.prices
        crosses = bool(opp) and (spec.ptype != LIMIT or opp[-1] >= spec.price)
    if crosses and (spec.tif != FOK or lifetime.fills_completely(book, order)):
        exhausted = match(state, order, book, settle, on_cancel)
    else:
        exhausted = True
    if order.status == FILLED or order.status > _LIVE_MAX:  # done, or ended by self-trade prevention
        return False
    if spec.tif in RESTING:
        state.rest(order, book)
        return True
    lifetime.finish(state, order, exhausted)
    return False


def match(state: State, taker: Order, book: OrderBook, settle: Settle, on_cancel: OnCancel = None) -> bool:
    """Cross ``taker`` against the opposite side, settling each fill with ``settle``.
    Returns True when the book ran out of eligible liquidity before the taker was done
    (used to classify the end of market orders)."""
    spec = taker.spec
    is_buy = spec.side == BUY
    opp = book.asks if is_buy else book.bids
    prices = opp.prices
    levels = opp.levels
    limit = spec.price if spec.ptype == LIMIT else None
    market_buy = limit is None and is_buy and not spec.inst.is_contract
    mult = spec.inst.notional_mult
    taker_vol = spec.vol
    stp, product = spec.stp, taker.product
    stopped = False
    while prices:
        best = prices[0] if is_buy else prices[-1]
        if limit is not None and (best > limit if is_buy else best < limit):
            return True
        level = levels[best]
        q = level.orders
        while q:
            maker = q[0]
            if maker.status > _LIVE_MAX:
                q.popleft()
                continue
            if market_buy and taker.reserved // (best * mult) == 0:
                return False  # the budget buys no lot here: no match, so no self-trade either
            if stp and maker.product is product:
                if stp >= CANCEL_MAKER:  # cancel_maker, cancel_both
                    q.popleft()
                    level.live -= 1
                    level.vol -= maker.spec.vol - maker.filled
                    lifetime.withdraw(state, maker, CANCELLED, lifetime.STP_REASON)
                    if on_cancel is not None:
                        on_cancel(state, maker)
                if stp != CANCEL_MAKER:  # cancel_taker, cancel_both
                    stopped = True
                    break
                continue
            lots = maker.spec.vol - maker.filled
            if market_buy:
                afford = taker.reserved // (best * mult)
                if afford == 0:
                    return False
                if afford < lots:
                    lots = afford
            else:
                rest = taker_vol - taker.filled
                if rest < lots:
                    lots = rest
            settle(state, maker, taker, best, lots)
            level.vol -= lots
            if maker.status == FILLED:
                q.popleft()
                level.live -= 1
                state.unregister_open(maker)
            if taker.status == FILLED:
                break
        if level.live == 0:
            del levels[best]
            if is_buy:
                del prices[0]
            else:
                prices.pop()
        if stopped:
            lifetime.stop_taker(state, taker)
            return False
        if taker.status == FILLED:
            return False
    return True
