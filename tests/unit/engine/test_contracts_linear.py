"""Linear contracts (BTCUSDT_PERP): admission freeze, margin per fill, fees, realised and
floating PnL, force price, hedge mode.

Grid (see ``contract_helpers``): 1 tick x 1 lot = 10_000 USDT minor units; 30000.0 USDT is
300_000 ticks; maker -0.025% (-25_000 / 1e8), taker 0.075% (75_000 / 1e8), freeze rate
0.075%, maintenance 0.5% (500_000 / 1e8). Every product starts with 1000 USDT
(1e11 minor units) in its TEST contract account.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, localcontext

import pytest

from ceres.domain import commands as C
from ceres.domain.errors import ErrorCode
from ceres.domain.events import PositionEvent
from ceres.engine.positions import force_price
from ceres.gateway.views import position_object
from ceres.venues.simulated import position_view
from contract_helpers import BUY, LONG, MARKET, SELL, SHORT, USDT, contract_harness, equity_le_maint, perp, xbt

START = 1000 * USDT


@pytest.fixture
def h(make_harness):
    return make_harness(lambda: contract_harness(perp(), xbt()))


def test_open_freezes_margin_plus_fee_reserve_and_moves_margin_on_fill(h):
    # bob rests a short: 10 lots @ 30000.0, lever 5
    # notional = 300_000 x 10 x 10_000 = 3e10 (300 USDT)
    # freeze = ceil(3e10 / 5) + floor(3e10 x 75_000 / 1e8) = 6e9 + 22_500_000
    h.open_short("bob", 300_000, 10, lever=5)
    assert h.cbal("bob") == (START, 6_022_500_000)
    # alice takes it with a long, lever 10: freeze 3e9 + 22_500_000, all used by the fill:
    # margin 3e9 to the position, taker fee floor(3e10 x 0.00075) = 22_500_000 paid
    oid = h.open_long("alice", 300_000, 10, lever=10)
    assert h.cbal("alice") == (START - 22_500_000, 3_000_000_000)
    # bob (maker): margin 6e9 to the position, rebate floor(3e10 x 0.00025) = 7_500_000
    # credited, the unused fee reserve 22_500_000 released when the order filled
    assert h.cbal("bob") == (START + 7_500_000, 6_000_000_000)
    assert h.fees("USDT") == 22_500_000 - 7_500_000
    assert h.eng.open_orders == {}
    (a,) = h.positions("alice")
    (b,) = h.positions("bob")
    assert (a.side, a.vol, a.cost, a.margin, a.lever, a.oid) == (LONG, 10, 30_000_000_000, 3_000_000_000, 10, oid)
    assert (b.side, b.vol, b.cost, b.margin, b.lever) == (SHORT, 10, 30_000_000_000, 6_000_000_000, 5)
    # force prices, documented formulas (S = 1e8, mmr = 500_000, vol x mult = 100_000):
    # long:  floor((3e10 - 3e9) x 1e8 / (1e5 x 99_500_000)) = floor(271_356.78) = 271_356
    # short: ceil((3e10 + 6e9) x 1e8 / (1e5 x 100_500_000)) = ceil(358_208.95) = 358_209
    assert (a.force, b.force) == (271_356, 358_209)
    # each fill announced the position (messageType 2, type POSITION)
    events = [e for e in h.eng.events if isinstance(e, PositionEvent) and e.kind == "POSITION"]
    assert {(e.product, e.deal_id, e.margin, e.force, e.vol) for e in events} >= {
        ("alice", a.deal_id, 3_000_000_000, 271_356, 10), ("bob", b.deal_id, 6_000_000_000, 358_209, 10)}


def test_margin_is_ceiled_per_cumulative_notional(h):
    # lever 7 on 3e10: ceil(3e10 / 7) = ceil(4_285_714_285.71) = 4_285_714_286
    h.open_short("bob", 300_000, 10, lever=7)
    assert h.cbal("bob")[1] == 4_285_714_286 + 22_500_000
    # three partial fills of 3, 3 and 4 lots (notional 9e9, 9e9, 1.2e10):
    # margins ceil(9e9/7) = 1_285_714_286; ceil(1.8e10/7) - 1_285_714_286 = 2_571_428_572 -
    # 1_285_714_286 = 1_285_714_286; ceil(3e10/7) - 2_571_428_572 = 1_714_285_714 -> sum = ceil(3e10/7)
    for lots in (3, 3, 4):
        h.open_long("alice", 300_000, lots, lever=100)
    (b,) = h.positions("bob")
    assert b.margin == 4_285_714_286
    # maker rebates floor on the cumulative maker notional: floor(3e10 x 0.00025) = 7_500_000
    assert h.cbal("bob") == (START + 7_500_000, 4_285_714_286)
    # each long is its own position (one per opening order): margins ceil(n / 100)
    assert sorted(p.margin for p in h.positions("alice")) == [90_000_000, 90_000_000, 120_000_000]


def test_partial_fill_then_cancel_releases_the_rest(h):
    sell = h.open_short("bob", 300_000, 10, lever=5)           # freeze 6_022_500_000
    h.open_long("alice", 300_000, 4, lever=10)
    # fill of 4 lots (1.2e10): margin ceil(1.2e10 / 5) = 2.4e9 moves to the position, the
    # rebate floor(1.2e10 x 0.00025) = 3_000_000 is credited; the order keeps the rest
    order = h.order(sell)
    assert order.reserved == 6_022_500_000 - 2_400_000_000
    assert h.cbal("bob") == (START + 3_000_000, 6_022_500_000)
    h.cancel("bob", sell)
    assert h.final_status(sell) == 14   # part-cancelled
    assert h.cbal("bob") == (START + 3_000_000, 2_400_000_000)
    (b,) = h.positions("bob")
    assert (b.vol, b.margin) == (4, 2_400_000_000)


def test_price_improvement_vwap_entry_and_later_fills_add_to_the_same_position(h):
    h.open_short("bob", 300_000, 6, lever=5)
    # alice buys 10 @ 30100.0 lever 10: admission walks the book, 6 @ 300_000 cross now
    # (1.8e10), 4 rest at the limit (4 x 301_000 x 1e4 = 1.204e10): notional 3.004e10,
    # freeze ceil(3.004e10 / 10) + floor(3.004e10 x 0.00075) = 3_004_000_000 + 22_530_000
    oid = h.open_long("alice", 301_000, 10, lever=10)
    # first fill: margin ceil(1.8e10 / 10) = 1.8e9, taker fee floor(1.8e10 x 0.00075) = 13_500_000
    order = h.order(oid)
    assert order.reserved == 3_026_530_000 - 1_800_000_000 - 13_500_000
    assert h.cbal("alice") == (START - 13_500_000, 3_026_530_000 - 13_500_000)
    (a,) = h.positions("alice")
    assert (a.vol, a.cost, a.margin) == (6, 18_000_000_000, 1_800_000_000)
    deal = a.deal_id
    # carol sells 4 into the resting rest: the fill adds to the same position (same dealId)
    h.open_short("carol", 301_000, 4, lever=3)
    (a,) = h.positions("alice")
    assert a.deal_id == deal
    # margin ceil(3.004e10 / 10) - 1.8e9 = 1.204e9; maker rebate floor(1.204e10 x 0.00025) =
    # 3_010_000; what is left of the freeze (22_530_000 - 13_500_000 = 9_030_000) is released
    assert (a.vol, a.cost, a.margin) == (10, 30_040_000_000, 3_004_000_000)
    assert h.cbal("alice") == (START - 13_500_000 + 3_010_000, 3_004_000_000)
    # entry price = cost / (vol x mult) = 3.004e10 / 1e5 = 300_400 ticks = 30040
    assert position_object(position_view(a, None))["open_price"] == "30040"


def test_hedge_mode_long_and_short_in_one_contract(h):
    h.open_short("bob", 300_000, 5, lever=5)
    first = h.open_long("alice", 300_000, 5, lever=10)
    h.open_long("carol", 299_000, 3, lever=2)
    second = h.open_short("alice", 299_000, 3, lever=20)  # alice also goes short
    long_, short = sorted(h.positions("alice"), key=lambda p: p.side)
    assert (long_.side, long_.vol, long_.oid) == (LONG, 5, first)
    assert (short.side, short.vol, short.oid) == (SHORT, 3, second)
    assert long_.deal_id != short.deal_id
    # margins: ceil(1.5e10 / 10) = 1.5e9 and ceil(3 x 299_000 x 1e4 / 20) = ceil(8.97e9 / 20)
    # = 448_500_000, both frozen in the one USDT balance
    assert (long_.margin, short.margin) == (1_500_000_000, 448_500_000)
    assert h.cbal("alice")[1] == 1_500_000_000 + 448_500_000
    # a second opening order opens a second long (its own dealId)
    h.open_short("bob", 300_000, 2, lever=5)
    third = h.open_long("alice", 300_000, 2, lever=10)
    longs = [p for p in h.positions("alice") if p.side == LONG]
    assert [p.oid for p in longs] == [first, third] and len({p.deal_id for p in longs}) == 2


def test_full_round_trip_realised_and_floating_pnl(h):
    h.open_short("bob", 300_000, 10, lever=5)
    h.open_long("alice", 300_000, 10, lever=10)             # alice: total START - 22_500_000
    (a,) = h.positions("alice")
    (b,) = h.positions("bob")
    # alice rests a close: sell 4 @ 31000.0 on her deal
    ids = h.close_long("alice", 310_000, 4, deal_id=a.deal_id)
    assert isinstance(ids, list) and len(ids) == 1
    assert a.closing == 4
    # carol takes it, opening a long (lever 2)
    h.open_long("carol", 310_000, 4, lever=2)
    # close fill: N = 310_000 x 4 x 1e4 = 1.24e10, cost part 3e10 x 4 // 10 = 1.2e10,
    # margin part 3e9 x 4 // 10 = 1.2e9, PnL 1.24e10 - 1.2e10 = 4e8 (4 USDT),
    # maker rebate floor(1.24e10 x 0.00025) = 3_100_000 -> credit 4e8 + 3_100_000
    assert (a.vol, a.cost, a.margin, a.realized, a.closing) == (6, 18_000_000_000, 1_800_000_000, 400_000_000, 0)
    assert h.cbal("alice") == (START - 22_500_000 + 403_100_000, 1_800_000_000)
    # floating PnL at the mark: index 30500.0 -> value 305_000 x 6 x 1e4 = 1.83e10,
    # long PnL 1.83e10 - 1.8e10 = 3e8 (3 USDT); bob's short: 3e10 - 3.05e10 = -5e8
    h.index(305_000)
    obj = position_object(position_view(a, 305_000))
    assert obj == {
        "dealId": str(a.deal_id), "exchange": "TEST", "contract": "BTCUSDT_PERP", "position_dir": "buy",
        "vol": "6", "margin": "18", "open_price": "30000", "position_value": "183",
        # floor((1.8e10 - 1.8e9) x 1e8 / (6e4 x 99_500_000)) = floor(271_356.78) = 271_356
        "force_price": "27135.6", "lever": "10", "close_profit": "4", "position_profit": "3",
    }
    bobj = position_object(position_view(b, 305_000))
    assert (bobj["position_dir"], bobj["position_profit"], bobj["position_value"], bobj["close_profit"]) == \
        ("sell", "-5", "305", "0")
    # no mark known: value = entry notional, profit 0
    aobj = position_object(position_view(a, None))
    assert (aobj["position_value"], aobj["position_profit"]) == ("180", "0")
    # bob rests a close buy of 6 @ 29900.0; alice closes the rest at market into it
    h.close_short("bob", 299_000, 6, deal_id=b.deal_id)
    out = h.close_long("alice", 0, 6, deal_id=a.deal_id, ptype=MARKET)
    assert h.final_status(out[0]) == 5
    # alice: N = 299_000 x 6 x 1e4 = 1.794e10, PnL 1.794e10 - 1.8e10 = -6e7,
    # taker fee floor(1.794e10 x 0.00075) = 13_455_000 -> total -= 73_455_000; margin released
    assert h.positions("alice") == []
    assert h.cbal("alice") == (START - 22_500_000 + 403_100_000 - 73_455_000, 0)
    assert a.realized == 400_000_000 - 60_000_000
    # bob: cost part 3e10 x 6 // 10 = 1.8e10, PnL 1.8e10 - 1.794e10 = 6e7, rebate
    # floor(1.794e10 x 0.00025) = 4_485_000; margin part 6e9 x 6 // 10 = 3.6e9 released
    assert (b.vol, b.cost, b.margin, b.realized) == (4, 12_000_000_000, 2_400_000_000, 60_000_000)
    assert h.cbal("bob") == (START + 7_500_000 + 60_000_000 + 4_485_000, 2_400_000_000)
    # fee income: opens 22.5M - 7.5M, carol's open taker floor(1.24e10 x 0.00075) = 9.3M,
    # alice's first close -3.1M, second 13_455_000 - 4_485_000
    assert h.fees("USDT") == 15_000_000 + 9_300_000 - 3_100_000 + 13_455_000 - 4_485_000


def test_close_fee_is_charged_even_when_pnl_is_zero(h):
    h.open_short("bob", 300_000, 10, lever=5)
    h.open_long("alice", 300_000, 10, lever=10)
    (a,) = h.positions("alice")
    h.open_long("carol", 300_000, 10, lever=2)
    h.close_long("alice", 0, 10, deal_id=a.deal_id)          # market: taker
    # PnL 0, fee floor(3e10 x 0.00075) = 22_500_000 on open and again on close
    assert h.cbal("alice") == (START - 45_000_000, 0)
    assert a.realized == 0


def _decimal_force(side: int, vol: int, cost: int, margin: int) -> int:
    """The linear formulas evaluated with Decimal (independent of the engine code)."""
    with localcontext() as ctx:
        ctx.prec = 60
        mmr = Decimal("0.005")
        notional_per_tick = Decimal(vol) * Decimal(10_000)   # minor units per tick of price
        if side == LONG:
            x = (Decimal(cost) - Decimal(margin)) / (notional_per_tick * (1 - mmr))
            return max(0, int(x.to_integral_value(rounding=ROUND_FLOOR)))
        x = (Decimal(cost) + Decimal(margin)) / (notional_per_tick * (1 + mmr))
        return int(x.to_integral_value(rounding=ROUND_CEILING))


@pytest.mark.parametrize("side,vol,price,lever", [
    (LONG, 10, 300_000, 10), (LONG, 7, 123_457, 33), (LONG, 1, 5, 100), (LONG, 3, 300_000, 1),
    (SHORT, 10, 300_000, 5), (SHORT, 13, 299_999, 100), (SHORT, 2, 1, 1), (SHORT, 1000, 71_234, 17),
])
def test_force_price_formula_matches_decimal_and_equity_definition(side, vol, price, lever):
    inst = perp()
    cost = inst.notional(vol, price)
    margin = -(-cost // lever)
    f = force_price(inst, side, vol, cost, margin)
    assert f == _decimal_force(side, vol, cost, margin)
    if f == 0:  # lever 1 long: cost - margin = 0, never liquidated at a positive price
        assert side == LONG and lever == 1
        assert not equity_le_maint(inst, side, vol, cost, margin, 1)
        return
    assert equity_le_maint(inst, side, vol, cost, margin, f)
    beyond, before = (f - 1, f + 1) if side == LONG else (f + 1, f - 1)
    if beyond > 0:
        assert equity_le_maint(inst, side, vol, cost, margin, beyond)
    assert not equity_le_maint(inst, side, vol, cost, margin, before)


def test_liquidation_exactly_at_force_price_not_one_tick_before(h):
    h.open_short("bob", 300_000, 10, lever=5)
    h.open_long("alice", 300_000, 10, lever=10)
    (a,) = h.positions("alice")
    assert a.force == 271_356
    h.open_long("carol", 271_000, 10, lever=2)      # a bid to liquidate into
    h.index(271_357)                                 # one tick before F: nothing
    assert h.positions("alice") == [a]
    h.index(271_356)                                 # at F: liquidated
    assert h.positions("alice") == []


def test_rejections_change_nothing(h):
    h.open_short("bob", 300_000, 10, lever=5)
    # lever 0 and 101 (max 100)
    assert h.reject(h.cmd("alice", BUY, 300_000, 1, lever=0)).error is ErrorCode.LEVER_OUT_OF_RANGE
    assert h.reject(h.cmd("alice", BUY, 300_000, 1, lever=101)).error is ErrorCode.LEVER_OUT_OF_RANGE
    # future_dir missing on a contract
    assert h.reject(h.cmd("alice", BUY, 300_000, 1, fdir=0)).error is ErrorCode.INVALID_VALUE
    # 1000 USDT buys at lever 1 at most floor(1e11 / (1 + 0.00075)) of notional: 33 lots at
    # 30000 need 9.9e10 + 74_250_000 <= 1e11, 34 lots need 1.02e11 + ... > 1e11
    assert h.reject(h.cmd("alice", BUY, 300_000, 34, lever=1)).error is ErrorCode.INSUFFICIENT_BALANCE
    assert h.reject(h.cmd("alice", BUY, 300_000, 0, lever=1)).error is ErrorCode.VOLUME_OUT_OF_RANGE
    # TP/SL on the wrong side of the limit price
    assert h.reject(h.cmd("alice", BUY, 300_000, 1, profit=299_000)).error is ErrorCode.TPSL_WRONG_SIDE
    assert h.reject(h.cmd("alice", SELL, 300_000, 1, stop=299_000)).error is ErrorCode.TPSL_WRONG_SIDE
    h.open_long("alice", 300_000, 10, lever=1)
    # funding of the rest is exact: available 1e11 - 3e10 - 22_500_000 = 69_977_500_000;
    # 23 lots at 300_000 lever 1 need 6.9e10 + 51_750_000 = 69_051_750_000 (fits),
    # 24 lots 7.2e10 + ... (does not)
    assert h.reject(h.cmd("alice", BUY, 300_000, 24, lever=1)).error is ErrorCode.INSUFFICIENT_BALANCE
    h.open_long("alice", 300_000, 23, lever=1)


def test_market_open_with_nothing_to_match_is_cancelled_and_frees_nothing(h):
    oid = h.place_c("alice", SELL, 0, 5, lever=10)
    assert h.final_status(oid) == 15
    assert h.cbal("alice") == (START, 0)
    assert h.positions("alice") == []


def test_close_by_deal_id_with_limit_rests_then_cancel_restores_reservation(h):
    h.open_short("bob", 300_000, 10, lever=5)
    h.open_long("alice", 300_000, 10, lever=10)
    (a,) = h.positions("alice")
    (oid,) = h.close_long("alice", 320_000, 6, deal_id=a.deal_id)
    assert a.closing == 6
    assert h.resting() == [(oid, SELL, 320_000, 6)]
    h.cancel("alice", oid)
    assert a.closing == 0 and h.final_status(oid) == 15
    # a close order freezes nothing
    assert h.cbal("alice") == (START - 22_500_000, 3_000_000_000)


def test_admission_needs_exactly_margin_plus_fee_reserve(make_harness):
    # 10 lots @ 30000.0 lever 10: ceil(3e10 / 10) + floor(3e10 x 0.00075) = 3_022_500_000
    h = make_harness(lambda: contract_harness(perp(), funds={"USDT": 3_022_500_000}))
    h.open_long("alice", 300_000, 10, lever=10)
    assert h.cbal("alice") == (3_022_500_000, 3_022_500_000)
    # bob moves 1 minor unit out of the contract account: one short
    h.apply(C.Transfer("bob", "USDT", 1, 4, 2, "TEST"))
    err = h.reject(h.cmd("bob", SELL, 300_000, 10, lever=10))
    assert err.error is ErrorCode.INSUFFICIENT_BALANCE
    # the crossing part is priced at the book: against alice's bid @ 30000.0 a sell limited
    # at 29000.0 still needs the 30000.0 notional
    h.apply(C.Transfer("bob", "USDT", 1, 2, 4, "TEST"))
    h.open_short("bob", 290_000, 10, lever=10)
    # bob filled at 30000.0 as taker: margin 3e9 + fee 22_500_000 used all of it
    assert h.cbal("bob") == (3_000_000_000, 3_000_000_000)
