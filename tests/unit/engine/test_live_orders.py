"""Orders at live venues in the engine (decision 0006): a journaled intent recorded at 2
(SUBMITTING) without touching any balance, then the venue's reports — accepted (3), fills
(4, 5; a trade reported twice counts once), cancel asked (12) and ended (14, 15), rejected
(6) — each an order event (19003, history) and each fill a FillEvent; snapshots and replay
give the same state; malformed reports and markets are refused without a trace."""

from __future__ import annotations

import pytest

from ceres.domain import commands as C
from ceres.domain.enums import OrderStatus, ReportKind
from ceres.domain.errors import ErrorCode
from ceres.domain.events import FillEvent, OrderEvent
from engine_helpers import BINANCE_SPOT as BINANCE
from engine_helpers import restored_copy


def place(h, vol: int = 300, price: int = 3_000_000, client_oid: str = "") -> int:
    """A limit buy of ``vol`` lots (0.00001 BTC) at ``price`` ticks (0.01 USDT) for alice."""
    return h.apply(C.Place("alice", "BINANCE", "BTC/USDT", 1, 1, price, vol, client_oid))


def report(h, oid: int, kind: int, **kw) -> None:
    h.apply(C.VenueReport("BINANCE", oid, int(kind), **kw))


def statuses(h) -> list[tuple[int, int]]:
    return [(ev.kind, ev.status) for ev in h.eng.take_events() if isinstance(ev, OrderEvent)]


@pytest.fixture
def live(h):
    h.apply(BINANCE)
    h.eng.take_events()
    return h


def test_place_records_the_intent_and_touches_no_balance(live) -> None:
    h = live
    before = {k: (b.total, b.frozen) for p in h.eng.products.values() for _, k, b in p.iter_balances()}
    oid = place(h, client_oid="mine-1")
    order = h.eng.products["alice"].live_orders[oid]
    assert (order.status, order.filled, order.venue_oid) == (OrderStatus.SUBMITTING, 0, "")
    assert statuses(h) == [(ReportKind.WAITING, OrderStatus.SUBMITTING)]
    assert {k: (b.total, b.frozen) for p in h.eng.products.values() for _, k, b in p.iter_balances()} == before
    assert place(h, client_oid="mine-1") == oid  # an idempotent retry while it is open
    assert oid not in h.eng.open_orders  # never on a Ceres book


def test_accepted_then_fills_once_each_then_filled(live) -> None:
    h = live
    oid = place(h)
    h.eng.take_events()
    report(h, oid, ReportKind.ACCEPTED, venue_oid="28457")
    report(h, oid, ReportKind.ACCEPTED, venue_oid="28457")  # again: nothing new
    assert statuses(h) == [(ReportKind.ACCEPTED, OrderStatus.SUBMITTED)]
    report(h, oid, ReportKind.FILL, venue_tid="t1", lots=100, price=2_999_000, fee=10)
    order = h.eng.live_orders[oid]
    state = (order.status, order.filled, order.dealt, order.commission, h.eng.ids.last)
    events = h.eng.take_events()
    report(h, oid, ReportKind.FILL, venue_tid="t1", lots=100, price=2_999_000, fee=10)  # stream and poll both
    assert (order.status, order.filled, order.dealt, order.commission, h.eng.ids.last) == state
    assert h.eng.take_events() == []
    fills = [ev for ev in events if isinstance(ev, FillEvent)]
    assert [(f.lots, f.price, f.fee) for f in fills] == [(100, 2_999_000, 10)]
    assert [(ev.kind, ev.status, ev.filled, ev.deal_vol) for ev in events if isinstance(ev, OrderEvent)] == [
        (ReportKind.FILL, OrderStatus.PART_FILLED, 100, 100)]
    report(h, oid, ReportKind.FILL, venue_tid="t2", lots=200, price=3_000_000, fee=20)
    last = [ev for ev in h.eng.take_events() if isinstance(ev, OrderEvent)][-1]
    assert (last.status, last.filled, last.dealt, last.commission) == (
        OrderStatus.FILLED, 300, 100 * 2_999_000 + 200 * 3_000_000, 30)
    assert oid not in h.eng.live_orders and oid not in h.eng.products["alice"].live_orders  # final: gone


@pytest.mark.parametrize("filled, final", [(0, OrderStatus.CANCELED), (50, OrderStatus.PART_CANCELED)])
def test_cancel_waits_for_the_venue(live, filled, final) -> None:
    h = live
    oid = place(h)
    report(h, oid, ReportKind.ACCEPTED, venue_oid="1")
    if filled:
        report(h, oid, ReportKind.FILL, venue_tid="t", lots=filled, price=3_000_000)
    h.eng.take_events()
    result = h.apply(C.Cancel("alice", (oid,)))
    assert result.ok == [oid] and statuses(h) == [(ReportKind.WAITING, OrderStatus.CANCELING)]
    again = h.apply(C.Cancel("alice", (oid,)))
    assert again.failed == [(oid, ErrorCode.ORDER_FINISHED)]
    report(h, oid, ReportKind.CANCELLED)
    assert statuses(h) == [(ReportKind.CANCELLED, final)]
    assert oid not in h.eng.live_orders


def test_rejected_is_a_failure(live) -> None:
    h = live
    oid = place(h)
    h.eng.take_events()
    report(h, oid, ReportKind.REJECTED, reason="insufficient funds")
    assert statuses(h) == [(ReportKind.REJECTED, OrderStatus.FAILURE)]
    assert h.reject(C.VenueReport("BINANCE", oid, int(ReportKind.ACCEPTED))).error is ErrorCode.ORDER_NOT_FOUND


@pytest.mark.parametrize("cmd, error", [
    (C.Place("alice", "BINANCE", "ETH/USDT", 1, 1, 100, 100), ErrorCode.UNKNOWN_EXCHANGE),  # market not defined
    (C.Place("alice", "BINANCE", "BTC/USDT", 1, 2, 0, 100), ErrorCode.INVALID_VALUE),  # market orders: not yet
    (C.Place("alice", "BINANCE", "BTC/USDT", 1, 1, 100, 0), ErrorCode.VOLUME_OUT_OF_RANGE),
    (C.DefineInstrument("TEST", "X/USDT", "X", "USDT", "0.01", "0.01", "0.01", "0.01", "0", "0", 8, 8),
     ErrorCode.INVALID_VALUE),  # a simulated exchange
    (C.DefineInstrument("BINANCE", "X/USDT", "X", "USDT", "0.01", "0.001", "0.01", "0.001", "0", "0", 8, 2),
     ErrorCode.INVALID_VALUE),  # a grid the decimals cannot hold
])
def test_refused_without_a_trace(live, cmd, error) -> None:
    assert live.reject(cmd).error is error


def test_reports_that_do_not_fit_are_refused(live) -> None:
    h = live
    oid = place(h, vol=100)
    for cmd, error in [
        (C.VenueReport("OKEX", oid, int(ReportKind.ACCEPTED)), ErrorCode.ORDER_NOT_FOUND),
        (C.VenueReport("BINANCE", oid, int(ReportKind.FILL), venue_tid="t", lots=101, price=1),
         ErrorCode.VOLUME_OUT_OF_RANGE),
        (C.VenueReport("BINANCE", oid, int(ReportKind.FILL), lots=1, price=1), ErrorCode.INVALID_VALUE),
        (C.VenueReport("BINANCE", oid, 99), ErrorCode.INVALID_VALUE),
    ]:
        assert h.reject(cmd).error is error


def test_snapshot_and_replay_keep_markets_and_orders(live) -> None:
    h = live
    a, b = place(h, client_oid="a"), place(h, vol=500)
    report(h, a, ReportKind.ACCEPTED, venue_oid="v-a")
    report(h, a, ReportKind.FILL, venue_tid="t1", lots=100, price=3_000_000, fee=7)
    h.apply(C.Cancel("alice", (b,)))
    twin = restored_copy(h.eng, h.instruments, h.currencies)
    assert twin.state_hash() == h.eng.state_hash()
    for eng in (h.eng, twin):  # the same reports on both: the same state
        eng.apply(C.VenueReport("BINANCE", a, int(ReportKind.FILL), venue_tid="t1", lots=100, price=1), 99, 10**12)
        eng.apply(C.VenueReport("BINANCE", a, int(ReportKind.FILL), venue_tid="t2", lots=200, price=3_000_000), 100,
                  10**12)
        eng.apply(C.VenueReport("BINANCE", b, int(ReportKind.CANCELLED)), 101, 10**12)
    assert twin.state_hash() == h.eng.state_hash()
    assert not twin.live_orders and twin.products["alice"].coids.get("a") is None
