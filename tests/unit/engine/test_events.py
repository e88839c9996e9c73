"""Events: one OrderEvent per status change or fill, one TradeEvent per match."""

from __future__ import annotations

from ceres.domain.events import OrderEvent, TradeEvent
from ceres.domain.ids import id_time_ms
from engine_helpers import BTC, USDT

P = 3_000_000


def test_lifecycle_submitted_part_filled_filled(h) -> None:
    h.fund("alice", "USDT", 10_000 * USDT)
    h.fund("bob", "BTC", BTC)
    ask = h.sell("bob", P, 300)
    assert [(e.status, e.filled, e.deal_vol) for e in h.eng.take_events()] == [(3, 0, 0)]
    h.buy("alice", P, 100)
    h.buy("alice", P + 5, 200)
    maker = [(e.status, e.filled, e.deal_vol, e.deal_price, e.dealt)
             for e in h.order_events() if e.spec.oid == ask]
    assert maker == [(4, 100, 100, P, P * 100), (5, 300, 200, P, P * 300)]
    # bob's maker fee is cumulative: floor(9e10 x 0.0005) = 45_000_000 after both fills
    assert [e.commission for e in h.order_events() if e.spec.oid == ask] == [15_000_000, 45_000_000]


def test_event_order_within_a_match(h) -> None:
    h.fund("alice", "USDT", 10_000 * USDT)
    h.fund("bob", "BTC", BTC)
    ask1 = h.sell("bob", P, 10)
    ask2 = h.sell("bob", P + 1, 10)
    h.eng.take_events()
    seq_before = h.seq
    bid = h.buy("alice", P + 1, 15)
    events = h.eng.take_events()
    kinds = [(type(e).__name__, getattr(e, "spec", None) and e.spec.oid) for e in events]
    assert kinds == [
        ("OrderEvent", bid),                                      # SUBMITTED
        ("OrderEvent", ask1), ("OrderEvent", bid), ("TradeEvent", None),
        ("OrderEvent", ask2), ("OrderEvent", bid), ("TradeEvent", None),
    ]
    assert [e.status for e in events if isinstance(e, OrderEvent) and e.spec.oid == bid] == [3, 4, 5]
    assert all(e.seq == seq_before + 1 for e in events)
    trades = [e for e in events if isinstance(e, TradeEvent)]
    assert [(t.maker.oid, t.taker.oid, t.price, t.lots, t.taker_side) for t in trades] == [
        (ask1, bid, P, 10, 1), (ask2, bid, P + 1, 5, 1)]
    # trade ids come from the same generator: increasing, after the order id, carrying time
    assert bid < trades[0].tid < trades[1].tid == h.eng.ids.last
    assert id_time_ms(trades[0].tid) == trades[0].time == h.now


def test_cancel_and_market_finish_events_carry_no_fill(h) -> None:
    h.fund("alice", "USDT", 10_000 * USDT)
    h.fund("bob", "BTC", BTC)
    bid = h.buy("alice", P, 10)
    h.cancel("alice", bid)
    ms = h.market_sell("bob", 5)
    evs = [(e.spec.oid, e.status, e.deal_vol, e.deal_price) for e in h.order_events()]
    assert evs == [(bid, 3, 0, 0), (bid, 15, 0, 0), (ms, 3, 0, 0), (ms, 15, 0, 0)]


def test_accepted_order_ids_increase_with_time(h) -> None:
    h.fund("alice", "USDT", 10_000 * USDT)
    ids = [h.buy("alice", P - i, 1) for i in range(5)]
    assert ids == sorted(ids) and len(set(ids)) == 5
    assert all(len(str(i)) == 19 for i in ids)
