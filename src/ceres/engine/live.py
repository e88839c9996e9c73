"""Orders at live venues in the engine (decision 0006): journaled intents and venue reports.

The engine keeps a live venue's markets as the journal defined them (``DefineInstrument``)
and each open order there as a :class:`~ceres.engine.orders.LiveOrder`:

* a ``Place`` on a live market records the order at 2 (SUBMITTING) — the edge sends it
  to the venue once this is durable; nothing is frozen or matched here. Its time in force
  (``OrderSpec.tif``: 0 for GTC, as every order journaled before time in force had, else
  IOC, FOK or POST_ONLY) goes with it where ``TIME_IN_FORCE`` says the venue takes it (the
  venue then decides: an IOC/FOK it expires ends EXPIRED, a post-only it refuses REJECTED);
  self-trade prevention (``stp``) is the venue's own and ignored here;
* a ``Cancel`` of a live order moves it to 12 (CANCELING) — the edge asks the venue;
* a ``VenueReport`` applies what the venue said: ACCEPTED (3, with the venue's id), FILL
  (4, or 5 once filled; a trade id seen before is ignored), CANCELLED / EXPIRED (14 with
  fills, else 15), REJECTED (6). A final order leaves the engine, as on TEST.

On a venue in paper mode the same orders also hold money in Ceres' ledger (``engine.paper``).

Every change emits the usual :class:`~ceres.domain.events.OrderEvent` (19003 notices,
history) and each fill a :class:`~ceres.domain.events.FillEvent`. Replaying the journal
gives the same state without the network.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ceres.domain import commands as C
from ceres.domain.enums import FutureDir, Kind, OrderStatus, PriceType, ReportKind, TimeInForce
from ceres.domain.errors import CeresError, ErrorCode
from ceres.domain.events import FillEvent, OrderSpec
from ceres.domain.instruments import MAX_PRICE_TICKS, Instrument
from ceres.engine import lifetime, live_positions, paper
from ceres.engine.orders import LiveOrder

if TYPE_CHECKING:
    from ceres.engine.core import Engine
    from ceres.engine.ledger import Product

MAX_VENUE_ID = 64
MAX_REASON = 256
CANCELABLE = frozenset({int(OrderStatus.SUBMITTING), int(OrderStatus.SUBMITTED), int(OrderStatus.PART_FILLED)})
"""The statuses of an open order a cancel applies to (a live order at 12 is being cancelled already)."""
GTC, IOC, FOK, POST_ONLY = (int(TimeInForce.GTC), int(TimeInForce.IOC), int(TimeInForce.FOK),
                            int(TimeInForce.POST_ONLY))
ALL_TIF = frozenset({GTC, IOC, FOK, POST_ONLY})
TIME_IN_FORCE: dict[tuple[str, bool], frozenset[int]] = {
    ("BINANCE", False): ALL_TIF,  # spot: timeInForce IOC/FOK, post-only as type LIMIT_MAKER (ccxt's mapping)
    ("BINANCE", True): frozenset({GTC}),  # USDT-M perpetuals: not yet (GTX/IOC/FOK untested against the fake)
    ("OKEX", False): frozenset({GTC}),  # not yet: ccxt's ordType ioc/fok/post_only untested against the fake OKX
    ("HUOBI", False): frozenset({GTC}),  # not yet: buy-ioc/limit-fok/limit-maker untested against the fake HTX
    ("BITFINEX", False): frozenset({GTC}),  # not yet: EXCHANGE IOC/FOK and the post-only flag untested
}
"""The times in force a live venue's orders may have, by (exchange, is a contract market); a
venue or market kind not listed takes GTC only. A venue in paper mode fills orders in Ceres
(``venues.live.paper``) and takes all of them on its spot markets."""
_TIF_NAMES = {IOC: "IOC", FOK: "FOK", POST_ONLY: "post-only"}


def define(engine: Engine, cmd: C.DefineInstrument) -> None:
    if cmd.exchange in engine.exchanges:
        raise CeresError(ErrorCode.INVALID_VALUE, f"{cmd.exchange} is simulated here, not a live venue", "exchange")
    if cmd.kind not in (Kind.SPOT, Kind.PERPETUAL):
        raise CeresError(ErrorCode.INVALID_VALUE, "a live venue's market is spot or a perpetual", "kind")
    try:
        inst = cmd.instrument()
    except (ValueError, CeresError) as exc:
        raise CeresError(ErrorCode.INVALID_VALUE, f"{cmd.exchange} {cmd.contract}: {exc}", "contract") from None
    if inst.inverse:
        raise CeresError(ErrorCode.INVALID_VALUE, "live venues' perpetuals are linear here", "contract")
    engine.live_instruments[inst.key] = inst


def place(engine: Engine, cmd: C.Place, product: Product, inst: Instrument, price: int) -> int:
    """The order recorded at SUBMITTING (``Engine._place`` made the checks common to every
    venue: side, price type, client id, price and volume ranges)."""
    if cmd.price_type != PriceType.LIMIT:
        raise CeresError(ErrorCode.INVALID_VALUE, "live venues take limit orders only for now", "price_type")
    paper_venue = inst.exchange in engine.paper_venues
    tif = time_in_force(inst, cmd, paper_venue)
    inst.check_significant(price)
    fdir, lever, deal_id = 0, 1, 0
    if inst.is_contract:
        if paper_venue:
            raise CeresError(ErrorCode.INVALID_VALUE, "paper mode trades spot markets only", "contract")
        if cmd.profit or cmd.stop:
            raise CeresError(ErrorCode.INVALID_VALUE, "take-profit and stop-loss are not on live venues yet", "profit")
        live_positions.check_place(engine, product, inst, cmd.side, cmd.future_dir, cmd.vol, cmd.lever, cmd.deal_id)
        fdir, lever, deal_id = cmd.future_dir, cmd.lever if cmd.future_dir == FutureDir.OPEN else 1, cmd.deal_id
    held = paper.funds(product, inst, cmd.side, price, cmd.vol) if paper_venue else None
    oid = engine.ids.next(engine.now)
    spec = OrderSpec(oid, product.name, inst, cmd.side, cmd.price_type, price, cmd.vol, cmd.client_oid,
                     engine.now, tif, fdir, lever, 0, 0, deal_id)
    order = LiveOrder(spec, product, int(OrderStatus.SUBMITTING))
    if held is not None:
        paper.freeze(order, *held)
    engine.live_orders[oid] = product.live_orders[oid] = order
    if inst.is_contract:
        live_positions.placed(engine, order)
    if cmd.client_oid:
        product.coids[cmd.client_oid] = order
    engine.order_event(order, ReportKind.WAITING)
    return oid


def time_in_force(inst: Instrument, cmd: C.Place, paper_venue: bool) -> int:
    """The order's recorded time in force: 0 for GTC (named or not), else IOC, FOK or
    POST_ONLY when the venue takes it (``TIME_IN_FORCE``); INVALID_VALUE otherwise."""
    tif = lifetime.time_in_force(inst, cmd.side, cmd.price_type, cmd.tif)  # a limit order's: never 0
    if tif == GTC:
        return 0
    takes = ALL_TIF if paper_venue else TIME_IN_FORCE.get((inst.exchange, inst.is_contract), frozenset({GTC}))
    if tif not in takes:
        where = f"{inst.exchange}'s perpetuals" if inst.is_contract else inst.exchange
        raise CeresError(ErrorCode.INVALID_VALUE, f"{_TIF_NAMES[tif]} orders are not available on {where} through "
                         f"Ceres yet: GTC only (IOC, FOK and post-only: BINANCE spot, and paper mode)",
                         "time_in_force")
    return tif


def set_paper(engine: Engine, cmd: C.SetPaperVenue) -> None:
    """Paper mode on or off for a live venue; off cancels its open paper orders."""
    if cmd.exchange in engine.exchanges:
        raise CeresError(ErrorCode.INVALID_VALUE, f"{cmd.exchange} is simulated here, not a live venue", "exchange")
    if cmd.paper:
        engine.paper_venues.add(cmd.exchange)
        return
    engine.paper_venues.discard(cmd.exchange)
    for order in [o for o in engine.live_orders.values() if o.pay is not None and o.spec.inst.exchange == cmd.exchange]:
        order.status = int(OrderStatus.PART_CANCELED if order.filled else OrderStatus.CANCELED)
        _finish(engine, order, ReportKind.CANCELLED)


def cancel(engine: Engine, order: LiveOrder, reason: str = "") -> None:
    """Ask for the cancel: CANCELING until the venue reports the order's end."""
    if order.status not in CANCELABLE:
        raise CeresError(ErrorCode.ORDER_FINISHED, "a cancel is already in progress", "system_oid")
    order.status = int(OrderStatus.CANCELING)
    engine.order_event(order, ReportKind.WAITING, reason=reason)


def report(engine: Engine, cmd: C.VenueReport) -> None:
    order = engine.live_orders.get(cmd.oid)
    if order is None or order.spec.inst.exchange != cmd.exchange:
        raise CeresError(ErrorCode.ORDER_NOT_FOUND, f"no open order {cmd.oid} at {cmd.exchange}", "oid")
    if len(cmd.venue_oid) > MAX_VENUE_ID or len(cmd.venue_tid) > MAX_VENUE_ID:
        raise CeresError(ErrorCode.FIELD_TOO_LONG, f"venue ids are at most {MAX_VENUE_ID} characters", "venue_oid")
    if len(cmd.reason) > MAX_REASON:
        raise CeresError(ErrorCode.FIELD_TOO_LONG, f"a reason is at most {MAX_REASON} characters", "reason")
    if cmd.venue_oid:
        order.venue_oid = cmd.venue_oid
    kind = cmd.kind
    if kind == ReportKind.ACCEPTED:
        if order.status == OrderStatus.SUBMITTING:
            order.status = int(OrderStatus.SUBMITTED)
            engine.order_event(order, kind)
    elif kind == ReportKind.FILL:
        _fill(engine, order, cmd)
    elif kind in (ReportKind.CANCELLED, ReportKind.EXPIRED, ReportKind.REJECTED):
        if kind == ReportKind.REJECTED:
            order.status = int(OrderStatus.FAILURE)
        else:
            order.status = int(OrderStatus.PART_CANCELED if order.filled else OrderStatus.CANCELED)
        _finish(engine, order, kind, reason=cmd.reason if kind == ReportKind.REJECTED else "")
    else:
        raise CeresError(ErrorCode.INVALID_VALUE, f"unknown report kind {kind}", "kind")


def _fill(engine: Engine, order: LiveOrder, cmd: C.VenueReport) -> None:
    if not cmd.venue_tid:
        raise CeresError(ErrorCode.INVALID_VALUE, "a fill needs the venue's trade id", "venue_tid")
    if cmd.venue_tid in order.trades:
        return  # reported before (stream and poll both saw it)
    spec = order.spec
    if not (0 < cmd.lots <= spec.vol - order.filled) or not 0 < cmd.price <= MAX_PRICE_TICKS:
        raise CeresError(ErrorCode.VOLUME_OUT_OF_RANGE, f"fill of {cmd.lots} lots at {cmd.price} ticks does not fit "
                                                        f"order {spec.oid}", "lots")
    fee = cmd.fee
    if order.pay is not None:  # paper: Ceres' ledger pays and charges
        if fee:
            raise CeresError(ErrorCode.INVALID_VALUE, "a paper fill's fee is Ceres' to charge", "fee")
        paper.check_fill(order, cmd.lots, cmd.price)
        fee = paper.settle(engine, order, cmd.lots, cmd.price)
    order.trades.add(cmd.venue_tid)
    if spec.inst.is_contract:
        live_positions.filled(engine, order, cmd.lots, cmd.price)
    order.filled += cmd.lots
    order.dealt += cmd.lots * cmd.price
    order.commission += fee
    tid = engine.ids.next(engine.now)
    engine.events.append(FillEvent(spec, tid, engine.now, cmd.lots, cmd.price, fee, engine.seq))
    if order.filled == spec.vol:
        order.status = int(OrderStatus.FILLED)
        _finish(engine, order, ReportKind.FILL, cmd.lots, cmd.price)
    else:
        if order.status != OrderStatus.CANCELING:
            order.status = int(OrderStatus.PART_FILLED)
        engine.order_event(order, ReportKind.FILL, cmd.lots, cmd.price)


def _finish(engine: Engine, order: LiveOrder, kind: int, deal_vol: int = 0, deal_price: int = 0,
            reason: str = "") -> None:
    spec = order.spec
    paper.release(order)
    if spec.inst.is_contract:
        live_positions.ended(engine, order)
    del engine.live_orders[spec.oid]
    del order.product.live_orders[spec.oid]
    if spec.client_oid and order.product.coids.get(spec.client_oid) is order:
        del order.product.coids[spec.client_oid]
    engine.order_event(order, kind, deal_vol, deal_price, reason)
