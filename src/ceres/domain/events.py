"""What the engine reports: plain values, never live engine objects.

Applying a command appends events to ``Engine.events``; after the command's batch is
durable the sequencer hands them, in order, to every consumer (push notices, market data,
the recent-orders cache, the projection writer on its own thread, venue report streams).
Events hold ids, integers, strings and immutable values (:class:`OrderSpec`,
:class:`~ceres.domain.instruments.Instrument`) only, so a consumer on another thread can
never observe a later state of an order than the event describes.

* :class:`OrderEvent` — an order was accepted, filled, cancelled or expired (``kind``, a
  :class:`~ceres.domain.enums.ReportKind`); it carries the order's state right after.
* :class:`TradeEvent` — one match between a resting maker and a taker (the public trade).
* :class:`PositionEvent` — a contract position's or resting opening order's margin, TP/SL
  or liquidation price changed (19003 messageType 2).
* :class:`ExecutionReport` — the venue-neutral report a venue streams about an order
  (``ceres.pipeline.venue``): derived from the events above on TEST, built from the
  exchange's messages on a live venue.

``nseq`` is the product's notice number (19003 ``seq``), assigned by the engine when it
creates an order or position event: +1 per notice, gap-free, restored by replay.
"""

from __future__ import annotations

import msgspec

from ceres.domain.instruments import Instrument


class OrderSpec(msgspec.Struct, frozen=True, gc=False):
    """What an order is: fixed when it is accepted. Units as in ``Order``: ``price`` ticks
    (0 for market), ``vol`` lots (a spot market buy: quote minor units to spend),
    ``time`` ms; ``deal_id`` the position a closing order closes (0 otherwise: an opening
    order's position is named by its fills' trade and position events)."""

    oid: int
    product: str
    inst: Instrument
    side: int
    ptype: int
    price: int
    vol: int
    client_oid: str
    time: int
    tif: int
    fdir: int = 0
    lever: int = 1
    profit: int = 0
    stop: int = 0
    deal_id: int = 0
    stp: int = 0  # SelfTradePrevention: what the order does when it would trade with its own product


class OrderEvent(msgspec.Struct, gc=False):
    """An order changed. ``deal_vol``/``deal_price`` are the fill that caused it (0 for
    status-only changes); ``status``, ``filled`` (lots), ``dealt`` (sum of ticks x lots) and
    ``commission`` (minor units) are the order's state after it. ``reason``: why a live
    venue's order was refused (status 6): an error code of the API's table, a space, the text."""

    spec: OrderSpec
    kind: int
    status: int
    filled: int
    dealt: int
    commission: int
    deal_vol: int = 0
    deal_price: int = 0
    seq: int = 0
    nseq: int = 0
    reason: str = ""


class TradeEvent(msgspec.Struct, gc=False):
    """One match: ``lots`` at ``price`` (ticks) between a resting maker and a taker. Fees
    are in each order's fee currency (negative = rebate). On contracts ``maker_deal`` and
    ``taker_deal`` are the positions the two sides opened or closed with it (0 on spot)."""

    tid: int
    time: int
    inst: Instrument
    price: int
    lots: int
    taker_side: int
    maker: OrderSpec
    taker: OrderSpec
    maker_fee: int
    taker_fee: int
    seq: int = 0
    maker_deal: int = 0
    taker_deal: int = 0


class FillEvent(msgspec.Struct, gc=False):
    """One fill of an order at a live venue (the other side is not a Ceres order, so there
    is no :class:`TradeEvent` and nothing on the public tape): ``lots`` at ``price``
    (ticks), ``fee`` in the order's fee currency; ``tid`` a Ceres id for the fill."""

    spec: OrderSpec
    tid: int
    time: int
    lots: int
    price: int
    fee: int
    seq: int = 0


class PositionEvent(msgspec.Struct, gc=False):
    """messageType 2: a resting opening order's (``PENDING``, ``deal_id`` 0) or a
    position's (``POSITION``) margin, TP/SL or liquidation price changed. ``vol`` 0 on a
    POSITION event means the position is closed."""

    kind: str
    product: str
    inst: Instrument
    oid: int
    deal_id: int
    force: int
    margin: int
    tp: int
    sl: int
    vol: int
    seq: int = 0
    nseq: int = 0


Event = OrderEvent | TradeEvent | PositionEvent | FillEvent


class ExecutionReport(msgspec.Struct, frozen=True, kw_only=True):
    """A venue's word about one order (``kind``: :class:`~ceres.domain.enums.ReportKind`).

    ``status`` and ``filled`` (lots, cumulative) are the order's state after the report;
    a FILL carries its own ``lots``, ``price`` (ticks), ``fee`` (minor units of the order's
    fee currency) and trade id ``tid``. ``venue_oid`` is the exchange's own order id (empty
    on TEST); ``reason`` says why a REJECTED order was refused. ``seq`` is the journal
    sequence number the report was derived from (0 until journaled)."""

    kind: int
    exchange: str
    contract: str
    product: str
    oid: int
    client_oid: str
    status: int
    filled: int
    lots: int = 0
    price: int = 0
    fee: int = 0
    tid: int = 0
    venue_oid: str = ""
    reason: str = ""
    seq: int = 0
