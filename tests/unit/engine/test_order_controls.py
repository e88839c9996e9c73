"""Issue 13 in the engine: post-only refuses to take, self-trade prevention (the taker's mode
decides; no fill, no fee; reasons on the cancelled orders), a FOK never fills in part when
its own orders are in the way, cancel all by filter, and the dead-man's switch (fires on the
Tick at its deadline, survives a snapshot, refreshed or cleared by a new command). Every
harness is checked for consistency and a snapshot round trip when the test ends."""

from __future__ import annotations

import pytest

from ceres.domain import commands as C
from ceres.domain.enums import OrderStatus, ReportKind, SelfTradePrevention, TimeInForce
from ceres.domain.errors import ErrorCode
from engine_helpers import BTC, BUY, LIMIT, SELL, USDT, restored_copy

GTC, IOC, FOK, POST = (int(TimeInForce.GTC), int(TimeInForce.IOC), int(TimeInForce.FOK),
                       int(TimeInForce.POST_ONLY))
NONE, C_TAKER, C_MAKER, C_BOTH = (int(m) for m in SelfTradePrevention)
CANCELLED = int(ReportKind.CANCELLED)
P = 3_000_000  # 30000.00
STP = "42005 self-trade prevented"


def place(h, who: str, side: int, price: int, vol: int, tif: int = 0, stp: int = 0) -> int:
    return h.apply(C.Place(who, "TEST", "BTC/USDT", side, LIMIT, price, vol, "", 0, 1, 0, 0, 0, 0, tif, stp))


def reasons(h, oid: int) -> list[str]:
    return [e.reason for e in h.order_events() if e.spec.oid == oid and e.reason]


@pytest.fixture
def book(h):
    """alice and bob both hold BTC and USDT; alice offers 0.1 at 30000, bob 0.1 at 30001."""
    for who in ("alice", "bob"):
        h.fund(who, "BTC", 10 * BTC)
        h.fund(who, "USDT", 1_000_000 * USDT)
    place(h, "alice", SELL, P, 1000)
    place(h, "bob", SELL, P + 1, 1000)
    h.eng.take_events()
    return h


def test_post_only_rests_when_it_would_not_take_and_is_refused_when_it_would(book) -> None:
    h = book
    before = h.bal("carol", "USDT")
    assert h.reject(C.Place("bob", "TEST", "BTC/USDT", BUY, LIMIT, P, 100, "", 0, 1, 0, 0, 0, 0, POST)).error \
        == ErrorCode.POST_ONLY_WOULD_TAKE
    oid = place(h, "bob", BUY, P - 1, 100, POST)
    assert (oid, BUY, P - 1, 100) in h.resting() and h.bal("carol", "USDT") == before
    assert h.reject(C.Place("bob", "TEST", "BTC/USDT", BUY, 2, 0, 100, "", 0, 1, 0, 0, 0, 0, POST)).error \
        == ErrorCode.INVALID_VALUE  # a market order cannot be post-only


def test_cancel_maker_cancels_the_own_resting_order_and_trades_on(book) -> None:
    h = book
    alice_btc = h.bal("alice", "BTC")
    taker = place(h, "alice", BUY, P + 1, 1500, stp=C_MAKER)
    # alice's own ask at 30000 was cancelled (nothing traded with it), bob's 0.1 at 30001 filled
    assert h.final_status(taker) == OrderStatus.PART_FILLED
    assert [(t.price, t.lots) for t in h.trades()] == [(P + 1, 1000)]
    maker = next(e.spec.oid for e in h.order_events() if e.reason == STP)
    assert h.final_status(maker) == OrderStatus.CANCELED and reasons(h, maker) == [STP]
    assert h.bal("alice", "BTC")[1] == 0 and h.bal("alice", "BTC")[0] > alice_btc[0]  # freeze released
    assert [(o, s, p, v) for o, s, p, v in h.resting()] == [(taker, BUY, P + 1, 500)]


def test_cancel_taker_ends_the_incoming_order_even_if_gtc(book) -> None:
    h = book
    fees = h.fees("USDT")
    taker = place(h, "alice", BUY, P + 1, 1500, stp=C_TAKER)
    assert h.trades() == [] and h.fees("USDT") == fees  # no fill, no fee
    assert h.final_status(taker) == OrderStatus.CANCELED and reasons(h, taker) == [STP]
    assert h.bal("alice", "USDT")[1] == 0  # nothing stays frozen
    assert len(h.resting()) == 2  # both asks still there


def test_cancel_both_and_fills_before_the_self_trade_stand(h) -> None:
    for who in ("alice", "bob"):
        h.fund(who, "BTC", 10 * BTC)
        h.fund(who, "USDT", 1_000_000 * USDT)
    place(h, "bob", SELL, P, 400)
    maker = place(h, "alice", SELL, P, 1000)
    h.eng.take_events()
    taker = place(h, "alice", BUY, P, 1000, stp=C_BOTH)
    assert [(t.price, t.lots) for t in h.trades()] == [(P, 400)]
    assert h.final_status(taker) == OrderStatus.PART_CANCELED and reasons(h, taker) == [STP]
    assert h.final_status(maker) == OrderStatus.CANCELED and reasons(h, maker) == [STP]
    assert h.resting() == []


def test_a_fok_with_stp_does_not_count_its_own_orders_and_never_fills_in_part(book) -> None:
    h = book
    oid = place(h, "alice", BUY, P + 1, 1500, FOK, C_MAKER)  # only bob's 0.1 is liquidity for it
    assert h.trades() == [] and h.final_status(oid) == OrderStatus.CANCELED
    assert len(h.resting()) == 2  # no maker cancelled when the FOK did not trade
    oid = place(h, "alice", BUY, P + 1, 1000, FOK, C_MAKER)
    assert [(t.price, t.lots) for t in h.trades()] == [(P + 1, 1000)] and h.final_status(oid) == OrderStatus.FILLED


def test_stp_none_trades_with_itself_as_before(book) -> None:
    h = book
    place(h, "alice", BUY, P, 1000)
    assert [(t.price, t.lots) for t in h.trades()] == [(P, 1000)]


def test_cancel_all_by_filter(book) -> None:
    h = book
    buy = place(h, "alice", BUY, P - 100, 100)
    sell = place(h, "alice", SELL, P + 100, 100)
    h.eng.take_events()
    assert h.apply(C.CancelAll("alice", "TEST", "", int(BUY))) == [buy]
    all_left = h.apply(C.CancelAll("alice"))
    assert sell in all_left and len(all_left) == 2  # the first ask and the one at 30100
    assert [o for o, *_ in h.resting()] == list(h.eng.products["bob"].open_orders)
    assert h.apply(C.CancelAll("alice")) == []
    assert h.bal("alice", "BTC")[1] == 0 and h.bal("alice", "USDT")[1] == 0
    assert h.reject(C.CancelAll("alice", side=7)).error == ErrorCode.INVALID_VALUE


def test_the_dead_mans_switch_fires_at_its_deadline_and_survives_a_snapshot(book) -> None:
    h = book
    deadline = h.apply(C.CancelAllAfter("alice", 5000))
    assert deadline == h.eng.now + 5000 and h.eng.next_due() == deadline
    h.apply(C.Tick(), dt=4000)
    assert len(h.eng.products["alice"].open_orders) == 1  # not yet
    twin = restored_copy(h.eng, h.instruments, h.currencies)
    assert twin.deadman == h.eng.deadman  # journaled state: a restart still fires it
    h.apply(C.Tick(), dt=2000)
    assert h.eng.products["alice"].open_orders == {} and h.eng.deadman == {}
    assert [e.reason for e in h.order_events() if e.kind == CANCELLED] == ["42006 dead-man's switch fired"]
    assert len(h.eng.products["bob"].open_orders) == 1


def test_the_dead_mans_switch_refreshed_or_cleared_does_not_fire(book) -> None:
    h = book
    h.apply(C.CancelAllAfter("alice", 2000))
    h.apply(C.CancelAllAfter("alice", 2000), dt=1500)  # refreshed
    h.apply(C.Tick(), dt=1500)
    assert len(h.eng.products["alice"].open_orders) == 1
    h.apply(C.CancelAllAfter("alice", 0))
    assert h.eng.deadman == {} and h.eng.next_due() is None
    h.apply(C.Tick(), dt=10_000)
    assert len(h.eng.products["alice"].open_orders) == 1
    assert h.reject(C.CancelAllAfter("alice", 999)).error == ErrorCode.INVALID_VALUE


# --- amend ---------------------------------------------------------------------------------
def amend(h, who: str, oid: int, price: int = 0, vol: int = 0) -> int:
    return h.apply(C.Amend(who, oid, price, vol))


def test_amend_down_keeps_priority_and_releases_exactly(h) -> None:
    for who in ("alice", "bob", "carol"):
        h.fund(who, "USDT", 1_000_000 * USDT)
    first = place(h, "alice", BUY, P, 1000)
    second = place(h, "bob", BUY, P, 1000)
    amend(h, "alice", first, vol=400)
    assert [(o, v) for o, _, _, v in h.resting()] == [(first, 400), (second, 1000)]  # still first in the queue
    place(h, "carol", BUY, P, 400)  # what a fresh 0.04 at 30000 freezes
    assert h.bal("alice", "USDT")[1] == h.bal("carol", "USDT")[1]
    assert [e.kind for e in h.order_events() if e.spec.oid == first][-1] == int(ReportKind.AMENDED)
    amend(h, "alice", first, vol=1000)  # back up: to the back of the level, frozen as a fresh 0.1
    assert [o for o, *_ in h.resting()][-1] == first
    assert h.bal("alice", "USDT")[1] == h.bal("bob", "USDT")[1]


def test_amend_price_loses_priority_and_may_trade(book) -> None:
    h = book
    bid = place(h, "bob", BUY, P - 100, 1000)
    amend(h, "bob", bid, vol=1500)  # more volume: back of the level (alone there anyway)
    assert (bid, BUY, P - 100, 1500) in h.resting()
    frozen = h.bal("bob", "USDT")[1]
    amend(h, "bob", bid, price=P)  # crosses alice's ask at 30000: trades 0.1 at once, the rest rests
    assert [(t.price, t.lots) for t in h.trades()] == [(P, 1000)]
    assert (bid, BUY, P, 500) in h.resting()
    assert h.bal("bob", "USDT")[1] != frozen


def test_amend_refusals_change_nothing(book) -> None:
    h = book
    bid = place(h, "bob", BUY, P - 100, 1000, POST)
    assert h.reject(C.Amend("bob", bid, P, 0)).error == ErrorCode.POST_ONLY_WOULD_TAKE
    assert h.reject(C.Amend("bob", bid, 0, 0)).error == ErrorCode.INVALID_VALUE
    assert h.reject(C.Amend("alice", bid, P - 50, 0)).error == ErrorCode.ORDER_NOT_FOUND  # not hers
    assert h.reject(C.Amend("bob", bid, 0, 10**16)).error == ErrorCode.VOLUME_OUT_OF_RANGE
    assert h.reject(C.Amend("bob", bid, 0, 10**9)).error == ErrorCode.INSUFFICIENT_BALANCE
    sold = place(h, "alice", SELL, P - 100, 400)  # fills 0.04 of bob's bid
    assert sold not in h.eng.open_orders
    assert h.reject(C.Amend("bob", bid, 0, 400)).error == ErrorCode.VOLUME_OUT_OF_RANGE  # not above filled
    amend(h, "bob", bid, vol=401)
    assert h.resting()[0] == (bid, BUY, P - 100, 1)
