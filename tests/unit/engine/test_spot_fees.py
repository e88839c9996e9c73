"""Spot freezes and fees (API.md section 6). Numbers are hand-computed in the comments.

Harness grid (BTC/USDT): price in ticks of 0.01 USDT, volume in lots of 0.0001 BTC, both
currencies in 1e-8 minor units. notional = ticks x lots x 100; 1 lot = 10_000 sat.
Fee rate 0.0005 = 50_000 / 1e8.
"""

from __future__ import annotations

from ceres.domain import commands as C
from ceres.domain.errors import ErrorCode
from engine_helpers import BTC, SETTLEMENT, SPOT, USDT, btc_usdt_harness

P30000 = 3_000_000  # 30000.00 USDT in ticks


def test_limit_buy_freezes_notional_plus_max_fee(h) -> None:
    h.fund("alice", "USDT", 20_000 * USDT)
    h.buy("alice", P30000, 5000)  # 0.5 BTC at 30000
    # notional = 3_000_000 x 5000 x 100 = 1_500_000_000_000 (15000 USDT)
    # fee      = floor(1.5e12 x 50_000 / 1e8) = 750_000_000 (7.5 USDT)
    assert h.bal("alice", "USDT") == (20_000 * USDT, 1_500_750_000_000)


def test_limit_buy_freeze_uses_the_larger_rate(make_harness) -> None:
    h = make_harness(maker="0.001", taker="0.0002")
    h.fund("alice", "USDT", 20_000 * USDT)
    h.buy("alice", P30000, 5000)
    # 1.5e12 + floor(1.5e12 x 100_000 / 1e8) = 1.5e12 + 1.5e9
    assert h.bal("alice", "USDT")[1] == 1_501_500_000_000


def test_limit_buy_exact_funding_is_enough(h) -> None:
    h.fund("alice", "USDT", 1_500_750_000_000 - 1)
    err = h.reject(C.Place("alice", "TEST", "BTC/USDT", 1, 1, P30000, 5000))
    assert err.error is ErrorCode.INSUFFICIENT_BALANCE
    h.fund("alice", "USDT", 1)
    h.buy("alice", P30000, 5000)
    assert h.bal("alice", "USDT") == (1_500_750_000_000, 1_500_750_000_000)


def test_sell_pays_fee_from_quote_and_buyer_pays_fee_on_top(make_harness) -> None:
    h = make_harness(maker="0.0002", taker="0.0007")
    h.fund("bob", "BTC", 1 * BTC)
    h.fund("alice", "USDT", 10_000 * USDT)
    h.sell("bob", P30000, 2000)  # 0.2 BTC rests: base frozen 2000 x 10_000 = 20_000_000 sat
    assert h.bal("bob", "BTC") == (BTC, 20_000_000)
    h.buy("alice", P30000, 2000)  # crosses as taker
    # notional = 3e6 x 2000 x 100 = 600_000_000_000 (6000 USDT)
    # bob maker fee  = floor(6e11 x 20_000 / 1e8) = 120_000_000 (0.12 USDT), from proceeds
    # alice taker fee = floor(6e11 x 70_000 / 1e8) = 420_000_000 (0.42 USDT), on top
    assert h.bal("bob", "BTC") == (BTC - 20_000_000, 0)
    assert h.bal("bob", "USDT") == (600_000_000_000 - 120_000_000, 0)
    assert h.bal("alice", "USDT") == (10_000 * USDT - 600_420_000_000, 0)
    assert h.bal("alice", "BTC") == (20_000_000, 0)  # no fee in base for a limit buy
    assert h.fees("USDT") == 540_000_000 and h.fees("BTC") == 0
    (trade,) = h.trades()
    assert (trade.maker.product, trade.maker_fee) == ("bob", 120_000_000)
    assert (trade.taker.product, trade.taker_fee) == ("alice", 420_000_000)


def test_taker_sell_into_resting_bid(make_harness) -> None:
    h = make_harness(maker="0.0002", taker="0.0007")
    h.fund("alice", "USDT", 10_000 * USDT)
    h.fund("bob", "BTC", BTC)
    h.buy("alice", P30000, 2000)
    # freeze = 6e11 + floor(6e11 x 70_000 / 1e8) = 600_420_000_000
    assert h.bal("alice", "USDT")[1] == 600_420_000_000
    h.sell("bob", P30000, 2000)
    # alice is maker now: pays 6e11 + 1.2e8; the unused fee reserve 3e8 is released
    assert h.bal("alice", "USDT") == (10_000 * USDT - 600_120_000_000, 0)
    # bob taker: proceeds 6e11 - 4.2e8
    assert h.bal("bob", "USDT") == (599_580_000_000, 0)
    (trade,) = h.trades()
    assert (trade.maker_fee, trade.taker_fee, trade.taker_side) == (120_000_000, 420_000_000, 2)


def test_market_buy_spends_quote_and_pays_fee_in_base(h) -> None:
    h.fund("bob", "BTC", BTC)
    h.fund("alice", "USDT", 5_000 * USDT)
    h.sell("bob", P30000, 5000)  # 0.5 BTC
    oid = h.market_buy("alice", 3_000 * USDT)
    # afford = 300_000_000_000 // (3e6 x 100) = 1000 lots (0.1 BTC), notional 3e11 exactly
    # alice base fee = floor(1000 x 10_000 x 50_000 / 1e8) = 5_000 sat
    # bob maker fee  = floor(3e11 x 50_000 / 1e8) = 150_000_000 (0.15 USDT)
    assert h.bal("alice", "USDT") == (2_000 * USDT, 0)
    assert h.bal("alice", "BTC") == (10_000_000 - 5_000, 0)
    assert h.bal("bob", "USDT") == (300_000_000_000 - 150_000_000, 0)
    assert h.fees("BTC") == 5_000 and h.fees("USDT") == 150_000_000
    (trade,) = h.trades()
    assert (trade.lots, trade.maker_fee, trade.taker_fee) == (1000, 150_000_000, 5_000)
    assert h.final_status(oid) == 5
    assert h.resting() == [(trade.maker.oid, 2, P30000, 4000)]


def test_market_buy_across_levels_with_cumulative_base_fee(h) -> None:
    h.fund("bob", "BTC", BTC)
    h.fund("alice", "USDT", 5_000 * USDT)
    h.sell("bob", P30000, 1000)
    h.sell("bob", P30000 + 100, 1000)  # 30001.00
    h.market_buy("alice", 4_500 * USDT)
    # level 1: 1000 lots x 3e6 x 100 = 3e11; budget left 1.5e11
    # level 2: afford = 1.5e11 // (3_000_100 x 100) = 499 lots, notional 149_704_990_000
    # released: 1.5e11 - 149_704_990_000 = 295_010_000
    # base fee on cumulative base: floor(1e7 x 0.0005) = 5000, then
    #   floor(14_990_000 x 0.0005) = 7495 -> second fill pays 2495
    assert h.bal("alice", "USDT") == (5_000 * USDT - 300_000_000_000 - 149_704_990_000, 0)
    assert h.bal("alice", "BTC") == (14_990_000 - 7_495, 0)
    assert [t.taker_fee for t in h.trades()] == [5_000, 2_495]
    assert [(t.price, t.lots) for t in h.trades()] == [(P30000, 1000), (P30000 + 100, 499)]


def test_fee_is_floor_of_cumulative_amount_per_order(h) -> None:
    h.fund("bob", "BTC", BTC)
    h.fund("alice", "USDT", 1 * USDT)
    h.sell("bob", 3, 7)  # 7 lots at 0.03 USDT: 300 minor units of notional per lot
    for _ in range(7):
        h.buy("alice", 3, 1)  # separate taker orders: each pays floor(300 x 0.0005) = 0
    # bob's one order (maker) pays floor(cumulative x 0.0005) - floor(previous):
    #   300, 600, 900, 1200, 1500, 1800 -> floor(...) = 0; 2100 -> floor(1.05) = 1
    assert [t.maker_fee for t in h.trades()] == [0, 0, 0, 0, 0, 0, 1]
    assert [t.taker_fee for t in h.trades()] == [0] * 7
    assert h.bal("bob", "USDT") == (2_100 - 1, 0)
    assert h.bal("alice", "USDT") == (USDT - 2_100, 0)
    assert h.fees("USDT") == 1


def test_maker_rebate_is_floored_in_magnitude(make_harness) -> None:
    h = make_harness(maker="-0.0002", taker="0.0007")
    h.fund("bob", "BTC", BTC)
    h.fund("alice", "USDT", 10_000 * USDT)
    h.sell("bob", P30000, 2000)
    h.buy("alice", P30000, 2000)
    # rebate = -floor(6e11 x 20_000 / 1e8) = -120_000_000; taker fee 420_000_000
    assert h.bal("bob", "USDT") == (600_000_000_000 + 120_000_000, 0)
    assert h.fees("USDT") == 420_000_000 - 120_000_000
    h.sell("bob", 3, 3)  # notional 900: rebate -floor(0.18) = 0, never rounded up
    h.buy("alice", 3, 3)
    assert h.trades()[-1].maker_fee == 0 and h.trades()[-1].taker_fee == 0


def test_partial_fills_keep_the_rest_resting(h) -> None:
    h.fund("bob", "BTC", BTC)
    h.fund("alice", "USDT", 40_000 * USDT)
    ask = h.sell("bob", P30000, 10_000)  # 1 BTC
    h.buy("alice", P30000, 3000)
    assert h.resting() == [(ask, 2, P30000, 7000)]
    assert h.bal("bob", "BTC") == (BTC - 30_000_000, 70_000_000)
    assert h.statuses(ask)[-1] == 4
    h.buy("alice", P30000, 7000)
    assert h.resting() == [] and h.statuses(ask)[-1] == 5
    assert h.bal("bob", "BTC") == (0, 0)
    # bob maker fee on the cumulative 3e12: floor(3e12 x 0.0005) = 1.5e9 in two fills
    assert sum(t.maker_fee for t in h.trades()) == 1_500_000_000
    assert h.bal("alice", "BTC") == (BTC, 0)


def test_price_improvement_releases_the_excess_at_once(h) -> None:
    h.fund("bob", "BTC", BTC)
    h.fund("carol", "BTC", BTC)
    h.fund("alice", "USDT", 10_000 * USDT)
    h.sell("bob", 2_900_000, 1000)  # 0.1 BTC at 29000
    h.buy("alice", P30000, 2000)  # 0.2 BTC at up to 30000
    # freeze at admission: 3e6 x 2000 x 100 = 6e11, + floor(6e11 x 0.0005) = 3e8
    # fill 1000 lots at 29000: notional 2.9e11, taker fee 1.45e8 -> paid 290_145_000_000
    # kept for the rest: 1000 lots at 30000 = 3e11, + fee reserve 3e8 - fee paid 1.45e8
    #   = 300_155_000_000; released now: 6.003e11 - 2.90145e11 - 3.00155e11 = 1e10 (100 USDT)
    assert h.bal("alice", "USDT") == (10_000 * USDT - 290_145_000_000, 300_155_000_000)
    h.sell("carol", P30000, 1000)  # alice's rest fills as maker at 30000
    # paid 3e11 + floor(3e11 x 0.0005) = 300_150_000_000; the last 5_000_000 is released
    assert h.bal("alice", "USDT") == (10_000 * USDT - 290_145_000_000 - 300_150_000_000, 0)
    assert h.bal("alice", "BTC") == (2000 * 10_000, 0)


def test_fee_reserve_covers_the_last_fill_rounding(h) -> None:
    """Regression: re-flooring the fee on the remaining volume alone left the final fill one
    minor unit short, so a buyer who spent the released unit went negative."""
    h.fund("bob", "BTC", BTC)
    h.fund("alice", "USDT", 2_001)
    h.buy("alice", 10, 2)  # 2 lots at 0.10: notional 2 x 1000 = 2000, fee floor(1.0) = 1
    assert h.bal("alice", "USDT") == (2_001, 2_001)
    h.sell("bob", 10, 1)
    # alice maker fee: floor(1000 x 0.0005) = 0; paid 1000. Still needed for the last lot:
    # 1000 + (floor(2000 x 0.0005) - 0) = 1001, so nothing is available to move out.
    assert h.bal("alice", "USDT") == (1_001, 1_001)
    err = h.reject(C.Transfer("alice", "USDT", 1, SPOT, SETTLEMENT, "TEST"))
    assert err.error is ErrorCode.INSUFFICIENT_BALANCE
    h.sell("bob", 10, 1)
    # cumulative 2000 -> fee floor(1.0) - 0 = 1; paid 1001
    assert [t.maker_fee for t in h.trades()] == [0, 1]
    assert h.bal("alice", "USDT") == (0, 0)
    assert h.bal("alice", "BTC") == (20_000, 0)


def test_conservation_of_every_currency() -> None:
    h = btc_usdt_harness(maker="-0.0001", taker="0.0008")
    h.fund("alice", "USDT", 50_000 * USDT)
    h.fund("bob", "BTC", 2 * BTC)
    h.sell("bob", P30000, 3000)
    h.sell("bob", P30000 + 7, 3333)
    h.buy("alice", P30000 + 7, 4000)
    h.market_buy("alice", 1_234_567_891)
    h.market_sell("bob", 17)
    for cur in ("USDT", "BTC"):
        held = sum(b.total for p in h.eng.products.values()
                   for a in p.accounts.values() for c, b in a.balances.items() if c == cur)
        assert held + h.fees(cur) == h.eng.ledger.net_deposits[cur]
    h.verify()
