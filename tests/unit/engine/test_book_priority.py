"""Price-time priority, trade prices, depth and the lazy-cancel book structure."""

from __future__ import annotations

from engine_helpers import BTC, USDT

P = 3_000_000


def _funded(h):
    for who in ("alice", "bob", "carol"):
        h.fund(who, "USDT", 100_000 * USDT)
        h.fund(who, "BTC", 10 * BTC)
    return h


def test_earlier_order_at_same_price_fills_first(h) -> None:
    _funded(h)
    first = h.sell("bob", P, 100)
    second = h.sell("carol", P, 100)
    h.buy("alice", P, 150)
    assert [(t.maker.oid, t.lots) for t in h.trades()] == [(first, 100), (second, 50)]
    assert h.resting() == [(second, 2, P, 50)]


def test_better_price_first_and_trade_at_maker_price(h) -> None:
    _funded(h)
    worse = h.sell("bob", P + 1, 100)
    better = h.sell("carol", P, 100)
    h.buy("alice", P + 5, 150)
    assert [(t.maker.oid, t.price, t.lots) for t in h.trades()] == [(better, P, 100), (worse, P + 1, 50)]


def test_bids_highest_first_then_time(h) -> None:
    _funded(h)
    low = h.buy("alice", P - 2, 10)
    high_early = h.buy("bob", P, 10)
    high_late = h.buy("carol", P, 10)
    h.sell("alice", P - 2, 25)
    assert [(t.maker.oid, t.price, t.lots) for t in h.trades()] == [
        (high_early, P, 10), (high_late, P, 10), (low, P - 2, 5)]


def test_limit_never_trades_through_its_price(h) -> None:
    _funded(h)
    ask = h.sell("bob", P, 10)
    bid = h.buy("alice", P - 1, 10)
    assert h.trades() == []
    assert h.resting() == [(bid, 1, P - 1, 10), (ask, 2, P, 10)]
    assert h.eng.books[("TEST", "BTC/USDT")].depth() == ([(P - 1, 10)], [(P, 10)])


def test_taker_sweeps_then_rests_remainder(h) -> None:
    _funded(h)
    h.sell("bob", P, 10)
    h.sell("bob", P + 1, 10)
    far = h.sell("bob", P + 3, 10)
    bid = h.buy("alice", P + 2, 50)
    assert [(t.price, t.lots) for t in h.trades()] == [(P, 10), (P + 1, 10)]
    assert h.resting() == [(bid, 1, P + 2, 30), (far, 2, P + 3, 10)]


def test_depth_aggregates_levels_best_first(h) -> None:
    _funded(h)
    for price, vol in ((P, 5), (P, 7), (P + 2, 1), (P + 1, 3)):
        h.sell("bob", price, vol)
    for price, vol in ((P - 1, 4), (P - 3, 2), (P - 1, 6)):
        h.buy("alice", price, vol)
    bids, asks = h.eng.books[("TEST", "BTC/USDT")].depth(2)
    assert bids == [(P - 1, 10), (P - 3, 2)]
    assert asks == [(P, 12), (P + 1, 3)]


def test_cancelled_orders_are_skipped_and_deque_compacted(h) -> None:
    _funded(h)
    keeper = h.sell("bob", P, 1)
    doomed = [h.sell("carol", P, 1) for _ in range(100)]
    last = h.sell("bob", P, 1)
    for i in range(0, 100, 15):
        h.cancel("carol", *doomed[i:i + 15])
    level = h.eng.books[("TEST", "BTC/USDT")].asks.levels[P]
    assert (level.live, level.vol) == (2, 2)
    assert len(level.orders) <= 4 * level.live + 64  # compacted, not 102 entries
    h.buy("alice", P, 2)
    assert [t.maker.oid for t in h.trades()] == [keeper, last]
    assert P not in h.eng.books[("TEST", "BTC/USDT")].asks.levels


def test_cancel_empties_level_and_price_list(h) -> None:
    _funded(h)
    a = h.sell("bob", P, 1)
    b = h.sell("bob", P + 1, 1)
    h.cancel("bob", a)
    asks = h.eng.books[("TEST", "BTC/USDT")].asks
    assert asks.prices == [P + 1] and list(asks.levels) == [P + 1]
    assert h.resting() == [(b, 2, P + 1, 1)]
