"""TEST: the simulated exchange of the engine, as a :class:`~ceres.pipeline.venue.Venue`.

Every configured exchange whose instruments the engine simulates (``TEST`` by default)
is one :class:`SimulatedVenue`. Placements and cancels are journaled commands submitted
through the sequencer; the engine matches them inline, so the reply already holds the
outcome. Queries, balances and positions read the engine's state (on the event-loop
thread, where the engine lives).

Reports are derived from the engine's durable events by :class:`ReportFeed` (a
dispatcher subscription): ACCEPTED, CANCELLED and EXPIRED from order events, one FILL
per side from each trade. Nothing is derived while no one subscribes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ceres.domain import commands as C
from ceres.domain.enums import AccountType, ReportKind
from ceres.domain.events import Event, ExecutionReport, OrderEvent, TradeEvent
from ceres.domain.instruments import Instrument
from ceres.engine import marks
from ceres.engine.core import CancelResult, Engine
from ceres.engine.positions import Position
from ceres.pipeline.dispatch import Subscription
from ceres.pipeline.venue import OrderState, PlaceResult, ReportStream, VenueBalance, VenuePosition

Submit = Callable[[C.Command], Awaitable[Any]]
ACCOUNT_TYPES = (int(AccountType.SPOT), int(AccountType.CONTRACT))
FILL = int(ReportKind.FILL)
REPORT_LIMIT = 100_000


class ReportFeed:
    """Execution reports of the simulated venues, from durable events, to subscribers
    per exchange."""

    def __init__(self, limit: int = REPORT_LIMIT) -> None:
        self.limit = limit
        self.streams: dict[str, set[ReportStream]] = {}

    def subscription(self) -> Subscription:
        return ((OrderEvent, TradeEvent), self.on_events)

    def open(self, exchange: str) -> ReportStream:
        stream = ReportStream(self.limit, lambda s: self.streams.get(exchange, set()).discard(s))
        self.streams.setdefault(exchange, set()).add(stream)
        return stream

    def on_events(self, events: list[Event]) -> None:
        if not any(self.streams.values()):
            return
        by_exchange: dict[str, list[ExecutionReport]] = {}
        for report in reports_of(events):
            by_exchange.setdefault(report.exchange, []).append(report)
        for exchange, reports in by_exchange.items():
            for stream in list(self.streams.get(exchange, ())):
                stream.push(reports)


def reports_of(events: list[Event]) -> list[ExecutionReport]:
    """The reports a batch of events stands for: a trade is one FILL per side, carrying
    the order's state after it (from the FILL order event the engine emits just before
    the trade); any other order event is its own kind."""
    after: dict[int, OrderEvent] = {}
    out = []
    for ev in events:
        if isinstance(ev, TradeEvent):
            inst = ev.inst
            for spec, fee in ((ev.maker, ev.maker_fee), (ev.taker, ev.taker_fee)):
                state = after[spec.oid]
                out.append(ExecutionReport(kind=FILL, exchange=inst.exchange, contract=inst.contract,
                                           product=spec.product, oid=spec.oid, client_oid=spec.client_oid,
                                           status=state.status, filled=state.filled, lots=ev.lots, price=ev.price,
                                           fee=fee, tid=ev.tid, seq=ev.seq))
        elif isinstance(ev, OrderEvent):
            spec = ev.spec
            if ev.kind == FILL:
                after[spec.oid] = ev
                continue
            out.append(ExecutionReport(kind=ev.kind, exchange=spec.inst.exchange, contract=spec.inst.contract,
                                       product=spec.product, oid=spec.oid, client_oid=spec.client_oid,
                                       status=ev.status, filled=ev.filled, seq=ev.seq))
    return out


def position_view(pos: Position, mark: int | None) -> VenuePosition:
    """An engine position as the venue reports it, valued at ``mark``."""
    return VenuePosition(pos.deal_id, pos.inst, pos.side, pos.vol, pos.cost, pos.margin, pos.force, pos.lever,
                         pos.realized, mark)


class SimulatedVenue:
    """One simulated exchange of the engine (``exchange``), reached through ``submit``
    (the sequencer)."""

    def __init__(self, exchange: str, engine: Engine, submit: Submit, feed: ReportFeed) -> None:
        self.exchange = exchange
        self._engine = engine
        self._submit = submit
        self._feed = feed
        self._instruments = [i for i in engine.instruments.values() if i.exchange == exchange]

    def instruments(self) -> Sequence[Instrument]:
        return self._instruments

    def instrument(self, contract: str) -> Instrument:
        return self._engine.instrument(self.exchange, contract)

    def place(self, cmd: C.Place) -> Awaitable[PlaceResult]:
        result: Awaitable[PlaceResult] = self._submit(cmd)
        return result

    def cancel(self, product: str, ids: tuple[int, ...], reason: str = "") -> Awaitable[CancelResult]:
        result: Awaitable[CancelResult] = self._submit(C.Cancel(product, ids, reason))
        return result

    async def query(self, product: str, oid: int) -> OrderState | None:
        order = self._engine.open_orders.get(oid)
        if order is None or order.product.name != product or order.inst.exchange != self.exchange:
            return None
        return OrderState(order.spec, order.status, order.filled, order.dealt, order.commission)

    async def balances(self, product: str) -> list[VenueBalance]:
        found = self._engine.products.get(product)
        if found is None:
            return []
        out = []
        for type_ in ACCOUNT_TYPES:
            acc = found.accounts.get((self.exchange, type_))
            if acc is not None:
                out += [VenueBalance(type_, cur, acc.balances[cur].total, acc.balances[cur].frozen)
                        for cur in sorted(acc.balances)]
        return out

    async def positions(self, product: str) -> list[VenuePosition]:
        found = self._engine.products.get(product)
        if found is None:
            return []
        mark_of: dict[Instrument, int | None] = {}
        out = []
        for pos in found.positions.values():
            inst = pos.inst
            if inst.exchange != self.exchange:
                continue
            if inst not in mark_of:
                mark_of[inst] = marks.mark(self._engine, inst)
            out.append(position_view(pos, mark_of[inst]))
        return out

    def reports(self) -> ReportStream:
        return self._feed.open(self.exchange)
