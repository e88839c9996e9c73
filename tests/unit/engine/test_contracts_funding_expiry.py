"""Funding of perpetuals and settlement of dated contracts, both on the journaled Tick.

Funding at each interval boundary (8 h): ``notional(vol, mark) x rate`` (floored) moves
from the payers' position margins (longs when the rate is positive; capped at the margin)
to the receivers'; the difference goes to (or comes from) the insurance fund.
Expiry: resting orders cancelled, positions settled at the mark without fee, further
orders refused with INSTRUMENT_NOT_TRADING.

T0 = 1_760_000_000_000 ms; T0 // 28_800_000 = 61_111, so the boundary before T0 is
61_111 x 28_800_000 = T0 - 3_200_000 and the next one is T0 + 25_600_000.
"""

from __future__ import annotations

import pytest

from ceres.domain import commands as C
from ceres.domain.enums import Kind
from ceres.domain.errors import ErrorCode
from ceres.domain.events import PositionEvent
from ceres.domain.instruments import Instrument
from contract_helpers import BUY, CLOSE, EXPIRY_MS, FUNDING_MS, SELL, T0, USDT, contract_harness, dated, perp, xbt
from engine_helpers import spot

START = 1000 * USDT
NEXT_BOUNDARY = (T0 // FUNDING_MS + 1) * FUNDING_MS
assert NEXT_BOUNDARY == T0 + 25_600_000


@pytest.fixture
def h(make_harness):
    return make_harness(lambda: contract_harness(perp(), xbt(), dated(), spot()))


def to_time(h, t: int) -> int:
    """dt that brings the harness clock to ``t`` with the next command."""
    assert t > h.now
    return t - h.now


def funding_setup(h, rate):
    h.open_short("bob", 300_000, 10, lever=5)               # bob: START + 7_500_000 rebate
    h.open_long("alice", 300_000, 10, lever=10)             # alice: START - 22_500_000 fee
    h.tick()                                                # first Tick: remembers the boundary
    assert h.eng.contracts.last_funding[("TEST", "BTCUSDT_PERP")] == NEXT_BOUNDARY - FUNDING_MS
    if rate is not None:
        h.apply(C.SetFundingRate("TEST", "BTCUSDT_PERP", rate))
    h.index(310_000)
    return h.positions("alice")[0], h.positions("bob")[0]


def test_positive_rate_longs_pay_shorts(h):
    a, b = funding_setup(h, 100_000)                        # 0.1%
    h.tick(to_time(h, NEXT_BOUNDARY - 1))                   # not yet
    assert (a.margin, b.margin) == (3_000_000_000, 6_000_000_000)
    h.tick(to_time(h, NEXT_BOUNDARY))
    # notional(10, 310_000) = 3.1e10; x 0.001 = 3.1e7 from alice's margin to bob's
    assert (a.margin, b.margin) == (3_000_000_000 - 31_000_000, 6_000_000_000 + 31_000_000)
    assert h.cbal("alice") == (START - 22_500_000 - 31_000_000, 2_969_000_000)
    assert h.cbal("bob") == (START + 7_500_000 + 31_000_000, 6_031_000_000)
    assert h.insurance() == 0
    # the force price follows the margin: floor((3e10 - 2.969e9) x 1e8 / (1e5 x 99_500_000))
    # = floor(2.7031e18 / 9.95e12) = floor(271_668.3) = 271_668
    assert a.force == 271_668
    # once per boundary: another Tick in the same interval changes nothing
    h.tick(1000)
    assert a.margin == 2_969_000_000
    # the rate stays for the next boundaries
    h.tick(to_time(h, NEXT_BOUNDARY + FUNDING_MS))
    assert a.margin == 2_969_000_000 - 31_000_000


def test_negative_rate_shorts_pay_longs(h):
    a, b = funding_setup(h, -250_000)                       # -0.25%
    h.tick(to_time(h, NEXT_BOUNDARY + 5))
    # 3.1e10 x 0.0025 = 77_500_000 from bob to alice
    assert (a.margin, b.margin) == (3_077_500_000, 5_922_500_000)
    assert h.cbal("bob") == (START + 7_500_000 - 77_500_000, 5_922_500_000)


def test_configured_rate_applies_until_set(h):
    a, b = funding_setup(h, None)                           # funding_rate 0.0001 from config
    h.tick(to_time(h, NEXT_BOUNDARY))
    # 3.1e10 x 0.0001 = 3_100_000
    assert (a.margin, b.margin) == (3_000_000_000 - 3_100_000, 6_000_000_000 + 3_100_000)


def test_several_boundaries_skipped_fund_once(h):
    a, _b = funding_setup(h, 100_000)
    h.tick(to_time(h, NEXT_BOUNDARY + 3 * FUNDING_MS))
    assert a.margin == 3_000_000_000 - 31_000_000


def test_payers_are_capped_at_their_margin_and_an_empty_fund_scales_receivers_down(make_harness):
    h = make_harness(lambda: contract_harness(perp()))
    h.open_short("bob", 300_000, 10, lever=1)
    h.open_long("alice", 300_000, 10, lever=100)           # margin 3e8
    h.tick()
    h.apply(C.SetFundingRate("TEST", "BTCUSDT_PERP", 1_000_000))   # 1%
    # alice lever 100: F = floor((3e10 - 3e8) x 1e8 / 9.95e12) = 298_492, far below 330_000
    h.index(330_000)
    h.tick(to_time(h, NEXT_BOUNDARY))
    # alice owes notional(10, 330_000) x 0.01 = 3.3e8 but only has 3e8 of margin; bob is
    # owed 3.3e8, and the fund is empty: he gets 3.3e8 x 3e8 // 3.3e8 = 3e8
    a, b = h.positions("alice")[0], h.positions("bob")[0]
    assert (a.margin, b.margin) == (0, 30_000_000_000 + 300_000_000)
    assert h.cbal("alice") == (START - 22_500_000 - 300_000_000, 0)
    assert h.insurance() == 0
    # margin 0: F = floor(3e10 x 1e8 / 9.95e12) = 301_507, still below the mark
    assert a.force == 301_507


def test_funding_can_trigger_a_liquidation_in_the_same_tick(make_harness):
    h = make_harness(lambda: contract_harness(perp()))
    h.open_short("bob", 300_000, 10, lever=1)
    h.open_long("alice", 300_000, 10, lever=100)            # margin 3e8, F 298_492
    h.tick()
    h.apply(C.SetFundingRate("TEST", "BTCUSDT_PERP", 1_000_000))
    h.index(300_000)
    h.open_long("carol", 299_000, 10, lever=1)              # a bid
    h.tick(to_time(h, NEXT_BOUNDARY))
    # funding takes notional(10, 300_000) x 0.01 = 3e8: all of alice's margin; F becomes
    # 301_507 >= mark 300_000, so she is liquidated. Carol's bid @ 29900.0 would lose
    # 1e8 + fee the empty fund (3e8 in, 3e8 out) cannot pay: alice is auto-deleveraged
    # against bob at her bankruptcy price 30000.0 (no loss beyond her margin of 0)
    assert h.positions("alice") == [] and h.positions("bob") == []
    assert h.insurance() == 0
    assert h.cbal("alice") == (START - 22_500_000 - 300_000_000, 0)
    assert h.cbal("bob") == (START + 7_500_000 + 300_000_000, 0)


def test_inverse_funding_rounding_dust_goes_to_insurance(make_harness):
    h = make_harness(lambda: contract_harness(xbt()))
    h.open_short("bob", 60_000, 1, lever=1)
    h.open_short("carol", 60_000, 2, lever=1)
    h.open_long("alice", 60_000, 3, lever=1)
    h.tick()
    h.apply(C.SetFundingRate("TEST", "XBTUSD", 1_000_000))  # 1%
    h.index(60_000)
    h.tick(to_time(h, NEXT_BOUNDARY))
    # alice pays floor(notional(3, 60_000) x 0.01) = floor(10_000 x 0.01) = 100;
    # bob gets floor(3_333 x 0.01) = 33, carol floor(6_666 x 0.01) = 66: 1 sat of dust
    (a,), (b,), (c,) = h.positions("alice"), h.positions("bob"), h.positions("carol")
    assert (a.margin, b.margin, c.margin) == (9_999 - 100, 3_333 + 33, 6_666 + 66)
    assert h.insurance("BTC") == 1
    # negative rate: the shorts pay 33 + 66, alice receives 100, the fund pays 1
    h.apply(C.SetFundingRate("TEST", "XBTUSD", -1_000_000))
    h.tick(to_time(h, NEXT_BOUNDARY + FUNDING_MS))
    # notional(3, 60_000) is still 10_000 etc.
    assert (a.margin, b.margin, c.margin) == (9_999, 3_333, 6_666)
    assert h.insurance("BTC") == 0


def test_funding_rate_rejections(h):
    assert h.reject(C.SetFundingRate("TEST", "BTCUSDT_PERP", 1_000_001)).error is ErrorCode.INVALID_VALUE
    assert h.reject(C.SetFundingRate("TEST", "BTCUSDT_PERP", -1_000_001)).error is ErrorCode.INVALID_VALUE
    assert h.reject(C.SetFundingRate("TEST", "BTC/USDT", 1)).error is ErrorCode.NOT_A_CONTRACT
    assert h.reject(C.SetIndex("TEST", "BTC/USDT", 1)).error is ErrorCode.NOT_A_CONTRACT


def test_next_due(h):
    # nothing ticked yet: the perpetuals are due at once; afterwards the next boundary
    assert h.eng.next_due() == h.now
    h.tick()
    # the dated contract's expiry (T0 + 10_000_000) comes before the next boundary (T0 + 25_600_000)
    assert h.eng.next_due() == EXPIRY_MS
    h.tick(to_time(h, EXPIRY_MS))
    assert h.eng.next_due() == NEXT_BOUNDARY


# --- expiry -------------------------------------------------------------------------------
def expiry_setup(h, bob_lever=5):
    """On BTCUSDT_2703 (maker -0.05%, taker 0.25%): bob short 10 @ 30000.0 (maker),
    alice long 10 lever 10 (taker fee floor(3e10 x 0.0025) = 75_000_000, bob's rebate
    floor(3e10 x 0.0005) = 15_000_000)."""
    h.open_short("bob", 300_000, 10, lever=bob_lever, contract="BTCUSDT_2703")
    h.open_long("alice", 300_000, 10, lever=10, contract="BTCUSDT_2703")
    a = h.positions("alice", "BTCUSDT_2703")[0]
    b = h.positions("bob", "BTCUSDT_2703")[0]
    return a, b


def test_expiry_settles_at_the_mark_cancels_orders_and_stops_trading(h):
    a, b = expiry_setup(h)
    carol = h.open_long("carol", 290_000, 5, lever=2, contract="BTCUSDT_2703")
    (close_oid,) = h.close_long("alice", 320_000, 3, deal_id=a.deal_id, contract="BTCUSDT_2703")
    perp_oid = h.open_long("dave", 290_000, 1)               # on the perpetual: untouched
    h.index(310_000, "BTCUSDT_2703")
    h.tick(to_time(h, EXPIRY_MS - 1))
    assert a.vol == 10 and h.order(carol) is not None
    h.eng.take_events()
    h.tick(1)                                                # now == expiry
    assert h.final_status(carol) == 15 and h.final_status(close_oid) == 15
    assert h.positions("alice", "BTCUSDT_2703") == [] and h.positions("bob", "BTCUSDT_2703") == []
    closed = [e for e in h.eng.events if isinstance(e, PositionEvent) and e.kind == "POSITION"]
    assert sorted((e.product, e.vol) for e in closed) == [("alice", 0), ("bob", 0)]
    # settlement at 31000.0 with no fee: alice +1e9, bob -1e9; margins released
    assert h.cbal("alice") == (START - 75_000_000 + 1_000_000_000, 0)
    assert h.cbal("bob") == (START + 15_000_000 - 1_000_000_000, 0)
    assert h.cbal("carol") == (START, 0)
    assert (a.realized, b.realized) == (1_000_000_000, -1_000_000_000)
    assert h.insurance() == 0
    assert h.order(perp_oid) is not None
    # no more orders, opening or closing
    for cmd in (h.cmd("alice", BUY, 300_000, 1, contract="BTCUSDT_2703"),
                h.cmd("alice", SELL, 0, 1, contract="BTCUSDT_2703", fdir=CLOSE, rule=1)):
        assert h.reject(cmd).error is ErrorCode.INSTRUMENT_NOT_TRADING
    # later Ticks do nothing more
    h.tick(1000)


def test_an_expiry_deficit_the_empty_fund_cannot_take_is_auto_deleveraged(h):
    # bob short lever 100: margin 3e8, F = ceil((3e10 + 3e8) x 1e8 / 1.005e13) = 301_493
    a, b = expiry_setup(h, bob_lever=100)
    assert b.force == 301_493
    h.index(310_000, "BTCUSDT_2703")       # liquidation tried, but no asks: stays open
    assert b.vol == 10
    h.tick(to_time(h, EXPIRY_MS))
    # at the mark bob would lose 1e9 on a 3e8 margin. Instead alice takes his 10 lots at his
    # bankruptcy price floor((3e10 + 3e8) / 1e5) = 303_000: bob loses exactly his margin,
    # alice gains 3e8 instead of 1e9, the fund stays at 0
    assert h.cbal("bob") == (START + 15_000_000 - 300_000_000, 0)
    assert h.cbal("alice") == (START - 75_000_000 + 300_000_000, 0)
    assert (a.realized, b.realized) == (300_000_000, -300_000_000)
    assert h.insurance() == 0


def test_inverse_expiry_rounding_goes_to_insurance(make_harness):
    inv_dated = Instrument("TEST", "XBTUSD_0327", Kind.DATED, "BTC", "USD", "0.5", "1", "0.5", "1",
                           "-0.00025", "0.00075", 8, 0, contract_value="1", inverse=True,
                           max_lever=100, maint_margin="0.005", expiry_ms=EXPIRY_MS)
    h = make_harness(lambda: contract_harness(inv_dated))
    h.open_short("bob", 60_000, 1, lever=1)                 # cost 1e9 // 300_000 = 3_333
    h.open_short("carol", 60_000, 2, lever=1)               # cost 6_666
    h.open_long("alice", 60_000, 3, lever=1)                # cost 3_333 + 6_666 = 9_999
    h.index(60_000)
    alice = h.cbal("alice", "BTC")
    h.tick(to_time(h, EXPIRY_MS))
    # at the mark: alice's long is worth notional(3, 60_000) = 10_000 -> PnL 9_999 - 10_000 = -1;
    # bob 3_333 - 3_333 = 0, carol 6_666 - 6_666 = 0: the 1 sat goes to the fund
    assert h.cbal("alice", "BTC") == (alice[0] - 1, 0)
    assert h.insurance("BTC") == 1


def test_expiry_without_an_index_settles_at_the_book_mid_of_that_moment(h):
    # the mark with no index is the mid of best bid and ask; expiry cancels the resting
    # orders, but the settlement uses the mark as it was at expiry, not the last trade
    a, b = expiry_setup(h)                                   # last trade 300_000
    h.open_long("carol", 305_000, 1, lever=2, contract="BTCUSDT_2703")
    h.open_short("dave", 307_000, 1, lever=2, contract="BTCUSDT_2703")
    # mid (305_000 + 307_000) // 2 = 306_000: alice (306_000 - 300_000) x 10 lots x 1e4 = +6e8,
    # bob -6e8 (no fee at settlement)
    h.tick(to_time(h, EXPIRY_MS))
    assert h.cbal("alice") == (START - 75_000_000 + 600_000_000, 0)
    assert h.cbal("bob") == (START + 15_000_000 - 600_000_000, 0)
    assert (a.realized, b.realized) == (600_000_000, -600_000_000)


def test_orders_after_the_expiry_time_are_refused_before_the_tick_settles(h):
    a, _b = expiry_setup(h)
    h.tick(to_time(h, EXPIRY_MS - 1))
    # the next command carries a time at/after expiry: refused even though no Tick ran yet
    h.now = EXPIRY_MS
    err = h.reject(h.cmd("carol", BUY, 300_000, 1, contract="BTCUSDT_2703"))
    assert err.error is ErrorCode.INSTRUMENT_NOT_TRADING
    assert a.vol == 10  # not settled until the Tick


def test_funding_rate_on_a_dated_contract_is_refused(h):
    assert h.reject(C.SetFundingRate("TEST", "BTCUSDT_2703", 100)).error is ErrorCode.INVALID_VALUE
