"""The projection's notice log: what 19003 replays after a restart. Events come back equal
(any size of integer), each product keeps about the newest ``retention``, the simulator's
product is not stored, and a removed instrument's notices are skipped."""

from __future__ import annotations

import msgspec

from ceres.domain.events import OrderEvent, PositionEvent
from ceres.store import notices
from ceres.store.sqlite import SqliteProjection, SqliteReader
from engine_helpers import BTC, USDT, btc_usdt_harness


def notices_of(items):
    return [ev for _, events in items for ev in events if isinstance(ev, (OrderEvent, PositionEvent))]


def trade_batches(h, n: int):
    """``n`` resting buys' events as durable items."""
    items = []
    for i in range(n):
        h.buy("alice", 2_000_000 + i, 1_000)
        items.append((h.seq, h.eng.take_events()))
    return items


def test_stored_notices_come_back_equal_and_bounded_per_product(tmp_path):
    h = btc_usdt_harness()
    h.fund("alice", "USDT", 10**6 * USDT)
    h.fund("bob", "BTC", 10 * BTC)
    h.eng.take_events()
    projection = SqliteProjection(tmp_path / "p.sqlite", notice_retention=6, skip_products=frozenset({"bob"}))
    items = trade_batches(h, 20)
    for i in range(0, 20, 4):
        projection.apply(items[i:i + 4])
    h.sell("bob", 2_000_019, 1_000)  # fills alice's best bid: bob's notices are not stored
    last = [(h.seq, h.eng.take_events())]
    projection.apply(last)
    projection.close()
    reader = SqliteReader(tmp_path / "p.sqlite")
    try:
        stored = reader.recent_notices(6, h.eng.instruments)
        alice = [ev for ev in notices_of(items + last) if (ev.product if isinstance(ev, PositionEvent)
                                                             else ev.spec.product) == "alice"]
        assert set(stored) == {"alice"}
        assert stored["alice"] == alice[-6:]  # equal events, oldest first
        groups = reader._conn.execute("SELECT data FROM notice_groups").fetchall()
        kept = sum(len(msgspec.json.decode(data)) for (data,) in groups)
        assert 6 <= kept <= 6 + 3 + 4  # pruned once retention // 2 more arrived, whole groups of 4
        assert reader.recent_notices(6, {}) == {}  # instruments no longer configured: skipped
    finally:
        reader.close()


def test_integers_beyond_64_bits_survive():
    h = btc_usdt_harness()
    h.fund("alice", "USDT", 10**6 * USDT)
    h.buy("alice", 2_000_000, 1_000)
    ev = next(e for e in h.eng.take_events() if isinstance(e, OrderEvent))
    big = msgspec.structs.replace(ev, dealt=10**30, commission=-(10**25))
    assert notices.decode(notices.encode(big), h.eng.instruments) == big
