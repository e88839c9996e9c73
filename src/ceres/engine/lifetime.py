"""Order lifetime: what time in force an order has, and how it ends.

Time in force (:class:`~ceres.domain.enums.TimeInForce`), the same for spot and contracts:

* GTC: what does not fill at once rests in the book until filled or cancelled;
* IOC: fills what it can at once; the rest ends (EXPIRED);
* FOK: fills completely at once, or not at all — when the book cannot fill all of it
  within its limit price, it ends without any fill (status 15, EXPIRED);
* POST_ONLY (a limit order only): rests like GTC, but is refused (POST_ONLY_WOULD_TAKE,
  nothing changes) when it would take liquidity as it is placed (``would_take``);
* a command's ``tif`` 0 (every command journaled before time in force existed) means GTC
  for a limit order and IOC for a market order. Market orders are IOC or FOK: they never
  rest. A spot market buy spends a quote budget, which has no volume to check a FOK
  against, so it is IOC only.

Self-trade prevention (``SelfTradePrevention``, the incoming order's mode) is applied by
``matching.match``; ``fills_completely`` counts for a FOK only the liquidity it may take.

Ending an order (``finish``): what it still reserves is given back (a freeze, or a close
order's reservation on its position), and its final status is CANCELED (nothing filled),
PART_CANCELED, or FILLED for a spot market buy that spent its budget down to less than one
lot at the best price. ``cancel`` takes a resting order out of the book the same way, for
a cancel request (CANCELLED) or a contract's expiry (EXPIRED); ``withdraw`` is its part
outside the book (a maker cancelled by self-trade prevention leaves its level in the match
loop). A ``reason`` (``"CODE text"``, e.g. ``42005 self-trade prevented``) says why an order
was cancelled by something other than its owner's request.
"""

from __future__ import annotations

from ceres.domain.enums import FutureDir, OrderStatus, PriceType, ReportKind, SelfTradePrevention, Side, TimeInForce
from ceres.domain.errors import CeresError, ErrorCode
from ceres.domain.instruments import Instrument
from ceres.engine.book import OrderBook
from ceres.engine.orders import Order
from ceres.engine.state import State

GTC, IOC, FOK, POST_ONLY = int(TimeInForce.GTC), int(TimeInForce.IOC), int(TimeInForce.FOK), int(TimeInForce.POST_ONLY)
RESTING = (GTC, POST_ONLY)
"""Times in force whose unfilled rest stays in the book."""
STP_NONE, CANCEL_TAKER, CANCEL_MAKER = (int(SelfTradePrevention.NONE), int(SelfTradePrevention.CANCEL_TAKER),
                                        int(SelfTradePrevention.CANCEL_MAKER))
STP_REASON = ErrorCode.SELF_TRADE_PREVENTED.reason
LIMIT = int(PriceType.LIMIT)
BUY = int(Side.BUY)
CLOSE = int(FutureDir.CLOSE)
FILLED = int(OrderStatus.FILLED)
PART_CANCELED = int(OrderStatus.PART_CANCELED)
CANCELED = int(OrderStatus.CANCELED)
EXPIRED = int(ReportKind.EXPIRED)
DEFAULT_TIF = {LIMIT: GTC, int(PriceType.MARKET): IOC}
"""The time in force of a command that names none (``tif`` 0), by price type."""


def time_in_force(inst: Instrument, side: int, ptype: int, tif: int) -> int:
    """The effective time in force of a new order (never 0), or INVALID_VALUE."""
    if not tif:
        return DEFAULT_TIF[ptype]
    if ptype == LIMIT:
        if tif in (GTC, IOC, FOK, POST_ONLY):
            return tif
    else:
        if tif == POST_ONLY:
            raise CeresError(ErrorCode.INVALID_VALUE, "a market order cannot be post-only", "post_only")
        if tif == IOC:
            return IOC
        if tif == FOK and not (side == BUY and not inst.is_contract):
            return FOK
        if tif == FOK:
            raise CeresError(ErrorCode.INVALID_VALUE, "a spot market buy spends a quote amount: "
                             "it cannot be fill-or-kill", "time_in_force")
        if tif == GTC:
            raise CeresError(ErrorCode.INVALID_VALUE, "a market order cannot rest (GTC)", "time_in_force")
    raise CeresError(ErrorCode.INVALID_VALUE, "must be GTC, IOC or FOK", "time_in_force")


def check_stp(stp: int) -> None:
    if not 0 <= stp <= int(SelfTradePrevention.CANCEL_BOTH):
        raise CeresError(ErrorCode.INVALID_VALUE, "must be none, cancel_taker, cancel_maker or cancel_both", "stp")


def would_take(book: OrderBook, side: int, price: int) -> bool:
    """Whether a limit order at ``price`` would cross the opposite side at once."""
    if side == BUY:
        asks = book.asks.prices
        return bool(asks) and asks[0] <= price
    bids = book.bids.prices
    return bool(bids) and bids[-1] >= price


def fills_completely(book: OrderBook, order: Order) -> bool:
    """Whether the opposite side holds all the order's lots within its limit (FOK). With
    self-trade prevention, the product's own orders are not liquidity: cancel_maker skips
    them, cancel_taker and cancel_both stop at the first."""
    spec = order.spec
    is_buy = spec.side == BUY
    limit = spec.price if spec.ptype == LIMIT else None
    need = spec.vol
    stp, product = spec.stp, order.product
    for level in (book.asks if is_buy else book.bids).iter_levels():
        if limit is not None and (level.price > limit if is_buy else level.price < limit):
            return False
        if stp == STP_NONE:
            need -= level.vol
        else:
            for maker in level.live_orders():
                if maker.product is product:
                    if stp != CANCEL_MAKER:
                        return False
                    continue
                need -= maker.spec.vol - maker.filled
                if need <= 0:
                    return True
        if need <= 0:
            return True
    return False


def release(state: State, order: Order) -> None:
    """Give back what an ending order still reserves: its freeze, or (a close order) its
    reservation on the position it closes."""
    if order.reserved:
        order.pay.release(order.reserved)
        order.reserved = 0
    elif order.spec.fdir == CLOSE:
        pos = state.contracts.positions.get(order.deal_id)
        if pos is not None:
            pos.closing -= order.spec.vol - order.filled


def end_status(order: Order, exhausted: bool) -> int:
    """Final status of an order that ends after matching. ``exhausted``: the book ran out
    of eligible liquidity before the order was done."""
    if order.filled == 0:
        return CANCELED
    spec = order.spec
    if spec.ptype != LIMIT and spec.side == BUY and not spec.inst.is_contract and not exhausted:
        return FILLED  # budget spent down to less than one lot at the best price
    return PART_CANCELED


def finish(state: State, order: Order, exhausted: bool) -> None:
    """End an order whose lifetime is over after matching (IOC, FOK, market)."""
    release(state, order)
    if order.status == FILLED:
        return
    order.status = end_status(order, exhausted)
    state.order_event(order, EXPIRED)


def cancel(state: State, order: Order, kind: int, reason: str = "") -> None:
    """Take a resting order out of the book: 15 with no fill, 14 with some (``kind``:
    CANCELLED for a cancel request, EXPIRED for the contract's expiry)."""
    spec = order.spec
    book = state.books[spec.inst.exchange, spec.inst.contract]
    (book.bids if spec.side == BUY else book.asks).remove(order, spec.vol - order.filled)
    withdraw(state, order, kind, reason)


def withdraw(state: State, order: Order, kind: int, reason: str = "") -> None:
    """End an open order whose volume has left the book already: 15 with no fill, 14 with
    some; its reservation given back, out of the open orders."""
    order.status = PART_CANCELED if order.filled else CANCELED
    release(state, order)
    state.unregister_open(order)
    state.order_event(order, kind, reason=reason)


def stop_taker(state: State, order: Order) -> None:
    """End an incoming order at a self-trade its mode cancels (it never rested)."""
    release(state, order)
    order.status = PART_CANCELED if order.filled else CANCELED
    state.order_event(order, int(ReportKind.CANCELLED), reason=STP_REASON)
