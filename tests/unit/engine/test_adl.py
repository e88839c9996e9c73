"""Auto-deleveraging: a liquidation whose book lies beyond what the insurance fund can pay
closes the rest against the opposite side's positions, ranked by profit x leverage, at the
bankruptcy price, with notices; the fund never goes negative.

BTCUSDT_PERP (1 tick x 1 lot = 1e4 minor units, taker 0.075%, maker -0.025%). alice goes
long @ 30000.0 lever 10: force 271_356; her bankruptcy price (where her lots lose exactly
their margin, a tenth of the cost) is 27000.0. With an empty fund her fund limit is
ceil((cost - margin + 2 x vol) x 1e8 / (99_925_000 x vol x 1e4)) = 270_203 (8 or 10 lots):
bids below it are beyond.
"""

from __future__ import annotations

import pytest

from ceres.domain.events import OrderEvent, PositionEvent, TradeEvent
from contract_helpers import BUY, EXPIRY_MS, SELL, USDT, contract_harness, dated, perp

PRODUCTS = ("alice", "bob", "carol", "dave", "erin", "frank")
START = 1000 * USDT


@pytest.fixture
def h(make_harness):
    return make_harness(lambda: contract_harness(perp(), products=PRODUCTS))


def adl_orders(h, tag):
    """(product, side, price, lots) of the filled ADL-executed orders tagged ``tag``."""
    return [(e.spec.product, e.spec.side, e.spec.price, e.filled) for e in h.order_events()
            if e.spec.client_oid == tag and e.status == 5]


def test_adl_ranks_by_profit_times_leverage_reduces_partly_and_leaves_the_fund_at_zero(h):
    h.index(300_000)
    h.open_short("carol", 300_000, 4, lever=20)            # margin 6e8
    h.open_short("bob", 300_000, 8, lever=2)               # margin 1.2e10
    alice = h.deal_of(h.open_long("alice", 300_000, 8, lever=10))   # cost 2.4e10, margin 2.4e9
    h.open_long("frank", 300_000, 4, lever=1)              # the rest of bob's 8 lots
    h.open_short("dave", 320_000, 2, lever=5)              # margin 1.28e9
    h.open_long("frank", 320_000, 2, lever=1)
    h.open_long("erin", 260_000, 5, lever=1)               # the only bid: 26000.0, beyond the limit
    last = h.eng.contracts.last[("TEST", "BTCUSDT_PERP")]
    h.eng.take_events()
    h.index(265_000)
    # scores at the mark 26500.0 (unrealised PnL / margin x lever): carol 1.4e9 / 6e8 x 20 = 46.7,
    # dave (6.4e9 - 5.3e9) / 1.28e9 x 5 = 4.3, bob 2.8e9 / 1.2e10 x 2 = 0.47
    assert alice not in h.eng.contracts.positions
    assert adl_orders(h, "adl") == [("carol", BUY, 270_000, 4), ("dave", BUY, 270_000, 2), ("bob", BUY, 270_000, 2)]
    assert adl_orders(h, "liquidation") == [("alice", SELL, 270_000, 4), ("alice", SELL, 270_000, 2),
                                            ("alice", SELL, 270_000, 2)]
    # each 270_000 is the bankruptcy price of alice's part: she loses exactly her margin
    assert h.cbal("alice") == (START - 18_000_000 - 2_400_000_000, 0)
    assert h.insurance() == 0 and h.eng.ledger.covered == {}
    # the deleveraged close at 27000.0 with no fee: carol and dave entirely, bob 2 of his 8 lots
    # (6e9 - 5.4e9 realised); bob keeps 6 lots and 3/4 of his margin
    assert [p.product.name for p in h.eng.contracts.positions.values() if p.side == 2] == ["bob"]
    (b,) = h.positions("bob")
    assert (b.vol, b.cost, b.margin, b.realized) == (6, 18_000_000_000, 9_000_000_000, 600_000_000)
    assert [(e.price, e.lots, e.maker_fee, e.taker_fee) for e in h.trades()] == [(270_000, 4, 0, 0),
                                                                                 (270_000, 2, 0, 0),
                                                                                 (270_000, 2, 0, 0)]
    assert h.eng.contracts.last[("TEST", "BTCUSDT_PERP")] == last   # ADL prints no last price
    assert [r[1:] for r in h.resting()] == [(BUY, 260_000, 5)]     # erin's bid untouched
    # every affected position got its messageType 2 notice; carol's and dave's are closed
    closes = {(e.product, e.vol) for e in h.eng.events if isinstance(e, PositionEvent) and e.kind == "POSITION"}
    assert {("carol", 0), ("dave", 0), ("bob", 6), ("alice", 0)} <= closes


def test_a_candidate_that_would_go_bankrupt_at_the_price_is_skipped(h):
    h.index(300_000)
    h.open_short("bob", 300_000, 10, lever=5)
    h.open_long("alice", 300_000, 10, lever=10)
    h.open_long("carol", 260_000, 1, lever=1)
    h.open_short("dave", 260_000, 1, lever=100)            # margin 2.6e7: bankrupt at 26260.0
    h.open_long("erin", 200_000, 1, lever=1)               # a bid far below
    h.eng.take_events()
    h.index(259_000)
    # dave ranks first (1e7 / 2.6e7 x 100 = 38.5 against bob's 4.1e9 / 6e9 x 5 = 3.4), but at
    # 27000.0 his lot would lose 1e8 on a 2.6e7 margin: bob takes all ten
    assert adl_orders(h, "adl") == [("bob", BUY, 270_000, 10)]
    (d,) = h.positions("dave")
    assert d.vol == 1 and h.insurance() == 0


def test_lots_nobody_can_take_stay_open_and_the_liquidation_is_retried(h):
    h.index(300_000)
    h.open_short("bob", 300_000, 10, lever=5)
    alice = h.deal_of(h.open_long("alice", 300_000, 10, lever=10))
    (bob_close,) = h.close_short("bob", 250_000, 10, rule=1)   # reserves all his lots
    h.open_long("erin", 200_000, 1, lever=1)
    h.eng.take_events()
    h.index(260_000)
    # erin's bid is beyond the limit and bob's lots are all reserved: nothing happens
    assert h.pos(alice).vol == 10 and h.insurance() == 0
    assert [e for e in h.eng.events if isinstance(e, (OrderEvent, TradeEvent))] == []
    h.cancel("bob", bob_close)                                # a command on the contract: retried
    assert alice not in h.eng.contracts.positions
    assert adl_orders(h, "adl") == [("bob", BUY, 270_000, 10)]


def test_the_fund_pays_a_deficit_it_can_cover_without_adl(h):
    h.index(300_000)
    h.open_short("bob", 300_000, 10, lever=5)
    h.open_long("alice", 300_000, 10, lever=10)
    h.open_long("carol", 271_000, 10, lever=2)
    h.index(271_356)                                           # alice sold into carol's bid
    assert h.insurance() == 79_675_000                         # (test_contracts_triggers)
    h.open_short("erin", 271_000, 1, lever=1)
    dave = h.deal_of(h.open_long("dave", 271_000, 1, lever=100))   # margin 2.71e7
    h.open_long("frank", 267_000, 1, lever=1)                 # a bid below dave's bankruptcy
    h.eng.take_events()
    h.index(268_000)
    # selling at 26700.0: 2.71e7 + (2.67e9 - 2.71e9) - fee 2_002_500 = -14_902_500, which the
    # fund pays: within its limit, so no ADL
    assert dave not in h.eng.contracts.positions
    assert adl_orders(h, "adl") == []
    assert h.insurance() == 79_675_000 - 14_902_500


def test_a_stop_loss_beyond_the_fund_limit_waits(h):
    h.index(300_000)
    h.open_short("bob", 300_000, 10, lever=5)
    alice = h.deal_of(h.open_long("alice", 300_000, 10, lever=10, stop=280_000))
    h.open_long("erin", 260_000, 10, lever=1)
    h.eng.take_events()
    h.index(279_000)                                           # the stop, not the liquidation price
    assert h.pos(alice).vol == 10 and h.eng.events == []      # selling at 26000.0: beyond the limit
    h.open_long("carol", 278_000, 10, lever=1)                 # liquidity within it: the stop fires
    assert alice not in h.eng.contracts.positions
    assert h.trades()[-1].price == 278_000 and h.insurance() == 0


def test_a_close_order_beyond_bankruptcy_with_an_empty_fund_is_covered_by_the_venue(h):
    h.open_short("bob", 300_000, 10, lever=5)
    alice = h.deal_of(h.open_long("alice", 300_000, 10, lever=10))
    h.open_long("carol", 260_000, 10, lever=1)
    h.close_long("alice", 0, 10, deal_id=alice)                # her own market close at 26000.0
    # loss 4e9 + fee floor(2.6e10 x 0.00075) = 19_500_000 on a 3e9 margin: the fund is empty, so
    # the venue pays in the 1_019_500_000 (the trade was the order's own; no ADL can undo it)
    assert h.insurance() == 0
    assert h.eng.ledger.covered == {("TEST", "USDT"): 1_019_500_000}
    assert h.cbal("alice") == (START - 22_500_000 - 3_000_000_000, 0)


def test_at_expiry_the_fund_pays_what_it_can_and_the_rest_is_deleveraged(make_harness):
    h = make_harness(lambda: contract_harness(perp(), dated(), products=PRODUCTS))
    h.open_short("bob", 300_000, 10, lever=100, contract="BTCUSDT_2703")   # margin 3e8
    h.open_long("alice", 300_000, 10, lever=10, contract="BTCUSDT_2703")   # taker fee 75_000_000
    # the (shared USDT) fund gets 79_675_000 from a liquidation on the perpetual
    h.open_short("frank", 300_000, 10, lever=5)
    h.open_long("erin", 300_000, 10, lever=10)
    h.open_long("dave", 271_000, 10, lever=2)
    h.index(271_356)
    assert h.insurance() == 79_675_000
    h.index(310_000, "BTCUSDT_2703")                           # bob's liquidation waits: no asks
    h.eng.take_events()
    h.tick(EXPIRY_MS - h.now)
    # at 31000.0 bob would lose 1e9 on his 3e8 margin: 7e7 per lot. The fund covers one lot;
    # alice takes the other 9 at their bankruptcy price (2.7e10 + 2.7e8) / 9e4 = 303_000
    assert adl_orders(h, "adl") == [("alice", SELL, 303_000, 9)]
    assert adl_orders(h, "liquidation") == [("bob", BUY, 303_000, 9)]
    assert h.insurance() == 79_675_000 - 70_000_000
    assert h.cbal("bob") == (START + 15_000_000 - 300_000_000, 0)          # exactly his margin
    # alice: 9 lots at 30300.0 (+2.7e8) and 1 at the mark 31000.0 (+1e8)
    assert h.cbal("alice") == (START - 75_000_000 + 370_000_000, 0)
    assert h.positions("bob", "BTCUSDT_2703") == [] and h.positions("alice", "BTCUSDT_2703") == []
