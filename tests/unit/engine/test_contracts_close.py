"""Closing contract positions: by deal_id, by close_rule time (oldest first) or risk
(nearest liquidation first), one order per position, close reservations, and the
rejections (each leaves the state untouched: ``Harness.reject``).

BTCUSDT_PERP grid: 1 tick x 1 lot = 1e4 USDT minor units, 300_000 ticks = 30000.0 USDT,
notional(10 lots, 300_000) = 3e10; taker fee 0.075%, maker -0.025%, mmr 0.5%.
"""

from __future__ import annotations

import pytest

from ceres.domain import commands as C
from ceres.domain.errors import ErrorCode
from contract_helpers import BUY, CLOSE, MARKET, RISK, SELL, TIME, USDT, contract_harness, perp, xbt

START = 1000 * USDT


@pytest.fixture
def h(make_harness):
    return make_harness(lambda: contract_harness(perp(), xbt()))


def three_longs(h):
    """alice opens three 10-lot longs @ 30000.0 (bob is short against each), oldest first:
    A lever 10, B lever 50, C lever 2. Force prices (long: floor((cost - margin) x 1e8 /
    (1e5 x 99_500_000)), cost 3e10):
    A margin 3e9   -> floor(2.7e18 / 9.95e12)  = floor(271_356.8) = 271_356
    B margin 6e8   -> floor(2.94e18 / 9.95e12) = floor(295_477.4) = 295_477
    C margin 1.5e10 -> floor(1.5e18 / 9.95e12) = floor(150_753.8) = 150_753
    """
    deals = []
    for lever in (10, 50, 2):
        h.open_short("bob", 300_000, 10, lever=5, dt=1000)
        oid = h.open_long("alice", 300_000, 10, lever=lever, dt=1000)
        deals.append(h.deal_of(oid))
    a, b, c = (h.pos(d) for d in deals)
    assert (a.force, b.force, c.force) == (271_356, 295_477, 150_753)
    assert a.opened < b.opened < c.opened
    return a, b, c


def orders_of(h, ids):
    return [(h.order(i).deal_id, h.order(i).vol) for i in ids]


def test_close_rule_time_closes_oldest_first_one_order_per_position(h):
    a, b, c = three_longs(h)
    ids = h.close_long("alice", 320_000, 15, rule=TIME)      # rests (no bids)
    assert isinstance(ids, list) and len(ids) == 2 and ids[0] < ids[1]
    assert orders_of(h, ids) == [(a.deal_id, 10), (b.deal_id, 5)]
    assert (a.closing, b.closing, c.closing) == (10, 5, 0)
    assert all(h.order(i).fdir == CLOSE and h.order(i).side == SELL for i in ids)


def test_close_rule_risk_closes_nearest_liquidation_first(h):
    a, b, c = three_longs(h)
    ids = h.close_long("alice", 320_000, 15, rule=RISK)
    # nearest liquidation for longs = highest force price: B (295_477), then A (271_356)
    assert orders_of(h, ids) == [(b.deal_id, 10), (a.deal_id, 5)]
    ids = h.close_long("alice", 320_000, 15, rule=RISK)
    # what is left to close: A 5, C 10 (B fully reserved)
    assert orders_of(h, ids) == [(a.deal_id, 5), (c.deal_id, 10)]
    assert (a.closing, b.closing, c.closing) == (10, 10, 10)


def test_close_rule_risk_for_shorts_is_lowest_force_first(h):
    # alice shorts (carol long against each), forces ceil((3e10 + margin) x 1e8 / (1e5 x 100_500_000)):
    # lever 10 margin 3e9  -> ceil(3.3e18 / 1.005e13)  = ceil(328_358.2) = 328_359
    # lever 50 margin 6e8  -> ceil(3.06e18 / 1.005e13) = ceil(304_477.6) = 304_478
    # lever 3  margin 1e10 -> ceil(4e18 / 1.005e13)    = ceil(398_009.95) = 398_010
    deals = []
    for lever in (10, 50, 3):
        h.open_long("carol", 300_000, 10, lever=2)
        deals.append(h.deal_of(h.open_short("alice", 300_000, 10, lever=lever)))
    assert [h.pos(d).force for d in deals] == [328_359, 304_478, 398_010]
    ids = h.close_short("alice", 290_000, 25, rule=RISK)
    assert orders_of(h, ids) == [(deals[1], 10), (deals[0], 10), (deals[2], 5)]
    for i in ids:
        h.cancel("alice", i)
    ids = h.close_short("alice", 290_000, 25, rule=TIME)
    assert orders_of(h, ids) == [(deals[0], 10), (deals[1], 10), (deals[2], 5)]


def test_market_close_by_rule_fills_each_position_separately(h):
    a, b, c = three_longs(h)
    h.open_long("carol", 310_000, 12, lever=2)                # bid 12 @ 31000.0
    before = h.cbal("alice")
    ids = h.close_long("alice", 0, 12, rule=TIME, ptype=MARKET)
    assert len(ids) == 2 and [h.final_status(i) for i in ids] == [5, 5]
    # A closed whole: N = 3.1e10, PnL 3.1e10 - 3e10 = 1e9, fee floor(3.1e10 x 0.00075) = 23_250_000
    # B 2 lots: N = 6.2e9, cost part 3e10 x 2 // 10 = 6e9, PnL 2e8,
    # fee floor(6.2e9 x 0.00075) = 4_650_000, margin part 6e8 x 2 // 10 = 1.2e8
    assert a.deal_id not in h.eng.contracts.positions
    assert (b.vol, b.cost, b.margin, b.realized) == (8, 24_000_000_000, 480_000_000, 200_000_000)
    assert h.cbal("alice") == (before[0] + 1_000_000_000 - 23_250_000 + 200_000_000 - 4_650_000,
                               before[1] - 3_000_000_000 - 120_000_000)
    assert [p.deal_id for p in h.positions("alice")] == [b.deal_id, c.deal_id]


def test_limit_close_by_rule_partially_crossing_rests_the_rest(h):
    _a, b, _c = three_longs(h)
    h.open_long("carol", 310_000, 12, lever=2)
    ids = h.close_long("alice", 310_000, 15, rule=TIME)
    # A's order fills 10, B's fills 2 and rests 3
    assert h.final_status(ids[0]) == 5
    assert h.resting() == [(ids[1], SELL, 310_000, 3)]
    assert (b.vol, b.closing) == (8, 3)


def test_close_reservations_cannot_exceed_the_position(h):
    a, b, c = three_longs(h)
    h.close_long("alice", 320_000, 6, deal_id=a.deal_id)
    # 4 left on A: a second close of 5 is refused, 4 fits
    err = h.reject(h.cmd("alice", SELL, 320_000, 5, fdir=CLOSE, deal_id=a.deal_id))
    assert err.error is ErrorCode.CLOSE_EXCEEDS_POSITION
    h.close_long("alice", 321_000, 4, deal_id=a.deal_id)
    assert a.closing == 10
    # by rule: 20 lots left (B, C); 21 is too much, and A is skipped
    err = h.reject(h.cmd("alice", SELL, 320_000, 21, fdir=CLOSE, rule=TIME))
    assert err.error is ErrorCode.CLOSE_EXCEEDS_POSITION
    ids = h.close_long("alice", 320_000, 20, rule=TIME)
    assert orders_of(h, ids) == [(b.deal_id, 10), (c.deal_id, 10)]
    err = h.reject(h.cmd("alice", SELL, 320_000, 1, fdir=CLOSE, rule=RISK))
    assert err.error is ErrorCode.CLOSE_EXCEEDS_POSITION


def test_close_rejections_change_nothing(h):
    a, b, c = three_longs(h)
    (bob_short, *_) = h.positions("bob")

    def rej(**kw):
        kw.setdefault("fdir", CLOSE)
        side = kw.pop("side", SELL)
        return h.reject(h.cmd("alice", side, kw.pop("price", 320_000), kw.pop("vol", 1), **kw)).error

    # neither deal_id nor close_rule
    assert rej() is ErrorCode.CLOSE_TARGET_MISSING
    assert rej(ptype=MARKET, price=0) is ErrorCode.CLOSE_TARGET_MISSING
    # more than the position, by deal_id and by rule (30 lots open in total)
    assert rej(vol=11, deal_id=a.deal_id) is ErrorCode.CLOSE_EXCEEDS_POSITION
    assert rej(vol=31, rule=TIME) is ErrorCode.CLOSE_EXCEEDS_POSITION
    assert rej(vol=31, rule=RISK) is ErrorCode.CLOSE_EXCEEDS_POSITION
    # buy closes shorts: alice has none
    assert rej(side=BUY, price=280_000, rule=TIME) is ErrorCode.CLOSE_EXCEEDS_POSITION
    # wrong side for the deal: a buy cannot close a long
    assert rej(side=BUY, price=280_000, deal_id=a.deal_id) is ErrorCode.INVALID_VALUE
    # somebody else's deal, an unknown deal, a deal on another contract
    assert rej(side=BUY, price=280_000, deal_id=bob_short.deal_id) is ErrorCode.POSITION_NOT_FOUND
    assert rej(deal_id=123_456_789) is ErrorCode.POSITION_NOT_FOUND
    assert rej(deal_id=a.deal_id, contract="XBTUSD", price=80_000) is ErrorCode.POSITION_NOT_FOUND
    # volume and price checks apply to closes too
    assert rej(vol=0, deal_id=a.deal_id) is ErrorCode.VOLUME_OUT_OF_RANGE
    assert rej(price=0, ptype=1, deal_id=a.deal_id) is ErrorCode.PRICE_OUT_OF_RANGE
    # future_dir must be 1 (open) or 2 (close)
    assert rej(fdir=3, deal_id=a.deal_id) is ErrorCode.INVALID_VALUE
    assert (a.closing, b.closing, c.closing) == (0, 0, 0)


def test_close_with_deal_id_ignores_close_rule(h):
    _a, _b, c = three_longs(h)
    (oid,) = h.close_long("alice", 320_000, 3, deal_id=c.deal_id, rule=TIME)
    assert orders_of(h, [oid]) == [(c.deal_id, 3)]


def test_close_may_trade_against_the_same_products_opening_order(h):
    # no self-trade prevention on TEST: alice's close of A sells into her own resting buy,
    # which opens a new long; A is reduced
    a, _b, _c = three_longs(h)
    h.open_long("alice", 305_000, 4, lever=10)
    h.close_long("alice", 0, 4, deal_id=a.deal_id, ptype=MARKET)
    assert a.vol == 6
    assert sorted(p.vol for p in h.positions("alice")) == [4, 6, 10, 10]


def test_close_crossing_the_positions_own_opening_order(h):
    # alice's buy of 10 is filled 4 by bob (position X) and rests 6; her close of X at the
    # same price trades against that rest: the maker side adds 4 lots to X first (fills of
    # the opening order go to its position), then the close takes 4 off
    oid = h.open_long("alice", 300_000, 10, lever=10)
    h.open_short("bob", 300_000, 4, lever=5)
    x = h.pos(h.deal_of(oid))
    h.close_long("alice", 300_000, 4, deal_id=x.deal_id)
    # cost 8 lots x 300_000 x 1e4 = 2.4e10, part 2.4e10 x 4 // 8 = 1.2e10 = N: PnL 0
    assert (x.vol, x.cost, x.margin, x.realized, x.closing) == (4, 12_000_000_000, 1_200_000_000, 0, 0)
    assert h.order(oid).filled == 8


def test_resting_close_keeps_its_reservation_until_filled(h):
    a, _b, _c = three_longs(h)
    (oid,) = h.close_long("alice", 310_000, 10, deal_id=a.deal_id)
    h.open_long("carol", 310_000, 4, lever=2)
    assert (a.vol, a.closing) == (6, 6)
    h.open_long("carol", 310_000, 6, lever=2)
    assert a.deal_id not in h.eng.contracts.positions
    assert h.final_status(oid) == 5 and h.order(oid) is None


def test_close_rule_risk_puts_positions_without_liquidation_price_last(h):
    # a lever-1 long has no liquidation price (cost - margin = 0): it is the least risky
    h.open_short("bob", 300_000, 20, lever=5)
    safe = h.deal_of(h.open_long("alice", 300_000, 10, lever=1))
    risky = h.deal_of(h.open_long("alice", 300_000, 10, lever=2))
    assert (h.pos(safe).force, h.pos(risky).force) == (0, 150_753)
    ids = h.close_long("alice", 320_000, 12, rule=RISK)
    assert orders_of(h, ids) == [(risky, 10), (safe, 2)]


def test_short_positions_close_with_buy(h):
    h.open_long("carol", 300_000, 10, lever=2)
    oid = h.open_short("alice", 300_000, 10, lever=10)
    deal = h.deal_of(oid)
    # short closed at 29000.0 into bob's ask: PnL 3e10 - 2.9e10 = 1e9, taker fee
    # floor(2.9e10 x 0.00075) = 21_750_000; the open cost floor(3e10 x 0.00075) = 22_500_000
    h.open_short("bob", 290_000, 10, lever=5)
    h.apply(C.Place("alice", "TEST", "BTCUSDT_PERP", BUY, MARKET, 0, 10, "", CLOSE, 1, 0, 0, deal, 0))
    assert h.positions("alice") == []
    assert h.cbal("alice") == (START - 22_500_000 + 1_000_000_000 - 21_750_000, 0)
