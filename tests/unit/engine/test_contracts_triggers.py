"""Mark price triggers: liquidation at the force price, take-profit and stop-loss, the
insurance fund, partial liquidation on a thin book and its retry.

Common setup (BTCUSDT_PERP, 1 tick x 1 lot = 1e4 minor units): bob rests a 10-lot short
@ 30000.0 lever 5, alice takes it with a 10-lot long lever 10: alice cost 3e10, margin 3e9,
force floor((3e10 - 3e9) x 1e8 / (1e5 x 99_500_000)) = 271_356, and paid the taker fee
floor(3e10 x 0.00075) = 22_500_000.
"""

from __future__ import annotations

import pytest

from ceres.domain.errors import ErrorCode
from contract_helpers import BUY, LIMIT, MARKET, SELL, USDT, contract_harness, perp, xbt

START = 1000 * USDT
ALICE_AFTER_OPEN = START - 22_500_000


@pytest.fixture
def h(make_harness):
    return make_harness(lambda: contract_harness(perp(), xbt()))


def open_pair(h, lever=10, **kw):
    h.open_short("bob", 300_000, 10, lever=5)
    oid = h.open_long("alice", 300_000, 10, lever=lever, **kw)
    return h.pos(h.deal_of(oid))


def trigger_orders(h, tag):
    """Events of the trigger-generated orders (client_oid = the trigger's name)."""
    return [(e.spec.side, e.spec.ptype, e.status, e.filled) for e in h.order_events()
            if e.spec.client_oid == tag]


def test_liquidation_closes_at_market_and_remaining_margin_goes_to_insurance(h):
    a = open_pair(h)
    h.open_long("carol", 271_000, 10, lever=2)             # bid 10 @ 27100.0
    h.eng.take_events()
    h.index(271_357)
    assert a.deal_id in h.eng.contracts.positions and h.insurance() == 0
    h.index(271_356)
    assert a.deal_id not in h.eng.contracts.positions
    assert trigger_orders(h, "liquidation") == [(SELL, MARKET, 3, 0), (SELL, MARKET, 5, 10)]
    # close: N = 271_000 x 10 x 1e4 = 2.71e10, PnL 2.71e10 - 3e10 = -2.9e9, taker fee
    # floor(2.71e10 x 0.00075) = 20_325_000. alice loses the margin 3e9; the insurance fund
    # gets what is left of it: 3e9 - 2.9e9 - 20_325_000 = 79_675_000
    assert h.cbal("alice") == (ALICE_AFTER_OPEN - 3_000_000_000, 0)
    assert h.insurance() == 79_675_000
    assert a.realized == -2_900_000_000
    # carol's long was opened by the liquidation (maker)
    (c,) = h.positions("carol")
    assert (c.vol, c.cost) == (10, 27_100_000_000)


def test_a_deficit_the_empty_fund_cannot_take_is_auto_deleveraged(h):
    a = open_pair(h)
    carol = h.open_long("carol", 260_000, 10, lever=2)     # the only bid: 26000.0
    h.index(270_000)
    # selling into 26000.0 would lose 4e9 + fee on a 3e9 margin, and the fund is empty: the
    # fund limit (ceil((3e10 - 3e9 + 20) x 1e8 / (99_925_000 x 1e5)) = 270_203) is above the
    # bid, so alice is closed against bob's short at her bankruptcy price 27000.0
    assert a.deal_id not in h.eng.contracts.positions
    assert trigger_orders(h, "liquidation")[-2:] == [(SELL, LIMIT, 3, 0), (SELL, LIMIT, 5, 10)]
    assert h.cbal("alice") == (ALICE_AFTER_OPEN - 3_000_000_000, 0)
    assert h.insurance() == 0
    assert h.positions("bob") == [] and h.order(carol) is not None


def test_partial_liquidation_on_a_thin_book_is_retried_at_the_next_command_on_the_contract(h):
    a = open_pair(h)
    h.open_long("carol", 271_000, 4, lever=2)              # only 4 lots bid
    h.eng.take_events()
    h.index(271_000)
    assert trigger_orders(h, "liquidation")[-1] == (SELL, MARKET, 14, 4)   # part-cancelled
    # 4 lots: N = 1.084e10, cost part 1.2e10, margin part 1.2e9, PnL -1.16e9,
    # fee floor(1.084e10 x 0.00075) = 8_130_000 -> insurance 1.2e9 - 1.16e9 - 8_130_000
    assert (a.vol, a.cost, a.margin, a.closing) == (6, 18_000_000_000, 1_800_000_000, 0)
    assert h.insurance() == 31_870_000
    assert h.cbal("alice") == (ALICE_AFTER_OPEN - 1_200_000_000, 1_800_000_000)
    # a command on another contract does not touch it
    h.open_long("dave", 80_000, 1, lever=1, contract="XBTUSD")
    assert a.vol == 6
    # dave bids 6 @ 27000.0 on the contract: the liquidation is retried into it
    h.open_long("dave", 270_000, 6, lever=10)
    assert a.deal_id not in h.eng.contracts.positions
    # 6 lots: N = 1.62e10, PnL 1.62e10 - 1.8e10 = -1.8e9, fee floor(1.62e10 x 0.00075) =
    # 12_150_000 -> insurance += 1.8e9 - 1.8e9 - 12_150_000
    assert h.insurance() == 31_870_000 - 12_150_000
    assert h.cbal("alice") == (ALICE_AFTER_OPEN - 3_000_000_000, 0)


def test_liquidation_with_an_empty_book_keeps_the_position(h):
    a = open_pair(h)
    h.index(200_000)
    assert a.vol == 10 and a.closing == 0 and h.insurance() == 0
    assert h.eng.open_orders == {}
    # retried at the next command on the contract: carol's bid (below the mark) absorbs it
    h.open_long("carol", 199_000, 10, lever=1)
    assert a.deal_id not in h.eng.contracts.positions


def test_liquidation_cancels_the_positions_close_orders_first(h):
    a = open_pair(h)
    (close_oid,) = h.close_long("alice", 320_000, 5, deal_id=a.deal_id)
    h.open_long("carol", 271_000, 10, lever=2)
    h.index(271_000)
    assert h.final_status(close_oid) == 15
    assert a.deal_id not in h.eng.contracts.positions and h.eng.open_orders == {}


def test_liquidation_from_the_book_mid_without_an_index(h):
    # alice lever 50: margin 6e8, force floor(2.94e18 / 9.95e12) = 295_477
    a = open_pair(h, lever=50)
    assert a.force == 295_477
    h.open_short("dave", 295_900, 5, lever=10)             # ask only: mark = last (300_000)
    assert a.deal_id in h.eng.contracts.positions
    # carol's bid makes the mark the mid (295_000 + 295_900) // 2 = 295_450 <= F
    h.open_long("carol", 295_000, 10, lever=2)
    assert a.deal_id not in h.eng.contracts.positions
    # N = 2.95e10, PnL -5e8, fee floor(2.95e10 x 0.00075) = 22_125_000:
    # insurance 6e8 - 5e8 - 22_125_000 = 77_875_000
    assert h.insurance() == 77_875_000
    assert h.cbal("alice") == (ALICE_AFTER_OPEN - 600_000_000, 0)


def test_several_positions_liquidated_in_deal_order(h):
    h.open_short("bob", 300_000, 20, lever=5)
    first = h.deal_of(h.open_long("alice", 300_000, 10, lever=10))
    second = h.deal_of(h.open_long("carol", 300_000, 10, lever=20))
    h.open_long("dave", 250_000, 20, lever=1)
    h.eng.take_events()
    h.index(260_000)
    sells = [e.spec.deal_id for e in h.order_events() if e.spec.client_oid == "liquidation" and e.status == 5]
    assert sells == [first, second]


def test_take_profit_long(h):
    a = open_pair(h, profit=320_000, stop=290_000)
    assert (a.tp, a.sl) == (320_000, 290_000)
    h.open_long("carol", 319_000, 10, lever=2)
    h.eng.take_events()
    h.index(319_999)
    assert a.deal_id in h.eng.contracts.positions
    h.index(320_000)
    assert a.deal_id not in h.eng.contracts.positions
    assert trigger_orders(h, "take-profit")[-1] == (SELL, MARKET, 5, 10)
    # N = 3.19e10, PnL 1.9e9, fee floor(3.19e10 x 0.00075) = 23_925_000; not a liquidation:
    # the margin comes back and the PnL less fee is credited
    assert h.cbal("alice") == (ALICE_AFTER_OPEN + 1_900_000_000 - 23_925_000, 0)
    assert h.insurance() == 0


def test_stop_loss_long(h):
    a = open_pair(h, profit=320_000, stop=290_000)
    h.open_long("carol", 289_000, 10, lever=2)
    h.index(290_001)
    assert a.deal_id in h.eng.contracts.positions
    h.eng.take_events()
    h.index(290_000)
    assert trigger_orders(h, "stop-loss")[-1] == (SELL, MARKET, 5, 10)
    # N = 2.89e10, PnL -1.1e9, fee floor(2.89e10 x 0.00075) = 21_675_000
    assert h.cbal("alice") == (ALICE_AFTER_OPEN - 1_100_000_000 - 21_675_000, 0)


def test_take_profit_and_stop_loss_short(h):
    h.open_long("bob", 300_000, 20, lever=5)
    s1 = h.pos(h.deal_of(h.open_short("alice", 300_000, 10, lever=10, profit=280_000, stop=310_000)))
    s2 = h.pos(h.deal_of(h.open_short("carol", 300_000, 10, lever=10, profit=270_000, stop=305_000)))
    h.open_short("dave", 281_000, 10, lever=2)
    h.index(280_001)
    assert s1.deal_id in h.eng.contracts.positions
    h.index(280_000)                                        # alice's TP: buy back @ 28100.0
    assert s1.deal_id not in h.eng.contracts.positions
    # short PnL 3e10 - 2.81e10 = 1.9e9; fee floor(2.81e10 x 0.00075) = 21_075_000
    assert h.cbal("alice") == (ALICE_AFTER_OPEN + 1_900_000_000 - 21_075_000, 0)
    h.open_short("dave", 306_000, 10, lever=2)
    h.index(305_000)                                        # carol's SL: buy back @ 30600.0
    assert s2.deal_id not in h.eng.contracts.positions
    # short PnL 3e10 - 3.06e10 = -6e8; fee floor(3.06e10 x 0.00075) = 22_950_000
    assert h.cbal("carol") == (ALICE_AFTER_OPEN - 600_000_000 - 22_950_000, 0)


def test_take_profit_without_liquidity_is_retried(h):
    a = open_pair(h, profit=320_000)
    h.index(330_000)
    assert a.vol == 10 and a.closing == 0
    h.open_long("carol", 321_000, 10, lever=2)
    assert a.deal_id not in h.eng.contracts.positions


def test_liquidation_wins_over_stop_loss_when_both_are_crossed(h):
    a = open_pair(h, stop=280_000)
    h.open_long("carol", 269_000, 10, lever=2)
    h.eng.take_events()
    h.index(270_000)
    assert trigger_orders(h, "stop-loss") == []
    # the bid at 26900.0 lies beyond the empty fund's limit: auto-deleveraged against bob
    assert trigger_orders(h, "liquidation")[-1] == (SELL, LIMIT, 5, 10)
    assert h.insurance() == 0
    assert a.deal_id not in h.eng.contracts.positions


def test_tp_sl_on_the_wrong_side_are_rejected(h):
    def err(side, price, **kw):
        return h.reject(h.cmd("alice", side, price, 1, **kw)).error

    # limit: reference = the limit price; TP and SL must be strictly on their side
    assert err(BUY, 300_000, profit=300_000) is ErrorCode.TPSL_WRONG_SIDE
    assert err(BUY, 300_000, profit=299_000) is ErrorCode.TPSL_WRONG_SIDE
    assert err(BUY, 300_000, stop=300_000) is ErrorCode.TPSL_WRONG_SIDE
    assert err(BUY, 300_000, stop=301_000) is ErrorCode.TPSL_WRONG_SIDE
    assert err(SELL, 300_000, profit=301_000) is ErrorCode.TPSL_WRONG_SIDE
    assert err(SELL, 300_000, stop=299_000) is ErrorCode.TPSL_WRONG_SIDE
    # market with no mark at all: nothing to compare, accepted (and cancelled: no liquidity)
    oid = h.place_c("alice", BUY, 0, 1, stop=301_000)
    assert h.final_status(oid) == 15
    # market: reference = the mark
    h.index(300_000)
    assert err(BUY, 0, ptype=MARKET, stop=301_000) is ErrorCode.TPSL_WRONG_SIDE
    assert err(SELL, 0, ptype=MARKET, profit=300_500) is ErrorCode.TPSL_WRONG_SIDE
    # the right sides are accepted
    h.place_c("alice", BUY, 300_000, 1, profit=300_001, stop=299_999)
    h.place_c("alice", SELL, 300_100, 1, profit=300_099, stop=300_101)


def test_set_index_rejections(h):
    from ceres.domain import commands as C
    assert h.reject(C.SetIndex("TEST", "BTCUSDT_PERP", 0)).error is ErrorCode.PRICE_OUT_OF_RANGE
    assert h.reject(C.SetIndex("TEST", "NOPE", 1)).error is ErrorCode.UNKNOWN_CONTRACT


def test_a_trigger_close_first_cancels_the_positions_own_resting_opening_order(h):
    # alice's long of 10 lots came from a 16-lot buy: 6 lots still rest at 30000.0
    h.open_short("bob", 300_000, 10, lever=5)
    oid = h.open_long("alice", 300_000, 16, lever=10)
    a = h.pos(h.deal_of(oid))
    assert (a.vol, h.order(oid).filled) == (10, 10)
    h.open_long("carol", 271_000, 10, lever=2)              # another bid, below
    h.index(271_356)                                          # at alice's force price
    # the opening order was cancelled (14: partly filled) before the liquidation sold, so
    # the liquidation could not wash against it; it sold into carol's bid instead
    assert h.order(oid) is None and h.final_status(oid) == 14
    assert a.deal_id not in h.eng.contracts.positions
    (c,) = h.positions("carol")
    assert c.vol == 10
