"""Firing triggers: liquidation, take-profit and stop-loss closes.

After every command touching a contract, ``check_triggers`` closes at market every
position whose liquidation price, TP or SL the mark (``engine.marks``) has reached, if the
book has orders on the side it must trade into (liquidations first, then by deal id; each
position at most once per command). A trigger close first cancels the position's own
resting opening order and its pending close orders. Triggers waiting for liquidity cost
nothing until it appears. Trigger closes trade no further than the insurance fund's limit
(``engine.liquidation``): what a TP/SL cannot close there stays open and is retried, what
a liquidation cannot close there is auto-deleveraged.
"""

from __future__ import annotations

from ceres.domain.enums import FutureDir, ReportKind
from ceres.domain.instruments import Instrument
from ceres.engine import contracts, liquidation, marks
from ceres.engine.positions import Position
from ceres.engine.state import State

CLOSE = int(FutureDir.CLOSE)
CANCELLED = int(ReportKind.CANCELLED)


def check_triggers(state: State, inst: Instrument) -> None:
    """Close, at market, every position whose liquidation price, TP or SL the mark has
    reached and for which the book has liquidity to close into; each position is tried at
    most once per command."""
    cs = state.contracts
    key = (inst.exchange, inst.contract)
    hs = cs.triggers.get(key)
    if hs is None:
        return
    book = state.books[key]
    tried: set[int] = set()
    while True:
        m = marks.mark(state, inst)
        if m is None:
            break
        due = [(k, d) for k, d in marks.due(cs, hs, m, bool(book.bids.prices), bool(book.asks.prices))
               if d not in tried]
        if not due:
            break
        for kind, deal in due:
            pos = cs.positions.get(deal)
            if pos is None or deal in tried:
                continue
            tried.add(deal)
            _close_by_trigger(state, pos, kind)
    for deal in tried:
        pos = cs.positions.get(deal)
        if pos is not None:
            marks.arm(cs, pos)


def _close_by_trigger(state: State, pos: Position, kind: int) -> None:
    opening = pos.product.open_orders.get(pos.oid)
    if opening is not None:  # still adding to this position: it must not refill it
        contracts.cancel(state, opening, CANCELLED)
    if pos.closing:  # close orders are pending on this position: they make way
        for order in [o for o in pos.product.open_orders.values()
                      if o.fdir == CLOSE and o.deal_id == pos.deal_id]:
            contracts.cancel(state, order, CANCELLED)
    if kind == marks.LIQ:
        liquidation.liquidate(state, pos)  # the book within the fund limit, then ADL
        return
    lots, _ = liquidation.book_lots(state, pos)  # TP/SL: no further than the fund limit either
    if lots:
        liquidation.close_at_market(state, pos, lots, marks.TRIGGER_TAGS[kind])


def set_index(state: State, inst: Instrument, price: int) -> None:
    state.contracts.index[inst.exchange, inst.contract] = price
    check_triggers(state, inst)
