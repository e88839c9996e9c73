"""Time in force and post-only on live venues (issue 13, item 1).

- The fake Binance spot checks what Binance checks (``timeInForce`` GTC/IOC/FOK on LIMIT, none on
  LIMIT_MAKER, a LIMIT_MAKER that would match refused with -2010) and matches IOC/FOK at once against
  its synthetic levels, the rest EXPIRED; ccxt 4.5.90 sends our unified params as Binance wants them.
- The engine records a live order's time in force where the venue takes it (``engine.live.TIME_IN_FORCE``:
  BINANCE spot, and any venue in paper mode) and refuses it elsewhere (40006 naming ``time_in_force``).
- The live desk sends it through ccxt to the fake Binance and journals what comes back: an IOC/FOK the
  venue expired ends 15 or 14 with its fills, a post-only that would take is REJECTED with 42004.
- The paper desk decides IOC, FOK and post-only in an order's first round.
"""

from __future__ import annotations

import asyncio
from typing import Any

import ccxt.async_support as ccxt
import pytest
from tests.fakevenue.testing import (
    FUNDS,
    STREAM_WAIT,
    SYMBOL,
    Session,
    StaticBook,
    pending,
    sent_orders,
    until,
    venue_session,
)

from ceres.domain import commands as C
from ceres.domain.enums import AccountType, OrderStatus, ReportKind, TimeInForce
from ceres.domain.errors import ErrorCode
from ceres.domain.events import FillEvent, OrderEvent
from ceres.venues.live.desk import Desk, refusal, time_in_force_params
from ceres.venues.live.paper import PaperDesk
from engine_helpers import BINANCE_SPOT as BINANCE
from engine_helpers import USDT, Harness, btc_usdt_harness

OKEX = C.DefineInstrument("OKEX", "BTC/USDT", "BTC", "USDT", "0.1", "0.00001", "0.1", "0.00001", "0.001", "0.001",
                          8, 8)
PERP = C.DefineInstrument("BINANCE", "BTC/USDT:USDT", "BTC", "USDT", "0.1", "0.001", "0.1", "0.001", "0.0002",
                          "0.0004", 8, 8, kind=3, contract_value="1", max_lever=100, maint_margin="0.004")
GTC, IOC, FOK, POST_ONLY = (int(TimeInForce.GTC), int(TimeInForce.IOC), int(TimeInForce.FOK),
                            int(TimeInForce.POST_ONLY))
SPOT, SETTLEMENT = int(AccountType.SPOT), int(AccountType.SETTLEMENT)
WOULD_TAKE = "42004 post-only order would take liquidity"


@pytest.fixture
def h():
    harness = btc_usdt_harness()
    harness.apply(BINANCE)
    harness.eng.take_events()
    yield harness
    harness.verify()


def order_place(exchange: str = "BINANCE", contract: str = "BTC/USDT", side: int = 1, price: int = 3_001_500,
                vol: int = 1000, tif: int = 0, **kw: Any) -> C.Place:
    """alice's limit order; ``vol`` in lots of 0.00001 BTC, ``price`` in ticks of 0.01 USDT."""
    return C.Place("alice", exchange, contract, side, 1, price, vol, tif=tif, **kw)


def events(h: Harness) -> list[tuple[int, int, str]]:
    return [(ev.kind, ev.status, ev.reason) for ev in h.eng.take_events() if isinstance(ev, OrderEvent)]


# -- the fake Binance through ccxt -------------------------------------------------------------------
async def test_ioc_takes_the_levels_within_its_limit_and_the_rest_expires():
    async with venue_session("binance", FUNDS) as s:
        await s.fake.control.set_book("BTCUSDT", asks=[("30010", "0.004"), ("30020", "0.01")])
        placed = await s.exchange.create_order(SYMBOL, "limit", "buy", "0.01", "30015",
                                               {"clientOrderId": "cer1", "timeInForce": "IOC"})
        sent = (await sent_orders(s))[0]
        assert (sent["type"], sent["timeInForce"]) == ("LIMIT", "IOC")
        assert (placed["status"], placed["filled"], placed["timeInForce"]) == ("expired", "0.00400000", "IOC")
        assert placed["info"]["fills"][0]["price"] == "30010.00000000"
        trades = await s.exchange.fetch_my_trades(SYMBOL)
        assert [(t["order"], t["price"], t["amount"], t["takerOrMaker"]) for t in trades] == [
            (placed["id"], "30010.00000000", "0.00400000", "taker")]
        assert (await s.exchange.fetch_order(placed["id"], SYMBOL))["status"] == "expired"
        # paid 120.04 at the level's price, nothing left frozen; the level it emptied is gone
        assert await s.fake.control.balances(s.key) == {"BTC": {"free": "0.503996", "locked": "0"},
                                                        "USDT": {"free": "879.96", "locked": "0"}}
        book = await s.exchange.fetch_order_book(SYMBOL)
        assert [a[0] for a in book["asks"]] == [30020.0]
        assert await s.exchange.fetch_open_orders(SYMBOL) == []

        nothing = await s.exchange.create_order(SYMBOL, "limit", "sell", "0.001", "31000",
                                                {"clientOrderId": "cer2", "timeInForce": "IOC"})
        assert (nothing["status"], nothing["filled"]) == ("expired", "0.00000000")  # no bid at all


async def test_fok_fills_whole_or_expires_with_nothing():
    async with venue_session("binance", FUNDS) as s:
        await s.fake.control.set_book("BTCUSDT", bids=[("29990", "0.002"), ("29980", "0.002")])
        killed = await s.exchange.create_order(SYMBOL, "limit", "sell", "0.005", "29980",
                                               {"clientOrderId": "cer1", "timeInForce": "FOK"})
        assert (killed["status"], killed["filled"]) == ("expired", "0.00000000")
        assert await s.exchange.fetch_my_trades(SYMBOL) == []
        assert await s.fake.control.balances(s.key) == {"BTC": {"free": "0.5", "locked": "0"},
                                                        "USDT": {"free": "1000", "locked": "0"}}
        filled = await s.exchange.create_order(SYMBOL, "limit", "sell", "0.003", "29980",
                                               {"clientOrderId": "cer2", "timeInForce": "FOK"})
        assert (filled["status"], filled["filled"]) == ("closed", "0.00300000")
        trades = await s.exchange.fetch_my_trades(SYMBOL)
        assert [(t["price"], t["amount"]) for t in trades] == [("29990.00000000", "0.00200000"),
                                                               ("29980.00000000", "0.00100000")]


async def test_post_only_is_limit_maker_refused_when_it_would_take():
    async with venue_session("binance", FUNDS) as s:
        await s.fake.control.set_book("BTCUSDT", asks=[("30010", "0.004")])
        with pytest.raises(ccxt.OrderImmediatelyFillable, match=r"-2010|would immediately match and take"):
            await s.exchange.create_order(SYMBOL, "limit", "buy", "0.01", "30010",
                                          {"clientOrderId": "cer1", "postOnly": True})
        sent = (await sent_orders(s))[0]
        assert sent["type"] == "LIMIT_MAKER" and "timeInForce" not in sent
        assert await s.fake.control.orders() == []
        assert (await s.fake.control.balances(s.key))["USDT"] == {"free": "1000", "locked": "0"}
        resting = await s.exchange.create_order(SYMBOL, "limit", "buy", "0.01", "30000",
                                                {"clientOrderId": "cer2", "postOnly": True})
        assert (resting["status"], resting["postOnly"], resting["info"]["type"]) == ("open", True, "LIMIT_MAKER")
        # a resting order of the account counts too: a sell through it would take
        with pytest.raises(ccxt.OrderImmediatelyFillable):
            await s.exchange.create_order(SYMBOL, "limit", "sell", "0.001", "29000",
                                          {"clientOrderId": "cer3", "postOnly": True})


async def test_the_venues_own_checks_of_type_and_time_in_force():
    async with venue_session("binance", FUNDS) as s:
        with pytest.raises(ccxt.BadRequest, match="-1115"):  # Binance spot has no GTX
            await s.exchange.create_order(SYMBOL, "limit", "buy", "0.001", "20000", {"timeInForce": "GTX"})
        with pytest.raises(ccxt.BadRequest, match=r"-1106.*timeInForce"):  # LIMIT_MAKER takes none
            await s.exchange.create_order(SYMBOL, "limit", "buy", "0.001", "20000",
                                          {"postOnly": True, "timeInForce": "GTC"})
        base = {"symbol": "BTCUSDT", "side": "BUY", "quantity": "0.001", "price": "20000"}
        with pytest.raises(ccxt.BadRequest, match=r"-1102.*timeInForce"):  # LIMIT needs one
            await s.exchange.private_post_order(base | {"type": "LIMIT"})
        with pytest.raises(ccxt.BadRequest, match="-1116"):
            await s.exchange.private_post_order(base | {"type": "LIMIT_TAKER"})
        with pytest.raises(ccxt.InvalidOrder):  # ccxt refuses it before sending
            await s.exchange.create_order(SYMBOL, "limit", "buy", "0.001", "20000",
                                          {"postOnly": True, "timeInForce": "IOC"})
        assert await s.fake.control.orders() == []


async def test_the_stream_reports_an_ioc_new_trade_then_expired():
    async with venue_session("binance", FUNDS, streams=True) as s:
        await s.fake.control.set_book("BTCUSDT", asks=[("30010", "0.004")])

        def subscribed() -> bool:
            return int(s.fake.venue.ws_state()["subscriptions"].get("/ws-api/v3", 0)) > 0

        watch = await pending(s, s.exchange.watch_orders(SYMBOL), f"orders:{SYMBOL}", subscribed)
        placed = await s.exchange.create_order(SYMBOL, "limit", "buy", "0.01", "30015",
                                               {"clientOrderId": "cer1", "timeInForce": "IOC"})
        await asyncio.wait_for(watch, STREAM_WAIT)  # NEW; the rest follows in the same burst

        def ended() -> list[dict[str, Any]]:
            return [o for o in s.exchange.orders or [] if o["status"] == "expired"]

        await until(lambda: bool(ended()))
        (last,) = ended()  # ccxt's order cache, as watch_orders merged the events
        assert (last["id"], last["filled"], last["info"]["x"], last["info"]["X"], last["info"]["f"]) == (
            placed["id"], "0.00400000", "EXPIRED", "EXPIRED", "IOC")


# -- the engine's table --------------------------------------------------------------------------
def test_the_engine_records_a_binance_spot_orders_time_in_force(h) -> None:
    for tif, recorded in ((0, 0), (GTC, 0), (IOC, IOC), (FOK, FOK), (POST_ONLY, POST_ONLY)):
        oid = h.apply(order_place(tif=tif, stp=1))  # stp: the venue's own, ignored
        assert h.eng.live_orders[oid].spec.tif == recorded  # 0 keeps meaning GTC (as in older journals)
        assert h.eng.live_orders[oid].spec.stp == 0


def test_a_live_orders_time_in_force_survives_a_snapshot(h) -> None:
    from engine_helpers import restored_copy

    ids = {tif: h.apply(order_place(tif=tif)) for tif in (GTC, IOC, FOK, POST_ONLY)}
    twin = restored_copy(h.eng, h.instruments, h.currencies)
    assert {tif: twin.live_orders[oid].spec.tif for tif, oid in ids.items()} == {
        GTC: 0, IOC: IOC, FOK: FOK, POST_ONLY: POST_ONLY}


def test_other_venues_and_binance_perpetuals_refuse_another_time_in_force(h) -> None:
    h.apply(OKEX)
    h.apply(PERP)
    for cmd in (order_place("OKEX", tif=IOC), order_place("OKEX", tif=POST_ONLY),
                order_place("BINANCE", "BTC/USDT:USDT", tif=FOK, price=300_150, vol=10, future_dir=1, lever=5)):
        err = h.reject(cmd)
        assert (err.error, err.field) == (ErrorCode.INVALID_VALUE, "time_in_force"), err
        assert "GTC only" in err.message and "BINANCE spot" in err.message
    assert "OKEX" in h.reject(order_place("OKEX", tif=IOC)).message
    assert h.apply(order_place("OKEX", tif=GTC, price=300_150)) in h.eng.live_orders  # GTC: as before
    err = h.reject(order_place(tif=9))
    assert (err.error, err.field) == (ErrorCode.INVALID_VALUE, "time_in_force")
    err = h.reject(C.Place("alice", "BINANCE", "BTC/USDT", 1, 2, 0, 1000, tif=IOC))  # market: not on live venues
    assert err.field == "price_type"


def test_a_venue_in_paper_mode_takes_every_time_in_force(h) -> None:
    h.apply(OKEX)
    h.apply(C.SetPaperVenue("OKEX", True))
    h.apply(C.Deposit("alice", "USDT", 1000 * USDT))
    h.apply(C.Transfer("alice", "USDT", 1000 * USDT, SETTLEMENT, SPOT, "OKEX"))
    oid = h.apply(order_place("OKEX", price=300_150, tif=FOK))
    assert h.eng.live_orders[oid].spec.tif == FOK


def test_the_desks_ccxt_params_and_the_post_only_refusal_reason() -> None:
    assert [time_in_force_params(t) for t in (0, GTC, IOC, FOK, POST_ONLY)] == [
        {}, {}, {"timeInForce": "IOC"}, {"timeInForce": "FOK"}, {"postOnly": True}]
    took = ccxt.OrderImmediatelyFillable("binance Order would immediately match and take.")
    assert refusal(took, post_only=True) == f"{WOULD_TAKE} (OrderImmediatelyFillable)"
    assert refusal(took).startswith("42003 ")  # not a post-only order: the venue refused it, no more
    assert refusal(ccxt.InsufficientFunds("x"), post_only=True).startswith("41001 ")


# -- the live desk against the fake Binance --------------------------------------------------------
def live_desk(h: Harness, s: Session) -> Desk:
    async def submit(cmd: C.Command) -> Any:
        return h.apply(cmd)

    async def client(product: str) -> Any:
        return s.exchange

    async def call(coro: Any) -> Any:
        return await coro

    return Desk("BINANCE", h.eng, submit, client, call)


async def test_the_live_desk_ioc_fok_and_post_only_on_the_fake_binance(h) -> None:
    async with venue_session("binance", FUNDS) as s:
        await s.fake.control.set_book("BTCUSDT", bids=[("29990", "0.01")], asks=[("30010", "0.004"),
                                                                                ("30020", "0.01")])
        desk = live_desk(h, s)
        ioc = h.apply(order_place(tif=IOC))  # 0.01 at 30015: takes 0.004 at 30010
        fok = h.apply(order_place(tif=FOK, price=3_002_000, vol=2000))  # 0.02: the asks hold 0.01 (after the IOC)
        nothing = h.apply(order_place(side=2, price=3_100_000, vol=100, tif=IOC))  # no bid that high
        post = h.apply(order_place(tif=POST_ONLY, price=3_002_000, vol=100))  # crosses 30020
        rests = h.apply(order_place(tif=POST_ONLY, price=2_900_000, vol=100))
        h.eng.take_events()
        for oid in (ioc, fok, nothing, post, rests):
            await desk.send(oid)
        # ended at once from the venue's answer: nothing filled (FOK, IOC), or refused (post-only)
        assert nothing not in h.eng.live_orders and fok not in h.eng.live_orders and post not in h.eng.live_orders
        assert h.eng.live_orders[ioc].status == OrderStatus.SUBMITTED  # its fills first
        await desk.poll()
        assert ioc not in h.eng.live_orders
        assert h.eng.live_orders[rests].status == OrderStatus.SUBMITTED
        evs = [ev for ev in h.eng.take_events() if isinstance(ev, OrderEvent | FillEvent)]
        ends = {ev.spec.oid: (ev.kind, ev.status, ev.reason) for ev in evs if isinstance(ev, OrderEvent)}
        assert ends[ioc] == (ReportKind.EXPIRED, OrderStatus.PART_CANCELED, "")
        assert ends[fok] == ends[nothing] == (ReportKind.EXPIRED, OrderStatus.CANCELED, "")
        assert ends[post] == (ReportKind.REJECTED, OrderStatus.FAILURE, f"{WOULD_TAKE} (OrderImmediatelyFillable)")
        assert [(ev.spec.oid, ev.lots, ev.price) for ev in evs if isinstance(ev, FillEvent)] == [(ioc, 400, 3_001_000)]
        sent = {o["newClientOrderId"]: o for o in await sent_orders(s)}
        assert (sent[f"cer{ioc}"]["timeInForce"], sent[f"cer{fok}"]["timeInForce"]) == ("IOC", "FOK")
        assert sent[f"cer{rests}"]["type"] == "LIMIT_MAKER" and "timeInForce" not in sent[f"cer{rests}"]
        assert [o["clientOrderId"] for o in await s.exchange.fetch_open_orders(SYMBOL)] == [f"cer{rests}"]


# -- the paper desk --------------------------------------------------------------------------------
class Journal:
    """The paper desk's ``submit``: applies each report and keeps them in batches, a batch being
    what was submitted in one pass of the event loop (what the sequencer puts in one frame)."""

    def __init__(self, h: Harness) -> None:
        self.h = h
        self.batches: list[list[int]] = []
        self._open = False

    async def submit(self, cmd: C.Command) -> Any:
        if not self._open:
            self._open = True
            self.batches.append([])
            asyncio.get_running_loop().call_soon(setattr, self, "_open", False)
        assert isinstance(cmd, C.VenueReport)
        self.batches[-1].append(cmd.kind)
        result = self.h.apply(cmd)
        await asyncio.sleep(0)
        return result


@pytest.fixture
def paper(h):
    h.apply(C.SetPaperVenue("BINANCE", True))
    h.apply(C.Deposit("alice", "USDT", 1000 * USDT))
    h.apply(C.Transfer("alice", "USDT", 1000 * USDT, SETTLEMENT, SPOT, "BINANCE"))
    h.apply(C.Deposit("alice", "BTC", 10**8))
    h.apply(C.Transfer("alice", "BTC", 10**8, SETTLEMENT, SPOT, "BINANCE"))
    h.eng.take_events()
    book, journal = StaticBook(), Journal(h)
    return h, book, PaperDesk("BINANCE", h.eng, journal.submit, book.read), journal


def paper_place(h: Harness, desk: PaperDesk, **kw: Any) -> int:
    oid = h.apply(order_place(**kw))
    asyncio.run(desk.send(oid))
    return oid


def test_paper_ioc_takes_its_first_round_and_the_rest_expires(paper) -> None:
    h, book, desk, _ = paper
    book.asks = [("30010", "0.004"), ("30020", "0.01")]
    oid = paper_place(h, desk, tif=IOC)
    assert h.eng.live_orders[oid].status == OrderStatus.SUBMITTING  # acknowledged in its round, with its outcome
    asyncio.run(desk.round())
    assert oid not in h.eng.live_orders
    assert events(h) == [(ReportKind.WAITING, OrderStatus.SUBMITTING, ""),
                         (ReportKind.ACCEPTED, OrderStatus.SUBMITTED, ""),
                         (ReportKind.FILL, OrderStatus.PART_FILLED, ""),
                         (ReportKind.EXPIRED, OrderStatus.PART_CANCELED, "")]
    assert h.bal("alice", "USDT", exchange="BINANCE") == (1000 * USDT - 120_04_000_000, 0)  # 0.004 x 30010


def test_paper_fok_fills_whole_in_its_first_round_or_expires_with_nothing(paper) -> None:
    h, book, desk, _ = paper
    book.bids = [("29990", "0.002"), ("29980", "0.002")]
    killed = paper_place(h, desk, side=2, price=2_998_000, vol=500, tif=FOK)
    asyncio.run(desk.round())
    assert killed not in h.eng.live_orders
    assert [e[:2] for e in events(h)][-1] == (ReportKind.EXPIRED, OrderStatus.CANCELED)
    assert h.bal("alice", "BTC", exchange="BINANCE") == (10**8, 0)  # released
    filled = paper_place(h, desk, side=2, price=2_998_000, vol=300, tif=FOK)
    asyncio.run(desk.round())
    assert filled not in h.eng.live_orders
    fills = [(ev.lots, ev.price) for ev in h.eng.take_events() if isinstance(ev, FillEvent)]
    assert fills == [(200, 2_999_000), (100, 2_998_000)]


def test_paper_post_only_is_rejected_if_it_would_take_else_rests_as_a_maker(paper) -> None:
    h, book, desk, _ = paper
    book.asks = [("30010", "0.004")]
    took = paper_place(h, desk, tif=POST_ONLY, price=3_001_000)
    asyncio.run(desk.round())
    assert took not in h.eng.live_orders
    assert events(h)[-1] == (ReportKind.REJECTED, OrderStatus.FAILURE, WOULD_TAKE)
    assert h.bal("alice", "USDT", exchange="BINANCE") == (1000 * USDT, 0)
    rests = paper_place(h, desk, tif=POST_ONLY, price=3_000_000, vol=100)
    asyncio.run(desk.round())
    assert h.eng.live_orders[rests].status == OrderStatus.SUBMITTED
    book.asks = [("29990", "0.004")]  # the venue's book moves through it: filled at its own limit
    asyncio.run(desk.round())
    assert rests not in h.eng.live_orders
    assert [(ev.lots, ev.price) for ev in h.eng.take_events() if isinstance(ev, FillEvent)] == [(100, 3_000_000)]


def test_paper_first_round_reports_are_submitted_together(paper) -> None:
    h, book, desk, journal = paper
    book.asks = [("30010", "0.004"), ("30012", "0.001")]
    paper_place(h, desk, tif=IOC)
    journal.batches.clear()
    asyncio.run(desk.round())
    assert journal.batches == [[ReportKind.ACCEPTED, ReportKind.FILL, ReportKind.FILL, ReportKind.EXPIRED]]


def test_paper_orders_left_open_by_a_restart(paper) -> None:
    """An IOC that was acknowledged had its round: it ends; one never acknowledged, or a post-only
    one, gets its first round when the desk starts."""
    h, book, _, journal = paper
    book.asks = [("30010", "0.004")]
    had_round = h.apply(order_place(tif=IOC))
    h.apply(C.VenueReport("BINANCE", had_round, int(ReportKind.ACCEPTED), venue_oid=f"paper{had_round}"))
    never = h.apply(order_place(tif=IOC, vol=100))
    post = h.apply(order_place(tif=POST_ONLY, price=3_001_000, vol=100))
    h.eng.take_events()
    restarted = PaperDesk("BINANCE", h.eng, journal.submit, book.read, interval_s=60)

    async def start_and_stop() -> None:
        restarted.start()
        while restarted._orders():  # noqa: ASYNC110 (the desk's own loop ends them)
            await asyncio.sleep(0.01)
        await restarted.close()

    asyncio.run(asyncio.wait_for(start_and_stop(), 5))
    ends = {ev.spec.oid: (ev.kind, ev.status) for ev in h.eng.take_events() if isinstance(ev, OrderEvent)}
    assert ends[had_round] == (ReportKind.EXPIRED, OrderStatus.CANCELED)  # nothing taken after its round
    assert ends[never] == (ReportKind.FILL, OrderStatus.FILLED)
    assert ends[post] == (ReportKind.REJECTED, OrderStatus.FAILURE)
