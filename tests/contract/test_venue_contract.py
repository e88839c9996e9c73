"""The venue port's contract (``ceres.pipeline.venue``): what every venue must do.

Each test runs once per entry of ``VENUES`` and talks to the venue only through the
``Venue`` protocol, a ``VenueRegistry`` built from it and its report streams. An entry is
an async context manager that, given the test's temporary directory, yields a
:class:`VenueRig`: the venue, two funded products, a spot instrument with a price both can
trade at, and a contract instrument (None for a venue without contracts). ``TEST`` is the
simulated exchange of a real node (journal, sequencer, engine); a live venue would be one
more entry (on a test account, with prices far from its market for resting orders).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ceres.assembly import open_node
from ceres.config import load_config
from ceres.domain import commands as C
from ceres.domain.enums import AccountType, FutureDir, OrderStatus, PositionSide, PriceType, ReportKind, Side
from ceres.domain.errors import CeresError, ErrorCode
from ceres.domain.events import ExecutionReport
from ceres.domain.instruments import Instrument
from ceres.pipeline.dispatch import Dispatcher
from ceres.pipeline.venue import ReportsLost, ReportStream, Venue, VenueBalance, VenueRegistry
from ceres.venues.simulated import REPORT_LIMIT, ReportFeed, SimulatedVenue

WAIT = 5.0
BUY, SELL = int(Side.BUY), int(Side.SELL)
LIMIT, MARKET = int(PriceType.LIMIT), int(PriceType.MARKET)
SPOT_T, CONTRACT_T = int(AccountType.SPOT), int(AccountType.CONTRACT)
SUBMITTED, FILLED, CANCELED = int(OrderStatus.SUBMITTED), int(OrderStatus.FILLED), int(OrderStatus.CANCELED)
PART_FILLED = int(OrderStatus.PART_FILLED)
ACCEPTED, FILL, CANCELLED, EXPIRED = (int(k) for k in (ReportKind.ACCEPTED, ReportKind.FILL,
                                                        ReportKind.CANCELLED, ReportKind.EXPIRED))
UNKNOWN_OID = 123_456_789


# --- venues ---------------------------------------------------------------------------------
@dataclass
class VenueRig:
    venue: Venue
    submit: Callable[[C.Command], Awaitable[Any]]  # journaled commands (funding)
    products: tuple[str, str]
    spot: Instrument
    spot_price: int  # ticks
    contract: Instrument | None
    contract_price: int  # ticks

    def order(self, product: str, inst: Instrument, side: int, price: int, vol: int, *,
              fdir: int = 0, lever: int = 1) -> C.Place:
        """A limit order at ``price`` ticks (0: a market order) for ``vol`` lots."""
        return C.Place(product, inst.exchange, inst.contract, side, LIMIT if price else MARKET, price, vol,
                       future_dir=fdir, lever=lever)

    async def balance(self, product: str, currency: str, account_type: int = SPOT_T) -> VenueBalance | None:
        rows = [b for b in await self.venue.balances(product)
                if b.account_type == account_type and b.currency == currency]
        assert len(rows) <= 1
        return rows[0] if rows else None

    async def frozen(self, product: str, currency: str, account_type: int = SPOT_T) -> int:
        row = await self.balance(product, currency, account_type)
        return row.frozen if row else 0


async def next_report(stream: ReportStream) -> ExecutionReport:
    return await asyncio.wait_for(anext(stream), WAIT)


async def reports_until(stream: ReportStream, pred: Callable[[ExecutionReport], bool],
                        count: int = 1) -> list[ExecutionReport]:
    """Read until ``count`` reports matched ``pred``; returns the matching ones."""
    found: list[ExecutionReport] = []
    while len(found) < count:
        report = await next_report(stream)
        if pred(report):
            found.append(report)
    return found


VenueFactory = Callable[..., AbstractAsyncContextManager[VenueRig]]
USDT, BTC = 10**8, 10**8  # minor units (8 decimals in the default configuration)


@asynccontextmanager
async def simulated_test_venue(tmp_path: Path, *, report_limit: int = REPORT_LIMIT) -> AsyncIterator[VenueRig]:
    """TEST, the engine's simulated exchange, in a node on a temporary data directory."""
    cfg = load_config(env={}, overrides={"demo": {"enabled": False}, "journal": {"fsync": False}})
    feed = ReportFeed(limit=report_limit)
    node, _ = open_node(cfg, tmp_path / "data", Dispatcher([feed.subscription()]))
    try:
        products = ("alice", "bob")
        setup: list[C.Command] = []
        for name in products:
            setup += [C.CreateProduct(name),
                      C.Deposit(name, "USDT", 200_000 * USDT), C.Deposit(name, "BTC", 10 * BTC),
                      C.Transfer(name, "USDT", 100_000 * USDT, 2, SPOT_T, "TEST"),
                      C.Transfer(name, "BTC", 10 * BTC, 2, SPOT_T, "TEST"),
                      C.Transfer(name, "USDT", 100_000 * USDT, 2, CONTRACT_T, "TEST")]
        await asyncio.gather(*(node.submit(cmd) for cmd in setup))
        venue = SimulatedVenue("TEST", node.engine, node.submit, feed)
        yield VenueRig(venue, node.submit, products,
                       spot=venue.instrument("BTC/USDT"), spot_price=3_000_000,  # 30000.00
                       contract=venue.instrument("BTCUSDT_PERP"), contract_price=300_000)  # 30000.0
    finally:
        await node.close()


VENUES: dict[str, VenueFactory] = {
    "TEST": simulated_test_venue,
}


@pytest.fixture(params=sorted(VENUES))
async def rig(request, tmp_path) -> AsyncIterator[VenueRig]:
    async with VENUES[request.param](tmp_path) as r:
        yield r


@pytest.fixture(params=sorted(VENUES))
async def tight_rig(request, tmp_path) -> AsyncIterator[VenueRig]:
    """The venue with report streams cut off past 3 unread reports."""
    async with VENUES[request.param](tmp_path, report_limit=3) as r:
        yield r


# --- instruments ----------------------------------------------------------------------------
async def test_instruments(rig):
    venue = rig.venue
    instruments = venue.instruments()
    assert instruments
    assert all(i.exchange == venue.exchange for i in instruments)
    assert all(venue.instrument(i.contract) == i for i in instruments)
    assert rig.spot in instruments
    with pytest.raises(CeresError) as info:
        venue.instrument("NOPE")
    assert info.value.error is ErrorCode.UNKNOWN_CONTRACT


# --- orders ---------------------------------------------------------------------------------
async def test_a_resting_order_is_accepted_open_and_funded(rig):
    venue, (alice, bob), inst = rig.venue, rig.products, rig.spot
    stream = venue.reports()
    assert await rig.frozen(alice, inst.quote) == 0
    cmd = rig.order(alice, inst, BUY, rig.spot_price, 10)
    oid = await venue.place(cmd)
    assert isinstance(oid, int)

    state = await venue.query(alice, oid)
    assert state is not None
    assert (state.status, state.filled) == (SUBMITTED, 0)
    assert (state.spec.oid, state.spec.product, state.spec.side, state.spec.price, state.spec.vol) == \
        (oid, alice, BUY, rig.spot_price, 10)
    assert await venue.query(bob, oid) is None  # another product's order is not visible
    assert await rig.frozen(alice, inst.quote) > 0

    report = await next_report(stream)
    assert (report.kind, report.oid, report.status, report.filled) == (ACCEPTED, oid, SUBMITTED, 0)
    assert (report.exchange, report.contract, report.product) == (venue.exchange, inst.contract, alice)


async def test_cancel_ends_the_order_and_releases_its_funds(rig):
    venue, alice, inst = rig.venue, rig.products[0], rig.spot
    before = await rig.balance(alice, inst.quote)
    stream = venue.reports()
    oid = await venue.place(rig.order(alice, inst, BUY, rig.spot_price, 10))
    assert (await next_report(stream)).kind == ACCEPTED

    result = await venue.cancel(alice, (oid,))
    assert result.ok == [oid] and result.failed == []
    assert await venue.query(alice, oid) is None
    assert await rig.balance(alice, inst.quote) == before  # frozen back to 0, nothing spent
    report = await next_report(stream)
    assert (report.kind, report.oid, report.status) == (CANCELLED, oid, CANCELED)


async def test_a_crossing_pair_fills_both_sides(rig):
    venue, (alice, bob), inst = rig.venue, rig.products, rig.spot
    base_before = {p: (await rig.balance(p, inst.base)).total for p in (alice, bob)}
    stream = venue.reports()
    maker = await venue.place(rig.order(alice, inst, SELL, rig.spot_price, 10))
    taker = await venue.place(rig.order(bob, inst, BUY, rig.spot_price, 10))

    fills = {r.oid: r for r in await reports_until(stream, lambda r: r.kind == FILL, count=2)}
    assert fills.keys() == {maker, taker}
    assert (fills[maker].product, fills[taker].product) == (alice, bob)
    for r in fills.values():
        assert (r.lots, r.price, r.contract, r.exchange) == (10, rig.spot_price, inst.contract, venue.exchange)
    assert fills[maker].tid == fills[taker].tid != 0
    assert (fills[maker].fee > 0) == (inst.maker_rate > 0)
    assert (fills[taker].fee > 0) == (inst.taker_rate > 0)

    assert await venue.query(alice, maker) is None
    assert await venue.query(bob, taker) is None
    assert (await rig.balance(alice, inst.base)).total < base_before[alice]
    assert (await rig.balance(bob, inst.base)).total > base_before[bob]


async def test_fill_reports_carry_the_orders_state_after_the_fill(rig):
    venue, (alice, bob), inst = rig.venue, rig.products, rig.spot
    stream = venue.reports()
    maker = await venue.place(rig.order(alice, inst, SELL, rig.spot_price, 10))
    first = await venue.place(rig.order(bob, inst, BUY, rig.spot_price, 4))
    second = await venue.place(rig.order(bob, inst, BUY, rig.spot_price, 6))
    fills = [(r.oid, r.status, r.filled, r.lots) for r in await reports_until(stream, lambda r: r.kind == FILL, 4)]
    assert fills == [(maker, PART_FILLED, 4, 4), (first, FILLED, 4, 4), (maker, FILLED, 10, 6), (second, FILLED, 6, 6)]


async def test_a_market_order_with_nothing_to_trade_against_expires(rig):
    venue, alice, inst = rig.venue, rig.products[0], rig.spot
    before = await venue.balances(alice)
    stream = venue.reports()
    oid = await venue.place(rig.order(alice, inst, SELL, 0, 10))
    [report] = await reports_until(stream, lambda r: r.oid == oid and r.kind != ACCEPTED)
    assert (report.kind, report.status, report.filled) == (EXPIRED, CANCELED, 0)
    assert await venue.query(alice, oid) is None
    assert await venue.balances(alice) == before  # holds nothing, spent nothing


async def test_a_placement_it_cannot_fund_is_refused_and_changes_nothing(rig):
    venue, alice, inst = rig.venue, rig.products[0], rig.spot
    before = await venue.balances(alice)
    quote = await rig.balance(alice, inst.quote)
    too_many = quote.total // inst.notional(1, rig.spot_price) + 1
    stream = venue.reports()
    with pytest.raises(CeresError) as info:
        await venue.place(rig.order(alice, inst, BUY, rig.spot_price, too_many))
    assert info.value.error is ErrorCode.INSUFFICIENT_BALANCE
    assert await venue.balances(alice) == before
    # no report for it: the next one is about the next order
    oid = await venue.place(rig.order(alice, inst, BUY, rig.spot_price, 1))
    report = await next_report(stream)
    assert (report.kind, report.oid) == (ACCEPTED, oid)


async def test_cancel_of_an_order_it_does_not_hold_fails_per_id(rig):
    venue, (alice, bob), inst = rig.venue, rig.products, rig.spot
    oid = await venue.place(rig.order(alice, inst, BUY, rig.spot_price, 10))
    result = await venue.cancel(bob, (UNKNOWN_OID, oid))  # oid is alice's, not bob's
    assert result.ok == []
    assert result.failed == [(UNKNOWN_OID, ErrorCode.ORDER_NOT_FOUND), (oid, ErrorCode.ORDER_NOT_FOUND)]
    assert (await venue.query(alice, oid)).status == SUBMITTED


# --- positions ------------------------------------------------------------------------------
async def test_crossing_opening_orders_open_positions(rig):
    if rig.contract is None:
        pytest.skip(f"{rig.venue.exchange} trades no contracts")
    venue, (alice, bob), inst = rig.venue, rig.products, rig.contract
    assert await venue.positions(alice) == [] and await venue.positions(bob) == []
    open_ = int(FutureDir.OPEN)
    await venue.place(rig.order(alice, inst, SELL, rig.contract_price, 10, fdir=open_, lever=10))
    await venue.place(rig.order(bob, inst, BUY, rig.contract_price, 10, fdir=open_, lever=10))
    [short] = await venue.positions(alice)
    [long] = await venue.positions(bob)
    assert (short.inst, short.side, short.vol) == (inst, int(PositionSide.SHORT), 10)
    assert (long.inst, long.side, long.vol) == (inst, int(PositionSide.LONG), 10)
    assert short.margin > 0 and long.margin > 0
    assert short.deal_id != long.deal_id


# --- the registry ---------------------------------------------------------------------------
async def test_a_registry_routes_to_the_venue(rig):
    venue, alice, inst = rig.venue, rig.products[0], rig.spot
    placed: dict[int, str] = {}
    registry = VenueRegistry([venue], locate=placed.get)
    assert registry.get(venue.exchange) is venue
    assert venue.exchange in registry and list(registry) == [venue]
    assert registry.instrument(venue.exchange, inst.contract) == inst
    with pytest.raises(CeresError) as info:
        registry.get("NOPE")
    assert info.value.error is ErrorCode.UNKNOWN_EXCHANGE

    oid = await registry.get(venue.exchange).place(rig.order(alice, inst, BUY, rig.spot_price, 10))
    placed[oid] = venue.exchange
    result = await registry.cancel(alice, (UNKNOWN_OID, oid))
    assert result.ok == [oid] and result.failed == [(UNKNOWN_OID, ErrorCode.ORDER_NOT_FOUND)]
    assert await venue.query(alice, oid) is None


# --- report streams -------------------------------------------------------------------------
async def test_a_reader_that_falls_behind_loses_its_stream(tight_rig):
    rig = tight_rig
    venue, alice, inst = rig.venue, rig.products[0], rig.spot
    lagging, steady = venue.reports(), venue.reports()
    oids = []
    for i in range(4):  # one more than the limit, never read from ``lagging``
        oids.append(await venue.place(rig.order(alice, inst, BUY, rig.spot_price - i, 1)))
        assert (await next_report(steady)).oid == oids[-1]  # a reader that keeps up is unaffected
    with pytest.raises(ReportsLost):
        await next_report(lagging)
    fresh = venue.reports()  # subscribe again (after reconciling)
    oid = await venue.place(rig.order(alice, inst, BUY, rig.spot_price - 9, 1))
    assert (await next_report(fresh)).oid == oid
    with pytest.raises(ReportsLost):  # the old stream is cut off for good: no later report
        await next_report(lagging)


async def test_a_closed_stream_ends_iteration(rig):
    venue, alice, inst = rig.venue, rig.products[0], rig.spot
    waiting = venue.reports()

    async def read_all(stream: ReportStream) -> list[ExecutionReport]:
        return [r async for r in stream]

    reader = asyncio.create_task(read_all(waiting))
    await asyncio.sleep(0)
    waiting.close()  # ends a reader that is waiting
    assert await asyncio.wait_for(reader, WAIT) == []
    closed = venue.reports()
    closed.close()
    open_ = venue.reports()
    oid = await venue.place(rig.order(alice, inst, BUY, rig.spot_price, 1))
    assert (await next_report(open_)).oid == oid  # a report was sent ...
    assert await asyncio.wait_for(read_all(closed), WAIT) == []  # ... but not to the closed stream
