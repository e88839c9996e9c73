"""Order lifetime: time in force decides whether what is left rests or ends, the same way
for spot and contracts; every order event says what happened (accepted, fill, cancelled,
expired); a command refused after it started changing state is an engine fault."""

from __future__ import annotations

import msgspec
import pytest

from ceres.domain import commands as C
from ceres.domain.enums import ReportKind, TimeInForce
from ceres.domain.errors import CeresError, ErrorCode
from ceres.engine import spot
from ceres.engine.core import EngineFault
from engine_helpers import BTC, BUY, LIMIT, MARKET, SELL, USDT, btc_usdt_harness

GTC, IOC, FOK = int(TimeInForce.GTC), int(TimeInForce.IOC), int(TimeInForce.FOK)
ACCEPTED, FILL, CANCELLED, EXPIRED = (int(ReportKind.ACCEPTED), int(ReportKind.FILL),
                                      int(ReportKind.CANCELLED), int(ReportKind.EXPIRED))
P = 3_000_000  # 30000.00


def place(h, who: str, side: int, price: int, vol: int, tif: int = 0, ptype: int = LIMIT) -> int:
    return h.apply(C.Place(who, "TEST", "BTC/USDT", side, ptype, price, vol, "", 0, 1, 0, 0, 0, 0, tif))


def kinds(h, oid: int) -> list[tuple[int, int]]:
    """(kind, status) of every event of ``oid``."""
    return [(e.kind, e.status) for e in h.order_events() if e.spec.oid == oid]


@pytest.fixture
def book(h):
    """bob offers 0.2 BTC at 30000 and 0.3 at 30001; alice has USDT to buy."""
    h.fund("bob", "BTC", 10 * BTC)
    h.fund("alice", "USDT", 100_000 * USDT)
    place(h, "bob", SELL, P, 2000)
    place(h, "bob", SELL, P + 1, 3000)
    h.eng.take_events()
    return h


def test_no_time_in_force_rests_a_limit_order_gtc(h):
    h.fund("alice", "USDT", 100_000 * USDT)
    oid = place(h, "alice", BUY, P, 1000)
    assert kinds(h, oid) == [(ACCEPTED, 3)]
    assert h.eng.open_orders[oid].tif == GTC
    assert h.resting() == [(oid, BUY, P, 1000)]


def test_ioc_fills_what_it_can_and_the_rest_expires(book):
    h = book
    oid = place(h, "alice", BUY, P, 5000, IOC)  # only 2000 at 30000
    assert kinds(h, oid) == [(ACCEPTED, 3), (FILL, 4), (EXPIRED, 14)]
    assert oid not in h.eng.open_orders
    assert h.bal("alice", "USDT")[1] == 0  # nothing stays frozen
    assert [r[2] for r in h.resting()] == [P + 1]


def test_ioc_with_nothing_to_match_expires_unfilled(book):
    h = book
    oid = place(h, "alice", BUY, P - 5, 1000, IOC)
    assert kinds(h, oid) == [(ACCEPTED, 3), (EXPIRED, 15)]
    assert h.bal("alice", "USDT") == (100_000 * USDT, 0)


def test_fok_that_the_book_can_fill_fills_completely(book):
    h = book
    oid = place(h, "alice", BUY, P + 1, 4000, FOK)
    assert kinds(h, oid)[-1] == (FILL, 5)
    assert [t.lots for t in h.trades()] == [2000, 2000]


def test_fok_that_the_book_cannot_fill_does_not_trade_at_all(book):
    h = book
    before = h.resting()
    oid = place(h, "alice", BUY, P + 1, 6000, FOK)  # 5000 within the limit
    assert kinds(h, oid) == [(ACCEPTED, 3), (EXPIRED, 15)]
    assert h.trades() == [] and h.resting() == before
    assert h.bal("alice", "USDT") == (100_000 * USDT, 0)
    oid = place(h, "alice", BUY, P, 3000, FOK)  # 2000 within this tighter limit
    assert kinds(h, oid)[-1] == (EXPIRED, 15)


def test_a_market_order_is_ioc_and_a_market_sell_may_be_fok(book):
    h = book
    h.fund("alice", "BTC", BTC)
    oid = place(h, "alice", SELL, 0, 1000, 0, MARKET)  # no bids: ends at once
    assert kinds(h, oid) == [(ACCEPTED, 3), (EXPIRED, 15)]
    h.fund("carol", "USDT", 100_000 * USDT)
    place(h, "carol", BUY, P - 50, 1500)
    oid = place(h, "alice", SELL, 0, 2000, FOK, MARKET)  # 1500 bid: not all of it
    assert kinds(h, oid) == [(ACCEPTED, 3), (EXPIRED, 15)]
    oid = place(h, "alice", SELL, 0, 1500, FOK, MARKET)
    assert kinds(h, oid)[-1] == (FILL, 5)


@pytest.mark.parametrize(("ptype", "side", "tif", "why"), [
    (MARKET, BUY, GTC, "cannot rest"),
    (MARKET, SELL, GTC, "cannot rest"),
    (MARKET, BUY, FOK, "quote amount"),
    (LIMIT, BUY, 9, "GTC, IOC or FOK"),
    (MARKET, SELL, 9, "GTC, IOC or FOK"),
])
def test_a_time_in_force_that_cannot_apply_is_refused(book, ptype, side, tif, why):
    h = book
    h.fund("alice", "BTC", BTC)
    err = h.reject(C.Place("alice", "TEST", "BTC/USDT", side, ptype, P if ptype == LIMIT else 0,
                           1000 if side == SELL or ptype == LIMIT else 100 * USDT, "", 0, 1, 0, 0, 0, 0, tif))
    assert err.error is ErrorCode.INVALID_VALUE and err.field == "time_in_force" and why in err.message


def test_cancel_reports_cancelled(book):
    h = book
    oid = place(h, "alice", BUY, P - 10, 1000)
    h.cancel("alice", oid)
    assert kinds(h, oid) == [(ACCEPTED, 3), (CANCELLED, 15)]


def test_contract_orders_follow_the_same_lifetime(make_harness):
    from contract_helpers import contract_harness

    h = make_harness(contract_harness)
    ask = h.place_c("bob", SELL, 300_000, 10)
    buy = h.cmd("alice", BUY, 300_000, 25)
    oid = h.apply(msgspec.structs.replace(buy, tif=FOK))
    assert kinds(h, oid) == [(ACCEPTED, 3), (EXPIRED, 15)]  # only 10 offered
    assert h.cbal("alice")[1] == 0
    oid = h.apply(msgspec.structs.replace(buy, tif=IOC))
    assert kinds(h, oid) == [(ACCEPTED, 3), (FILL, 4), (EXPIRED, 14)]
    assert ask not in h.eng.open_orders and oid not in h.eng.open_orders
    (pos,) = h.positions("alice")
    assert pos.vol == 10 and h.cbal("alice")[1] == pos.margin  # only the position's margin stays frozen


def test_a_refusal_after_a_change_is_an_engine_fault_not_a_rejection(monkeypatch):
    """The engine decides before it changes anything; if code ever refused a command after
    changing state, apply must not pass that off as a clean rejection."""
    h = btc_usdt_harness()  # no end-of-test check: this engine is left broken on purpose
    h.fund("alice", "USDT", 100_000 * USDT)

    def refuse_late(state, order, book, settle):
        raise CeresError(ErrorCode.INSUFFICIENT_BALANCE, "refused after the order was accepted")

    monkeypatch.setattr(spot.matching, "execute", refuse_late)
    with pytest.raises(EngineFault, match="after it changed state"):
        place(h, "alice", BUY, P, 1000)
