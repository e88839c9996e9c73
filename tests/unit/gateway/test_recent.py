"""The recent-orders cache keeps the latest event of the last N changed orders per product."""

from __future__ import annotations

from ceres.domain import commands as C
from ceres.domain.events import OrderEvent
from ceres.gateway.recent import RecentOrders
from ceres.pipeline.dispatch import Dispatcher
from engine_helpers import BUY, LIMIT, SELL, btc_usdt_harness


def test_latest_event_per_order_and_bounded_per_product():
    h = btc_usdt_harness()
    h.fund("alice", "USDT", 10**12)
    h.fund("bob", "BTC", 10**12)
    recent = RecentOrders(per_product=3)
    oids = []
    for i in range(4):
        oids.append(h.apply(C.Place("alice", "TEST", "BTC/USDT", BUY, LIMIT, 100 + i, 10)))
        Dispatcher([recent.subscription()]).dispatch([(h.seq, h.eng.take_events())])
    # the oldest of four fell out; the others hold their SUBMITTED event
    assert recent.get("alice", oids[0]) is None
    assert [recent.get("alice", o).status for o in oids[1:]] == [3, 3, 3]
    # a fill updates an order's entry and makes it the most recent
    h.apply(C.Place("bob", "TEST", "BTC/USDT", SELL, LIMIT, 101, 10))
    Dispatcher([recent.subscription()]).dispatch([(h.seq, h.eng.take_events())])
    ev = recent.get("alice", oids[3])
    assert isinstance(ev, OrderEvent) and (ev.status, ev.filled) == (5, 10)
    assert recent.get("bob", oids[3]) is None and recent.get("nobody", oids[3]) is None
