"""Properties of the liquidation arithmetic (``engine.positions.bankruptcy_price``,
``engine.liquidation.fund_limit``) against their definitions evaluated with exact
fractions, and of a liquidation with an empty insurance fund into a random book: the
position is closed (by the book within the fund limit, the rest by ADL) unless the book
within the limit simply ran out, the fund stays at zero or above and the venue never has
to cover anything."""

from __future__ import annotations

import hypothesis.strategies as st
from contract_recount import within_fund_limit
from contract_streams import DECIMALS, instruments
from hypothesis import HealthCheck, given, settings

from ceres.domain import commands as C
from ceres.domain.instruments import MAX_PRICE_TICKS
from ceres.domain.money import ceil_div
from ceres.engine.ledger import Balance, Product
from ceres.engine.liquidation import fund_limit
from ceres.engine.positions import LONG, SHORT, Position, bankruptcy_price, close_result
from contract_helpers import CONTRACT_T, CHarness

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LPERP, IPERP = instruments()[:2]
MID = 1000


def position(inst, side: int, vol: int, entry: int, lever: int, margin_cut: int = 0) -> Position:
    pos = Position(1, Product("p", 0), inst, side, lever, 0, 0, 1, 0, Balance())
    pos.vol, pos.cost = vol, inst.notional(vol, entry)
    pos.margin = max(0, ceil_div(pos.cost, lever) - margin_cut)
    return pos


def worse(side: int, price: int) -> int:
    """One tick worse for the holder closing: lower for a long, higher for a short."""
    return price - 1 if side == LONG else price + 1


@SETTINGS
@given(st.sampled_from([LPERP, IPERP]), st.sampled_from([LONG, SHORT]), st.integers(1, 50),
       st.integers(100, 5000), st.integers(1, 100))
def test_bankruptcy_price_is_the_worst_price_losing_at_most_the_margin(inst, side, lots, entry, lever):
    pos = position(inst, side, lots, entry, lever)
    p = bankruptcy_price(inst, side, lots, pos.cost, pos.margin)
    assert close_result(inst, side, lots, pos.cost, pos.margin, p) >= 0
    w = worse(side, p)
    if 1 <= w <= MAX_PRICE_TICKS:
        assert close_result(inst, side, lots, pos.cost, pos.margin, w) < 0


@SETTINGS
@given(st.sampled_from([LPERP, IPERP]), st.sampled_from([LONG, SHORT]), st.integers(1, 50),
       st.integers(100, 5000), st.integers(1, 100), st.integers(0, 10**7), st.integers(0, 10**6))
def test_fund_limit_is_the_worst_price_within_the_documented_condition(inst, side, vol, entry, lever, fund, cut):
    pos = position(inst, side, vol, entry, lever, cut)
    limit = fund_limit(inst, pos, fund)
    if limit is None:  # any price: even the worst one
        assert within_fund_limit(pos, fund, 1 if side == LONG else MAX_PRICE_TICKS)
        return
    if 1 <= limit <= MAX_PRICE_TICKS:
        assert within_fund_limit(pos, fund, limit)
    w = worse(side, limit)
    if 1 <= w <= MAX_PRICE_TICKS:
        assert not within_fund_limit(pos, fund, w)


@SETTINGS
@given(st.data())
def test_a_liquidation_with_an_empty_fund_never_needs_the_venue(data):
    inst = data.draw(st.sampled_from([LPERP, IPERP]), label="inst")
    side = data.draw(st.sampled_from([LONG, SHORT]), label="side")
    lever = data.draw(st.sampled_from([5, 10, 20, 50, 100]), label="lever")
    vol = data.draw(st.integers(1, 20), label="vol")
    h = CHarness([LPERP, IPERP], DECIMALS, ("a", "b", "m0", "m1", "m2"))
    for p in h.eng.products:
        for cur, amount in (("USDT", 10**9), ("BTC", 10**10)):
            h.apply(C.Deposit(p, cur, amount))
            h.apply(C.Transfer(p, cur, amount, 2, CONTRACT_T, "TEST"))
    opens, other = (1, 2) if side == LONG else (2, 1)   # a's side (bids take its close), b's side
    h.apply(C.SetIndex("TEST", inst.contract, MID))
    h.apply(C.Place("b", "TEST", inst.contract, other, 1, MID, vol, "", 1, 1))
    h.apply(C.Place("a", "TEST", inst.contract, opens, 1, MID, vol, "", 1, lever))
    (pos,) = h.eng.products["a"].positions.values()
    bankrupt = bankruptcy_price(inst, side, vol, pos.cost, pos.margin)
    for _ in range(data.draw(st.integers(1, 6), label="makers")):  # resting where a closes into
        away = data.draw(st.integers(-60, 40), label="away")  # beyond its bankruptcy .. towards the entry
        price = bankrupt - away if side == LONG else bankrupt + away
        price = min(max(price, 1), MID - 1) if side == LONG else max(price, MID + 1)
        maker = data.draw(st.sampled_from(["m0", "m1", "m2"]), label="maker")
        h.apply(C.Place(maker, "TEST", inst.contract, opens, 1, price, data.draw(st.integers(1, 6)), "", 1, 1))
    h.apply(C.SetIndex("TEST", inst.contract, pos.force))
    book = h.eng.books[inst.key]
    # closed, or what is left waits for liquidity: the book within the limit ran out
    assert pos.deal_id not in h.eng.contracts.positions or not (book.bids if side == LONG else book.asks).prices
    assert h.eng.ledger.covered == {}
    assert all(v >= 0 for v in h.eng.contracts.insurance.values())
    assert h.eng.check() == []
