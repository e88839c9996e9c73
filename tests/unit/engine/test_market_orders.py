"""Market orders: final statuses 5 / 14 / 15 and release of what was not used."""

from __future__ import annotations

from engine_helpers import BTC, USDT

P30000 = 3_000_000


def test_market_buy_on_empty_book_is_canceled(h) -> None:
    h.fund("alice", "USDT", 100 * USDT)
    oid = h.market_buy("alice", 50 * USDT)
    assert h.statuses(oid) == [3, 15]
    assert h.bal("alice", "USDT") == (100 * USDT, 0)
    assert oid not in h.eng.open_orders


def test_market_sell_on_empty_book_is_canceled(h) -> None:
    h.fund("bob", "BTC", BTC)
    oid = h.market_sell("bob", 100)
    assert h.statuses(oid) == [3, 15]
    assert h.bal("bob", "BTC") == (BTC, 0)


def test_market_sell_partially_filled_when_book_runs_out(h) -> None:
    h.fund("alice", "USDT", 10_000 * USDT)
    h.fund("bob", "BTC", BTC)
    h.buy("alice", P30000, 1000)  # 0.1 BTC bid
    h.buy("alice", P30000 - 1, 500)
    oid = h.market_sell("bob", 3000)
    assert h.statuses(oid) == [3, 4, 4, 14]
    assert [(t.price, t.lots) for t in h.trades()] == [(P30000, 1000), (P30000 - 1, 500)]
    assert h.bal("bob", "BTC") == (BTC - 1500 * 10_000, 0)  # unsold 0.15 BTC released
    assert h.resting() == []


def test_market_sell_filled_exactly(h) -> None:
    h.fund("alice", "USDT", 10_000 * USDT)
    h.fund("bob", "BTC", BTC)
    bid = h.buy("alice", P30000, 1000)
    oid = h.market_sell("bob", 400)
    assert h.statuses(oid) == [3, 5]
    assert h.resting() == [(bid, 1, P30000, 600)]


def test_market_buy_budget_spent_with_liquidity_left_is_filled(h) -> None:
    h.fund("alice", "USDT", 10_000 * USDT)
    h.fund("bob", "BTC", BTC)
    ask = h.sell("bob", P30000, 5000)
    oid = h.market_buy("alice", 3_000 * USDT + USDT // 100)  # 3000.01 USDT
    # 1000 lots cost exactly 3000 USDT; 0.01 USDT cannot buy a lot (3 USDT) -> released
    assert h.statuses(oid) == [3, 4, 5]
    assert h.bal("alice", "USDT") == (7_000 * USDT, 0)
    assert h.resting() == [(ask, 2, P30000, 4000)]


def test_market_buy_budget_too_small_for_one_lot_is_canceled(h) -> None:
    h.fund("alice", "USDT", 10 * USDT)
    h.fund("bob", "BTC", BTC)
    h.sell("bob", P30000, 100)
    oid = h.market_buy("alice", 2 * USDT)  # one lot costs 3 USDT
    assert h.statuses(oid) == [3, 15]
    assert h.bal("alice", "USDT") == (10 * USDT, 0)


def test_market_buy_partially_filled_when_book_runs_out(h) -> None:
    h.fund("alice", "USDT", 10_000 * USDT)
    h.fund("bob", "BTC", BTC)
    h.sell("bob", P30000, 100)  # 0.01 BTC = 300 USDT
    oid = h.market_buy("alice", 1_000 * USDT)
    assert h.statuses(oid) == [3, 4, 14]
    assert h.bal("alice", "USDT") == (9_700 * USDT, 0)


def test_market_order_ignores_limit_price_and_takes_every_level(h) -> None:
    h.fund("alice", "USDT", 10_000 * USDT)
    h.fund("bob", "BTC", BTC)
    h.buy("alice", P30000, 10)
    h.buy("alice", 1, 10)  # a bid at 0.01
    oid = h.market_sell("bob", 20)
    assert [t.price for t in h.trades()] == [P30000, 1]
    assert h.statuses(oid)[-1] == 5
