"""Contract positions at a live venue as Ceres records them (issue 11: USDT-margined
perpetuals in hedge mode, e.g. Binance USDT-M).

The venue holds the margin and liquidates; Ceres keeps what its own orders did there, from
the journaled fills, so ``trade/position`` (biz 16) answers from its records like TEST:

* one :class:`LivePosition` per (product, market, side): an opening order (``future_dir``
  open: buy opens a long, sell a short) adds each fill to it — ``vol`` lots, ``cost`` entry
  notional in settle minor units — and its ``deal_id`` is the oid of the order that opened it;
* a closing order (sell closes the long, buy the short; ``deal_id`` optional, and if given
  it must name that position) is refused when it asks for more than the position holds
  beyond what other close orders already ask (``closing``); each close fill takes its share of
  the cost (floored) and books the realized PnL ``(exit - entry) x lots`` (short: reversed);
  an emptied position ends;
* every change emits a ``POSITION`` event (19003 messageType 2) with the margin at the
  position's leverage (``cost / lever``), as TEST does.

The venue's own view (mark price, liquidation price) is added by the venue adapter when it
shows the positions; fees are the venue's, in the settle currency, on the orders.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ceres.domain.enums import FutureDir, Side
from ceres.domain.errors import CeresError, ErrorCode
from ceres.domain.instruments import Instrument

if TYPE_CHECKING:
    from ceres.engine.ledger import Product
    from ceres.engine.orders import LiveOrder
    from ceres.engine.state import State

Key = tuple[str, str, str, int]  # product, exchange, contract, side (1 long, 2 short)


class LivePosition:
    __slots__ = ("closing", "cost", "deal_id", "inst", "lever", "product", "realized", "side", "vol")

    def __init__(self, product: Product, inst: Instrument, side: int, deal_id: int, lever: int) -> None:
        self.product = product
        self.inst = inst
        self.side = side
        self.deal_id = deal_id
        self.lever = lever
        self.vol = 0
        self.cost = 0
        self.closing = 0
        self.realized = 0

    @property
    def key(self) -> Key:
        return (self.product.name, self.inst.exchange, self.inst.contract, self.side)

    @property
    def margin(self) -> int:
        return self.cost // max(self.lever, 1)


def held_side(order_side: int, fdir: int) -> int:
    """The side of the position an order opens or closes (selling closes a long)."""
    if fdir == FutureDir.OPEN:
        return order_side
    return Side.SELL if order_side == Side.BUY else Side.BUY


def check_place(state: State, product: Product, inst: Instrument, side: int, fdir: int, vol: int, lever: int,
                deal_id: int) -> None:
    """Refuse what a live contract order cannot be (before anything is recorded)."""
    if fdir not in (FutureDir.OPEN, FutureDir.CLOSE):
        raise CeresError(ErrorCode.INVALID_VALUE, "must be open or close on a contract", "future_dir")
    if fdir == FutureDir.OPEN:
        if not 1 <= lever <= inst.max_lever:
            raise CeresError(ErrorCode.LEVER_OUT_OF_RANGE, f"lever must be 1..{inst.max_lever}", "lever")
        return
    pos = state.live_positions.get((product.name, inst.exchange, inst.contract, held_side(side, fdir)))
    if pos is None or (deal_id and deal_id != pos.deal_id):
        raise CeresError(ErrorCode.POSITION_NOT_FOUND, "no such open position at the venue", "deal_id")
    if vol > pos.vol - pos.closing:
        raise CeresError(ErrorCode.CLOSE_EXCEEDS_POSITION, f"at most {inst.fmt_vol(pos.vol - pos.closing)} "
                                                           "can be closed (other close orders count)", "entrust_vol")


def placed(state: State, order: LiveOrder) -> None:
    """A close order was recorded: its volume is promised to close the position."""
    spec = order.spec
    if spec.fdir == FutureDir.CLOSE:
        state.live_positions[_key(order)].closing += spec.vol


def ended(state: State, order: LiveOrder) -> None:
    """The order ended: a close order's unfilled rest no longer closes anything."""
    spec = order.spec
    if spec.fdir == FutureDir.CLOSE:
        pos = state.live_positions.get(_key(order))
        if pos is not None:
            pos.closing -= spec.vol - order.filled


def filled(state: State, order: LiveOrder, lots: int, price: int) -> None:
    spec = order.spec
    inst = spec.inst
    key = _key(order)
    notional = inst.notional(lots, price)
    if spec.fdir == FutureDir.OPEN:
        pos = state.live_positions.get(key)
        if pos is None:
            pos = state.live_positions[key] = LivePosition(order.product, inst, key[3], spec.oid, spec.lever)
        pos.vol += lots
        pos.cost += notional
        pos.lever = spec.lever
    else:
        pos = state.live_positions[key]  # the close was checked against it and it cannot shrink below
        share = pos.cost * lots // pos.vol
        pos.realized += (notional - share) if pos.side == Side.BUY else (share - notional)
        pos.vol -= lots
        pos.cost -= share
        pos.closing -= lots
        if pos.vol == 0:
            del state.live_positions[key]
    state.position_event("POSITION", pos.product, inst, spec.oid, pos.deal_id, 0, pos.margin, 0, 0, pos.vol)


def _key(order: LiveOrder) -> Key:
    spec = order.spec
    return (spec.product, spec.inst.exchange, spec.inst.contract, held_side(spec.side, spec.fdir))
