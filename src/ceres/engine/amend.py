"""Amending a resting order (issue 13): a new limit price and/or a new total volume, same id.

* Only an open limit order of the product on a simulated venue (40403 otherwise; live
  venues: 40006). The new volume is the order's new total: it must exceed what has filled
  (40011) and be on the grid and in range like a placement; the new price likewise.
* Queue priority: reducing the volume at an unchanged price keeps the order's place in its
  level (the level's volume shrinks). A price change or a volume increase loses it: the
  order leaves the book and comes back at the back of its level, so a price that crosses the
  book trades at once as a taker (its time in force stays GTC or post-only; a post-only
  order that would cross is refused, 42004, nothing changed).
* Money, exactly: what the order keeps reserved is what a placement at the new terms keeps
  after the same fills (spot buy: the rest at the limit plus the fee reserve of the whole
  order less fees paid; spot sell: the rest in base; opening contract order: the margin of
  the rest plus the fee reserve on the order's whole notional; closing order: the rest held
  on its position). An increase that the balance (or the position) cannot cover is refused
  (41001 / 41002), nothing changed.
* One order event (kind AMENDED) with the new terms; then whatever matching makes of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from ceres.domain import commands as C
from ceres.domain.enums import FutureDir, ReportKind, Side
from ceres.domain.errors import CeresError, ErrorCode
from ceres.domain.events import OrderSpec
from ceres.domain.instruments import MAX_PRICE_TICKS, MAX_VOLUME_LOTS, RATE_SCALE
from ceres.domain.money import ceil_div
from ceres.engine import contracts, lifetime, matching, spot, triggers
from ceres.engine.orders import Order

if TYPE_CHECKING:
    from ceres.engine.core import Engine

AMENDED = int(ReportKind.AMENDED)
BUY = int(Side.BUY)
OPEN, CLOSE = int(FutureDir.OPEN), int(FutureDir.CLOSE)


def amend(engine: Engine, cmd: C.Amend) -> int:
    product = engine.product(cmd.product)
    order = engine.open_orders.get(cmd.oid)
    if order is None or order.product is not product:
        if cmd.oid in product.live_orders:
            raise CeresError(ErrorCode.INVALID_VALUE, "orders at live venues cannot be amended", "system_oid")
        raise CeresError(ErrorCode.ORDER_NOT_FOUND, "no open order with this id", "system_oid")
    spec = order.spec
    inst = spec.inst
    price = cmd.price or spec.price
    vol = cmd.vol or spec.vol
    if price == spec.price and vol == spec.vol:
        raise CeresError(ErrorCode.INVALID_VALUE, "nothing to change: give a new entrust_price or entrust_vol",
                         "entrust_price")
    if not inst.min_price_ticks <= price <= MAX_PRICE_TICKS:
        raise CeresError(ErrorCode.PRICE_OUT_OF_RANGE, f"must be at least min_price {inst.min_price}", "entrust_price")
    if not inst.min_volume_lots <= vol <= MAX_VOLUME_LOTS or vol <= order.filled:
        raise CeresError(ErrorCode.VOLUME_OUT_OF_RANGE, "the new total volume must exceed what has filled and be "
                         f"at least min_volume {inst.min_volume}", "entrust_vol")
    if inst.is_contract:
        contracts.check_trading(engine, inst)
        if spec.fdir == OPEN:
            contracts.check_tpsl(spec.side, price, spec.profit, spec.stop)
    book = engine.books[inst.key]
    keeps_place = price == spec.price and vol < spec.vol
    if not keeps_place and spec.tif == lifetime.POST_ONLY and lifetime.would_take(book, spec.side, price):
        raise CeresError(ErrorCode.POST_ONLY_WOULD_TAKE, "at the new price it would take liquidity", "entrust_price")
    new = msgspec.structs.replace(spec, price=price, vol=vol)  # entrust_time stays the placement's
    delta = _reserve(order, new) - _reserve(order, spec)
    pos = engine.contracts.positions.get(order.deal_id) if spec.fdir == CLOSE else None
    if pos is not None and pos.closing + (vol - spec.vol) > pos.vol:
        raise CeresError(ErrorCode.CLOSE_EXCEEDS_POSITION, "the position has not that much left to close",
                         "entrust_vol")
    if delta > 0 and not order.pay.reserve(delta):
        raise CeresError(ErrorCode.INSUFFICIENT_BALANCE, "the new terms need more than is available", "entrust_vol")
    # --- decided (and funded): nothing below refuses ----------------------------------------
    if delta < 0:
        order.pay.release(-delta)
    order.reserved += delta
    if pos is not None:
        pos.closing += vol - spec.vol
    side = book.bids if spec.side == BUY else book.asks
    rest_before = spec.vol - order.filled
    if keeps_place:
        side.levels[spec.price].vol -= spec.vol - vol
        order.spec = new
        engine.order_event(order, AMENDED)
        _announce(engine, order)
        return spec.oid
    side.remove(order, rest_before)
    level = side.levels.get(spec.price)
    if level is not None:  # the book leaves ended orders in their queue (lazily); this one comes back
        level.orders.remove(order)
    engine.unregister_open(order)
    order.spec = new
    engine.order_event(order, AMENDED)
    settle = contracts.fill if inst.is_contract else spot.fill
    rests = matching.execute(engine, order, book, settle, contracts.left_book if inst.is_contract else None)
    if rests:
        _announce(engine, order)
    if inst.is_contract:
        triggers.check_triggers(engine, inst)
    return spec.oid


def _announce(engine: Engine, order: Order) -> None:
    if order.spec.fdir == OPEN:
        contracts.pending_event(engine, order)


def _reserve(order: Order, spec: OrderSpec) -> int:
    """What ``order`` (its fills as they are) keeps reserved under the terms ``spec``; for a
    closing order 0 (it holds part of its position, not money)."""
    inst = spec.inst
    rest = spec.vol - order.filled
    if not inst.is_contract:
        return spot.buy_keep(order, rest, spec) if spec.side == BUY else rest * inst.base_mult
    if spec.fdir == CLOSE:
        return 0
    total = order.notional + inst.notional(rest, spec.price)
    return ceil_div(total, spec.lever) - ceil_div(order.notional, spec.lever) + \
        total * inst.freeze_rate // RATE_SCALE - spot.fees_paid(order)
