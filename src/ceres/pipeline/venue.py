"""The venue port: one exchange behind the API, and the registry that routes to it.

A request's ``exchange`` names its venue; handlers look it up in the
:class:`VenueRegistry` (unknown: 40401) and talk to it through :class:`Venue`, shaped
after what a live exchange needs:

* ``instruments``/``instrument`` — what it trades and on which integer grid;
* ``place``/``cancel`` — state changes. They go through the sequencer as journaled
  commands (the intent is durable before anything else happens) and resolve with the
  result once durable. On TEST the engine matches inline; a live venue sends the durable
  intent to the exchange afterwards;
* ``query``, ``balances``, ``positions`` — the venue's view of one order, of the
  product's accounts at the venue (types 3 spot and 4 contract) and of its positions;
* ``reports`` — a stream of :class:`~ceres.domain.events.ExecutionReport` (accepted,
  rejected, fill, cancelled, expired). On TEST they are derived from the engine's
  durable events; a live venue builds them from the exchange's messages and they come
  back into the sequencer as journaled commands, so replay needs no network.

Every venue passes the same contract suite (``tests/contract``). Adding a venue is one
module in ``ceres.venues`` plus its configuration; the registry is built by the wiring.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from typing import Protocol

import msgspec

from ceres.domain import commands as C
from ceres.domain.enums import OrderStatus, ReportKind
from ceres.domain.errors import CeresError, ErrorCode
from ceres.domain.events import ExecutionReport, OrderEvent, OrderSpec
from ceres.domain.instruments import Instrument
from ceres.engine.core import CancelResult

PlaceResult = int | list[int]
CANCELING = int(OrderStatus.CANCELING)
SUBMITTING = int(OrderStatus.SUBMITTING)
WAITING = int(ReportKind.WAITING)


class OrderState(msgspec.Struct, frozen=True):
    """An order as the venue has it now: what it is and how far it got."""

    spec: OrderSpec
    status: int
    filled: int
    dealt: int
    commission: int


class VenueBalance(msgspec.Struct, frozen=True):
    """One currency of one of the product's accounts at a venue, in minor units of
    ``decimals`` (-1: the currency's configured decimals; a live venue says its own)."""

    account_type: int
    currency: str
    total: int
    frozen: int
    decimals: int = -1


class VenuePosition(msgspec.Struct, frozen=True):
    """A contract position (units as in ``engine.positions``: lots, settle minor units,
    ticks; ``mark`` None while the venue knows no mark price)."""

    deal_id: int
    inst: Instrument
    side: int
    vol: int
    cost: int
    margin: int
    force: int
    lever: int
    realized: int
    mark: int | None


class ReportsLost(Exception):
    """A report stream's reader fell too far behind; reports were dropped. Reconcile
    (query the orders) and subscribe again."""


class ReportStream:
    """An async iterator of one subscriber's reports, bounded: past ``limit`` unread
    reports it is cut off: it is closed, and every read from then on raises
    :class:`ReportsLost` (the subscriber reconciles and opens a new stream)."""

    def __init__(self, limit: int, on_close: Callable[[ReportStream], None]) -> None:
        self.limit = limit
        self._on_close = on_close
        self._queue: deque[ExecutionReport] = deque()
        self._ready = asyncio.Event()
        self.lost = False
        self.closed = False

    def push(self, reports: Iterable[ExecutionReport]) -> None:
        if self.closed or self.lost:
            return
        self._queue.extend(reports)
        if len(self._queue) > self.limit:
            self.lost = True
            self._queue.clear()
        self._ready.set()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._ready.set()
            self._on_close(self)

    def __aiter__(self) -> AsyncIterator[ExecutionReport]:
        return self

    async def __anext__(self) -> ExecutionReport:
        while not self._queue:
            if self.lost:
                self.close()
                raise ReportsLost(f"more than {self.limit} reports unread")
            if self.closed:
                raise StopAsyncIteration
            self._ready.clear()
            await self._ready.wait()
        return self._queue.popleft()


class Venue(Protocol):
    exchange: str

    def instruments(self) -> Sequence[Instrument]:
        """What it trades; VENUE_UNAVAILABLE while a live venue's markets are not known."""

    def instrument(self, contract: str) -> Instrument:
        """The instrument, or UNKNOWN_CONTRACT."""

    def place(self, cmd: C.Place) -> Awaitable[PlaceResult]:
        """The new order's id (or ids: a close spread over several positions), once the
        placement is durable; a CeresError if refused."""

    def cancel(self, product: str, ids: tuple[int, ...], reason: str = "") -> Awaitable[CancelResult]:
        """``reason`` (``"CODE text"``): why, when not the owner's request (shown on the orders)."""

    async def query(self, product: str, oid: int) -> OrderState | None:
        """The order if it is open at the venue, else None."""

    async def balances(self, product: str) -> list[VenueBalance]:
        """The product's balances at the venue: spot (type 3) then contract (type 4)
        rows, each by currency."""

    async def positions(self, product: str) -> list[VenuePosition]: ...

    def reports(self) -> ReportStream: ...


class VenueRegistry:
    """The venues by ``exchange`` name. ``locate(oid)`` names the venue of an open order
    (used to route a cancel, whose request has no ``exchange``); ``closed`` names exchanges
    that no longer exist, with the reason a request naming one is given."""

    def __init__(self, venues: Iterable[Venue], locate: Callable[[int], str | None],
                 closed: Mapping[str, str] | None = None) -> None:
        self._venues = {v.exchange: v for v in sorted(venues, key=lambda v: v.exchange)}
        self._locate = locate
        self._closed = dict(closed or {})
        # every request looks one up: one dict lookup for the instruments known at start
        # (a venue that lists more later is asked on a miss)
        self._known = {(i.exchange, i.contract): i for i in self.instruments()}

    def get(self, exchange: str) -> Venue:
        venue = self._venues.get(exchange)
        if venue is None:
            if exchange in self._closed:
                raise CeresError(ErrorCode.VENUE_CLOSED, self._closed[exchange], "exchange")
            raise CeresError(ErrorCode.UNKNOWN_EXCHANGE, f"unknown exchange {exchange!r}", "exchange")
        return venue

    def __iter__(self) -> Iterator[Venue]:
        return iter(self._venues.values())

    def __contains__(self, exchange: str) -> bool:
        return exchange in self._venues

    def instrument(self, exchange: str, contract: str) -> Instrument:
        """The instrument, or UNKNOWN_EXCHANGE / UNKNOWN_CONTRACT."""
        return self._known.get((exchange, contract)) or self.get(exchange).instrument(contract)

    def find(self, exchange: str, contract: str) -> Instrument | None:
        """The instrument if it is still configured (history may name removed ones)."""
        venue = self._venues.get(exchange)
        if venue is None:
            return None
        try:
            return venue.instrument(contract)
        except CeresError:
            return None

    def instruments(self) -> Iterator[Instrument]:
        """Every venue's instruments; a venue that cannot list its markets now (a live one
        whose markets are not loaded) is left out."""
        for venue in self._venues.values():
            try:
                listed = venue.instruments()
            except CeresError:
                continue
            yield from listed

    async def cancel(self, product: str, ids: tuple[int, ...], reason: str = "") -> CancelResult:
        """Cancel orders at their venues: one request per venue; ids no venue holds open
        go with the first group (the venue answers them not found or finished). Results
        keep the order of ``ids``."""
        groups: dict[str, list[int]] = {}
        for oid in ids:
            exchange = self._locate(oid)
            groups.setdefault(exchange or "", []).append(oid)
        if len(groups) == 1:
            exchange = next(iter(groups))
            return await self._venue_for(exchange).cancel(product, ids, reason)
        orphans = groups.pop("", [])
        results = []
        for n, (exchange, group) in enumerate(groups.items()):
            batch = tuple(group + orphans) if n == 0 else tuple(group)
            results.append(await self._venue_for(exchange).cancel(product, batch, reason))
        rank = {oid: i for i, oid in enumerate(ids)}
        ok = sorted((oid for r in results for oid in r.ok), key=rank.__getitem__)
        failed = sorted((f for r in results for f in r.failed), key=lambda f: rank[f[0]])
        return CancelResult(ok, failed)

    def _venue_for(self, exchange: str) -> Venue:
        return self._venues[exchange] if exchange else next(iter(self._venues.values()))


class LiveDesk(Protocol):
    """What ``VenueDriver`` asks of a live venue: send a durable placement, ask for a cancel."""

    def ask_send(self, oid: int) -> None: ...

    def ask_cancel(self, oid: int) -> None: ...


class VenueDriver:
    """Hands a live venue's desk what the engine recorded for it, once durable (a dispatcher
    subscription on the process that writes the journal: the single server, or the engine
    leading a cluster): a new order (SUBMITTING) is sent, an order moved to CANCELING (a
    client's cancel, cancel all, a dead-man's switch, a closed connection) is cancelled there.
    Whichever process journaled the command (this one, or a gateway), the desk hears of it
    once, from here."""

    def __init__(self) -> None:
        self._desks: dict[str, LiveDesk] = {}

    def register(self, exchange: str, desk: LiveDesk) -> None:
        self._desks[exchange] = desk

    def subscription(self) -> tuple[tuple[type, ...], Callable[[list[OrderEvent]], None]]:
        return ((OrderEvent,), self.on_orders)

    def on_orders(self, events: list[OrderEvent]) -> None:
        for ev in events:
            if ev.kind != WAITING:  # only the events that set 2 or 12 (a fill while CANCELING is not one)
                continue
            desk = self._desks.get(ev.spec.inst.exchange)
            if desk is None:
                continue
            if ev.status == SUBMITTING:
                desk.ask_send(ev.spec.oid)
            elif ev.status == CANCELING:
                desk.ask_cancel(ev.spec.oid)
