"""Inverse contracts (XBTUSD): margin, fees and PnL in BTC, floored notionals, force price.

Grid (see ``contract_helpers``): notional(lots, p) = lots x 1e9 // (p x 5) satoshi, p in
ticks of 0.5 USD; 40000 USD = 80_000 ticks -> 100 lots = 1e11 // 400_000 = 250_000 sat.
Fees: maker -0.025%, taker 0.075%; maintenance 0.5%. Each product starts with 1 BTC
(1e8 sat) in its TEST contract account.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, localcontext

import pytest

from ceres.domain.errors import ErrorCode
from ceres.engine.positions import force_price
from ceres.gateway.views import position_object
from ceres.venues.simulated import position_view
from contract_helpers import BTC, BUY, LONG, MARKET, SHORT, contract_harness, equity_le_maint, perp, xbt

START = 1 * BTC


@pytest.fixture
def h(make_harness):
    return make_harness(lambda: contract_harness(xbt(), perp()))


def test_open_freeze_margin_fees_in_btc(h):
    # bob rests a short of 100 lots @ 40000 (80_000 ticks), lever 5: notional 250_000 sat,
    # freeze ceil(250_000 / 5) + floor(250_000 x 0.00075) = 50_000 + floor(187.5) = 50_187
    h.open_short("bob", 80_000, 100, lever=5)
    assert h.cbal("bob", "BTC") == (START, 50_187)
    # alice takes it, lever 10: freeze 25_000 + 187, margin 25_000, taker fee 187
    h.open_long("alice", 80_000, 100, lever=10)
    assert h.cbal("alice", "BTC") == (START - 187, 25_000)
    # bob: rebate floor(250_000 x 0.00025) = floor(62.5) = 62; reserve released
    assert h.cbal("bob", "BTC") == (START + 62, 50_000)
    assert h.fees("BTC") == 187 - 62
    assert h.cbal("alice", "USDT") == (1000 * 10**8, 0)       # USDT untouched
    (a,) = h.positions("alice")
    (b,) = h.positions("bob")
    assert (a.vol, a.cost, a.margin, b.vol, b.cost, b.margin) == (100, 250_000, 25_000, 100, 250_000, 50_000)
    # long:  floor(100 x 1e9 x 100_500_000 / (5 x 275_000 x 1e8)) = floor(73_090.9) = 73_090
    # short: ceil(100 x 1e9 x 99_500_000 / (5 x 200_000 x 1e8)) = ceil(99_500.0) = 99_500
    assert (a.force, b.force) == (73_090, 99_500)


def test_per_fill_notionals_are_floored_and_the_freeze_covers_them(h):
    # one price level, two makers: 1 and 2 lots @ 30000 USD (60_000 ticks)
    h.open_short("bob", 60_000, 1, lever=1)
    h.open_short("carol", 60_000, 2, lever=1)
    # admission prices the level at once: notional(3, 60_000) = 3e9 // 300_000 = 10_000,
    # freeze (lever 1) 10_000 + floor(10_000 x 0.00075) = 10_007
    # fills: notional(1) = 1e9 // 300_000 = 3_333 and notional(2) = 6_666 -> cost 9_999;
    # taker fee on the cumulative notional: floor(9_999 x 0.00075) = floor(7.49) = 7
    # (2 on the first fill, 5 on the second); 10_007 - 9_999 - 7 = 1 released
    h.open_long("alice", 60_000, 3, lever=1)
    (a,) = h.positions("alice")
    assert (a.vol, a.cost, a.margin) == (3, 9_999, 9_999)
    assert h.cbal("alice", "BTC") == (START - 7, 9_999)
    # lever 1 inverse long: F = floor(3 x 1e9 x 100_500_000 / (5 x 19_998 x 1e8))
    # = floor(3.015e17 / 9.999e12) = floor(30_153.02) = 30_153
    assert a.force == 30_153
    # lever 1 inverse short: cost - margin = 0 -> no liquidation price
    assert [p.force for p in h.positions("bob") + h.positions("carol")] == [0, 0]
    assert position_object(position_view(h.positions("bob")[0], None))["force_price"] == "0"


def test_partial_then_full_close_realised_and_floating(h):
    h.open_short("bob", 80_000, 100, lever=5)
    h.open_long("alice", 80_000, 100, lever=10)               # alice: START - 187
    (a,) = h.positions("alice")
    (b,) = h.positions("bob")
    h.close_long("alice", 88_000, 40, deal_id=a.deal_id)     # rests: sell 40 @ 44000
    h.open_long("carol", 88_000, 40, lever=2)
    # N = 40 x 1e9 // 440_000 = 90_909, cost part 250_000 x 40 // 100 = 100_000,
    # margin part 10_000; inverse long PnL = 100_000 - 90_909 = 9_091 sat;
    # maker rebate floor(90_909 x 0.00025) = 22 -> credit 9_113
    assert (a.vol, a.cost, a.margin, a.realized) == (60, 150_000, 15_000, 9_091)
    assert h.cbal("alice", "BTC") == (START - 187 + 9_113, 15_000)
    h.index(88_000)
    # value at the mark 6e10 // 440_000 = 136_363, long PnL 150_000 - 136_363 = 13_637
    assert position_object(position_view(a, 88_000)) == {
        "dealId": str(a.deal_id), "exchange": "TEST", "contract": "XBTUSD", "position_dir": "buy",
        "vol": "60", "margin": "0.00015",
        # entry = vol x inv_num / (cost x tick_units) = 6e10 / 750_000 = 80_000 ticks
        "open_price": "40000", "position_value": "0.00136363",
        # floor(60 x 1e9 x 100_500_000 / (5 x 165_000 x 1e8)) = floor(73_090.9) = 73_090
        "force_price": "36545", "lever": "10", "close_profit": "0.00009091",
        "position_profit": "0.00013637",
    }
    # bob's short: value 1e11 // 440_000 = 227_272, short PnL 227_272 - 250_000 = -22_728
    assert position_object(position_view(b, 88_000))["position_profit"] == "-0.00022728"
    # full close at market into bob's resting close buy @ 43000 (86_000 ticks)
    h.close_short("bob", 86_000, 60, deal_id=b.deal_id)
    h.close_long("alice", 0, 60, deal_id=a.deal_id, ptype=MARKET)
    # N = 6e10 // 430_000 = 139_534, PnL 150_000 - 139_534 = 10_466,
    # taker fee floor(139_534 x 0.00075) = 104 -> credit 10_362
    assert h.positions("alice") == []
    assert h.cbal("alice", "BTC") == (START - 187 + 9_113 + 10_362, 0)
    assert a.realized == 9_091 + 10_466
    # bob: cost part 150_000, short PnL 139_534 - 150_000 = -10_466, rebate
    # floor(139_534 x 0.00025) = 34, margin part 50_000 x 60 // 100 = 30_000 released
    assert (b.vol, b.cost, b.margin, b.realized) == (40, 100_000, 20_000, -10_466)
    assert h.cbal("bob", "BTC") == (START + 62 - 10_466 + 34, 20_000)


def _decimal_force(side: int, vol: int, cost: int, margin: int) -> int:
    """Inverse formulas with Decimal: price P (USD) where margin + PnL = mmr x vol / P (BTC)."""
    with localcontext() as ctx:
        ctx.prec = 60
        mmr = Decimal("0.005")
        usd = Decimal(vol)                                  # contract value 1 USD
        cost_btc, margin_btc = Decimal(cost) / 10**8, Decimal(margin) / 10**8
        if side == LONG:
            # margin + cost - usd/P <= mmr usd/P  <=>  P <= usd (1 + mmr) / (cost + margin)
            price = usd * (1 + mmr) / (cost_btc + margin_btc)
            rounding = ROUND_FLOOR
        else:
            # margin + usd/P - cost <= mmr usd/P  <=>  P >= usd (1 - mmr) / (cost - margin)
            if cost_btc <= margin_btc:
                return 0
            price = usd * (1 - mmr) / (cost_btc - margin_btc)
            rounding = ROUND_CEILING
        return int((price / Decimal("0.5")).to_integral_value(rounding=rounding))   # ticks


@pytest.mark.parametrize("side,vol,price,lever", [
    (LONG, 100, 80_000, 10), (LONG, 3, 60_000, 1), (LONG, 7_777, 123_457, 100), (LONG, 1, 1, 2),
    (SHORT, 100, 80_000, 5), (SHORT, 99, 61_111, 100), (SHORT, 5_000, 80_001, 3), (SHORT, 3, 60_000, 1),
])
def test_force_price_formula_matches_decimal_and_equity_definition(side, vol, price, lever):
    inst = xbt()
    cost = inst.notional(vol, price)
    margin = -(-cost // lever)
    f = force_price(inst, side, vol, cost, margin)
    assert f == _decimal_force(side, vol, cost, margin)
    if f == 0:  # "never reached": a long whose F is below one tick, a short with cost <= margin
        if side == LONG:
            assert not equity_le_maint(inst, side, vol, cost, margin, 1)
        else:
            assert cost <= margin
        return
    assert equity_le_maint(inst, side, vol, cost, margin, f)
    beyond, before = (f - 1, f + 1) if side == LONG else (f + 1, f - 1)
    if beyond > 0:
        assert equity_le_maint(inst, side, vol, cost, margin, beyond)
    assert not equity_le_maint(inst, side, vol, cost, margin, before)


def test_short_liquidated_exactly_at_force_price(h):
    h.open_short("bob", 80_000, 100, lever=5)
    h.open_long("alice", 80_000, 100, lever=10)
    (b,) = h.positions("bob")
    # F = 99_500 exactly: at 49750 USD, N = 1e11 / 497_500 = 201_005.03 sat and
    # equity = 50_000 + N - 250_000 = 1_005.03 = 0.005 x N: equity == maintenance
    assert b.force == 99_500
    assert equity_le_maint(h.inst, SHORT, 100, 250_000, 50_000, 99_500)
    h.open_short("carol", 99_600, 100, lever=2)              # an ask to liquidate into
    h.index(99_499)
    assert h.positions("bob") == [b]
    h.index(99_500)
    assert h.positions("bob") == []
    # liquidation: bought back at 49800 (99_600 ticks): N = 1e11 // 498_000 = 200_803,
    # PnL 200_803 - 250_000 = -49_197, taker fee floor(200_803 x 0.00075) = 150;
    # bob loses his whole margin 50_000, the insurance fund gets 50_000 - 49_197 - 150 = 653
    assert h.cbal("bob", "BTC") == (START + 62 - 50_000, 0)
    assert h.insurance("BTC") == 653
    assert b.realized == -49_197


def test_inverse_rejections(h):
    # 1 BTC at lever 1 buys notional(lots, 80_000) <= 1e8 - fee: 40_000 lots = 1e8 sat
    # plus fee 75_000 is too much
    assert h.reject(h.cmd("alice", BUY, 80_000, 40_000, lever=1)).error is ErrorCode.INSUFFICIENT_BALANCE
    # lever 100 is the maximum on XBTUSD
    assert h.reject(h.cmd("alice", BUY, 80_000, 1, lever=101)).error is ErrorCode.LEVER_OUT_OF_RANGE
    # 39_900 lots: 39_900 x 1e9 // 400_000 = 99_750_000 + floor(99_750_000 x 0.00075) =
    # 74_812 -> 99_824_812 <= 1e8: accepted, rests
    oid = h.place_c("alice", BUY, 80_000, 39_900, lever=1)
    assert h.cbal("alice", "BTC") == (START, 99_824_812)
    assert h.order(oid).reserved == 99_824_812
