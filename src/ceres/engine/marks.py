"""Mark price, and the trigger heaps it is compared with.

Mark price: the index set by the journaled ``SetIndex`` command, else the mid of best bid
and ask (floored to a tick), else the last trade.

Each contract has four heaps of trigger prices — positions closed by selling (longs)
firing below / above the mark, and by buying (shorts) below / above. ``arm`` pushes a
position's liquidation, take-profit and stop-loss prices; stale entries (a position that
changed or closed since) are skipped when popped, and the heaps are rebuilt from the
positions after many pushes, so memory stays proportional to the open positions. ``due``
pops what the mark has reached. Closing the positions is ``engine.triggers``' work.
"""

from __future__ import annotations

import heapq

from ceres.domain.instruments import Instrument
from ceres.engine.contract_state import ContractState, Key, TriggerEntry
from ceres.engine.positions import LONG, Position
from ceres.engine.state import State

LIQ, TP, SL = 0, 1, 2
TRIGGER_TAGS = {LIQ: "liquidation", TP: "take-profit", SL: "stop-loss"}


def mark(state: State, inst: Instrument) -> int | None:
    key = (inst.exchange, inst.contract)
    cs = state.contracts
    idx = cs.index.get(key)
    if idx:
        return idx
    book = state.books[key]
    bid, ask = book.bids.best(), book.asks.best()
    if bid is not None and ask is not None:
        return (bid + ask) // 2
    return cs.last.get(key)


def heaps(cs: ContractState, key: Key) -> list[list[TriggerEntry]]:
    """Trigger heaps of a contract: longs firing below / above, shorts below / above.
    "below" heaps hold ``(-X, deal, kind)`` (fire when mark <= X), "above" ``(X, ...)``."""
    found = cs.triggers.get(key)
    if found is None:
        found = cs.triggers[key] = [[], [], [], []]
    return found


def arm(cs: ContractState, pos: Position, everything: bool = True) -> None:
    """Push the position's trigger prices (stale entries are skipped lazily when popped).
    With ``everything`` False only a changed liquidation price is pushed (TP/SL never
    change after the position opens, and their entries stay valid)."""
    hs = heaps(cs, (pos.inst.exchange, pos.inst.contract))
    d = pos.deal_id
    push = heapq.heappush
    force = pos.force if pos.force != pos.armed or everything else 0
    pos.armed = pos.force
    tp = pos.tp if everything else 0
    sl = pos.sl if everything else 0
    if pos.side == LONG:
        below, above = hs[0], hs[1]
        if force:
            push(below, (-force, d, LIQ))
        if tp:
            push(above, (tp, d, TP))
        if sl:
            push(below, (-sl, d, SL))
    else:
        below, above = hs[2], hs[3]
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


def due(cs: ContractState, hs: list[list[TriggerEntry]], m: int, longs: bool,
        shorts: bool) -> list[tuple[int, int]]:
    """Pop the triggers the mark ``m`` has reached, for the sides that can trade now
    (``longs``: bids exist to sell into; ``shorts``: asks to buy from). Returns the valid
    (kind, deal_id) pairs, liquidations first."""
    found = []
    positions = cs.positions
    for index, below in ((0, True), (1, False), (2, True), (3, False)):
        if not (longs if index < 2 else shorts):
            continue
        heap = hs[index]
        while heap and (-heap[0][0] >= m if below else heap[0][0] <= m):
            x, deal, kind = heapq.heappop(heap)
            pos = positions.get(deal)
            if pos is not None and _trigger_value(pos, kind) == (-x if below else x):
                found.append((kind, deal))
    return sorted(set(found))
