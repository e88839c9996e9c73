"""Mark price and the triggers it fires: liquidation, take-profit and stop-loss.

Mark price: the index set by the journaled ``SetIndex`` command, else the mid of best bid
and ask (floored to a tick), else the last trade.

Each contract has four heaps of trigger prices — positions closed by selling (longs)
firing below / above the mark, and by buying (shorts) below / above — with stale entries
skipped when popped. After every command touching a contract, ``check_triggers`` closes
at market every position whose liquidation price, TP or SL the mark has reached, if the
book has orders on the side it must trade into (liquidations first, then by deal id; each
position at most once per command). A trigger close first cancels the position's own
resting opening order and its pending close orders. Triggers waiting for liquidity cost
nothing until it appears.
"""

from __future__ import annotations

import heapq

from ceres.domain.enums import FutureDir, PriceType, Side
from ceres.domain.instruments import Instrument
from ceres.engine import contracts, spot
from ceres.engine.contract_state import ContractState
from ceres.engine.orders import Order, OrderEvent
from ceres.engine.positions import LONG, Position

BUY, SELL = int(Side.BUY), int(Side.SELL)
CLOSE = int(FutureDir.CLOSE)
SUBMITTED = 3
LIQ, TP, SL = 0, 1, 2
TRIGGER_TAGS = {LIQ: "liquidation", TP: "take-profit", SL: "stop-loss"}


def mark(eng, inst: Instrument) -> int | None:
    key = (inst.exchange, inst.contract)
    cs = eng.contracts
    idx = cs.index.get(key)
    if idx:
        return idx
    book = eng.books[key]
    bid, ask = book.bids.best(), book.asks.best()
    if bid is not None and ask is not None:
        return (bid + ask) // 2
    return cs.last.get(key)


def _heaps(cs: ContractState, key: tuple[str, str]) -> list[list]:
    """Trigger heaps of a contract: longs firing below / above, shorts below / above.
    "below" heaps hold ``(-X, deal, kind)`` (fire when mark <= X), "above" ``(X, ...)``."""
    heaps = cs.triggers.get(key)
    if heaps is None:
        heaps = cs.triggers[key] = [[], [], [], []]
    return heaps


def arm(cs: ContractState, pos: Position, everything: bool = True) -> None:
    """Push the position's trigger prices (stale entries are skipped lazily when popped).
    With ``everything`` False only a changed liquidation price is pushed (TP/SL never
    change after the position opens, and their entries stay valid)."""
    heaps = _heaps(cs, (pos.inst.exchange, pos.inst.contract))
    d = pos.deal_id
    push = heapq.heappush
    force = pos.force if pos.force != pos.armed or everything else 0
    pos.armed = pos.force
    tp = pos.tp if everything else 0
    sl = pos.sl if everything else 0
    if pos.side == LONG:
        below, above = heaps[0], heaps[1]
        if force:
            push(below, (-force, d, LIQ))
        if tp:
            push(above, (tp, d, TP))
        if sl:
            push(below, (-sl, d, SL))
    else:
        below, above = heaps[2], heaps[3]
        if force:
            push(above, (force, d, LIQ))
        if tp:
            push(below, (-tp, d, TP))
        if sl:
            push(above, (sl, d, SL))
    cs.armed += 1
    if cs.armed > 8 * len(cs.positions) + 1024:
        rearm_all(cs)  # drop stale entries (amortised: only after many pushes)


def rearm_all(cs: ContractState) -> None:
    cs.triggers.clear()
    cs.armed = 0
    for _, p in sorted(cs.positions.items()):
        arm(cs, p)


def _trigger_value(pos: Position, kind: int) -> int:
    return pos.force if kind == LIQ else pos.tp if kind == TP else pos.sl


def _due(cs: ContractState, heaps: list[list], m: int, longs: bool, shorts: bool) -> list[tuple[int, int]]:
    """Pop the triggers the mark ``m`` has reached, for the sides that can trade now
    (``longs``: bids exist to sell into; ``shorts``: asks to buy from). Returns the valid
    (kind, deal_id) pairs, liquidations first."""
    due = []
    positions = cs.positions
    for index, below in ((0, True), (1, False), (2, True), (3, False)):
        if not (longs if index < 2 else shorts):
            continue
        heap = heaps[index]
        while heap and (-heap[0][0] >= m if below else heap[0][0] <= m):
            x, deal, kind = heapq.heappop(heap)
            pos = positions.get(deal)
            if pos is not None and _trigger_value(pos, kind) == (-x if below else x):
                due.append((kind, deal))
    return sorted(set(due))


def check_triggers(eng, inst: Instrument) -> None:
    """Close, at market, every position whose liquidation price, TP or SL the mark has
    reached and for which the book has liquidity to close into; each position is tried at
    most once per command. Triggers waiting for liquidity cost nothing until it appears."""
    cs = eng.contracts
    key = (inst.exchange, inst.contract)
    heaps = cs.triggers.get(key)
    if heaps is None:
        return
    book = eng.books[key]
    tried: set[int] = set()
    while True:
        m = mark(eng, inst)
        if m is None:
            break
        due = [(k, d) for k, d in _due(cs, heaps, m, bool(book.bids.prices), bool(book.asks.prices))
               if d not in tried]
        if not due:
            break
        for kind, deal in due:
            pos = cs.positions.get(deal)
            if pos is None or deal in tried:
                continue
            tried.add(deal)
            _close_by_trigger(eng, pos, kind)
    for deal in tried:
        pos = cs.positions.get(deal)
        if pos is not None:
            arm(cs, pos)


def _close_by_trigger(eng, pos: Position, kind: int) -> None:
    opening = pos.product.open_orders.get(pos.oid)
    if opening is not None:  # still adding to this position: it must not refill it
        contracts.cancel(eng, opening)
    if pos.closing:  # close orders are pending on this position: they make way
        for order in [o for o in pos.product.open_orders.values()
                      if o.fdir == CLOSE and o.deal_id == pos.deal_id]:
            contracts.cancel(eng, order)
    side = SELL if pos.side == LONG else BUY
    order = Order(eng.ids.next(eng.now), pos.product, pos.inst, side, int(PriceType.MARKET), 0,
                  pos.vol, TRIGGER_TAGS[kind], eng.now, CLOSE, pos.lever, 0, 0, pos.deal_id)
    order.pay = order.recv = pos.bal
    pos.closing += pos.vol
    cs = eng.contracts
    if kind == LIQ:
        cs.liquidating.add(order.oid)
    eng.events.append(OrderEvent(order, SUBMITTED, 0, 0, 0, 0, 0, eng.seq))
    book = eng.books[pos.inst.exchange, pos.inst.contract]
    spot.match(eng, order, book, contracts.fill)
    contracts.finish_market(eng, order)
    cs.liquidating.discard(order.oid)


def set_index(eng, inst: Instrument, price: int) -> None:
    eng.contracts.index[inst.exchange, inst.contract] = price
    check_triggers(eng, inst)

