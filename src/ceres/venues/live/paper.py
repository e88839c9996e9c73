"""The desk of a live venue in paper mode (issue 11, item 10; ``engine.paper`` holds the money):
orders never leave Ceres, they are filled locally against the venue's public order book.

* ``send(oid)``, once the placement is durable: ACCEPTED with the id ``paper<system_oid>``,
  then a matching round at once.
* ``cancel(oid)``: CANCELLED (nothing to ask anyone).
* every ``interval_s`` while the venue has open paper orders (and at start, for the orders
  the journal left open): the venue's book (``levels`` per side, REST) of each market with
  open orders; a buy fills against the asks at or below its limit, a sell against the bids
  at or above it, best price first, orders by price then age, each level's volume shared out
  once per round. An order's first round takes liquidity at the levels' prices (a taker);
  later rounds fill a resting order at its own limit when the book has moved through it (a
  maker). Fills are FILL reports with the trade id ``paper<oid>-<n>``, priced and charged by
  the engine (fee at the instrument's rate, set by ``[venues.X] paper_fee``).

Time in force (the order's ``OrderSpec.tif``), decided in the order's first round, whose
reports are submitted together (one journal frame: a crash keeps all of them or none):

* GTC (0): acknowledged by ``send``; its first round takes, then it rests (above);
* IOC: ACCEPTED, what the first round's book offers within its limit, and the rest EXPIRED
  (15 if nothing filled, else 14);
* FOK: ACCEPTED, then all of it filled in its first round if the book offers that much
  within its limit, else EXPIRED with nothing filled;
* post-only: REJECTED ("42004 post-only order would take liquidity") if the venue's book
  shows an opposite level at or through its limit in its first round, else ACCEPTED and it
  rests (from then on a maker, as any resting order).

An IOC/FOK still open when the desk starts (a crash between its acknowledgement and its
end, which one frame makes unlikely) had its round: it ends EXPIRED with what it filled. One
never acknowledged gets its first round, as a post-only one does.

Liquidity a paper order took stays taken: the desk remembers, per price level, how much it
used and how much the venue showed there. While the venue shows the same volume at that
level, the used part is not offered again (a taker's remainder rests instead of filling
against the ask it just emptied); once the level's volume changes or it leaves the book, the
venue has moved and the level is offered whole.

What it does not model: queue position (a resting order fills as soon as the book crosses
it) and any other market impact of the paper orders.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt_async  # type: ignore[import-untyped]

from ceres.domain import commands as C
from ceres.domain.enums import ReportKind, Side, TimeInForce
from ceres.domain.errors import CeresError, ErrorCode
from ceres.domain.instruments import Instrument
from ceres.engine.core import Engine
from ceres.engine.orders import LiveOrder

log = logging.getLogger("ceres.venues")
LEVELS = 20
GTC = (int(TimeInForce.DEFAULT), int(TimeInForce.GTC))
IOC, FOK, POST_ONLY = int(TimeInForce.IOC), int(TimeInForce.FOK), int(TimeInForce.POST_ONLY)
WOULD_TAKE = ErrorCode.POST_ONLY_WOULD_TAKE.reason
Report = tuple[ReportKind, dict[str, Any]]


def venue_id(oid: int) -> str:
    return f"paper{oid}"


def _steps(value: Any, decimals: int, step: int) -> int | None:
    """A venue decimal as whole steps of ``step * 10**-decimals``; None when off the grid."""
    count, rest = divmod(Decimal(str(value)) * (Decimal(10) ** decimals), step)
    return int(count) if rest == 0 else None


def crosses(side: int, price: int, limit: int) -> bool:
    """Whether a book level at ``price`` is within a ``side`` order's ``limit``."""
    return price <= limit if side == Side.BUY else price >= limit


def levels(inst: Instrument, rows: Any) -> list[list[int]]:
    """A book side as ``[ticks, lots]`` (volume floored to whole lots; off-tick levels skipped)."""
    out = []
    for row in rows or ():
        ticks = _steps(row[0], inst.price_decimals, inst.tick_units)
        lots = int(Decimal(str(row[1])) * (Decimal(10) ** inst.vol_decimals) // inst.lot_units)
        if ticks is not None and lots > 0:
            out.append([ticks, lots])
    return out


class PaperDesk:
    def __init__(self, exchange: str, engine: Engine, submit: Callable[[C.Command], Awaitable[Any]],
                 book: Callable[[str, int], Coroutine[Any, Any, Any]], *, interval_s: float = 1.0) -> None:
        self.exchange = exchange
        self.engine = engine
        self.submit = submit
        self.book = book  # (symbol, levels) -> ccxt order book
        self.interval_s = interval_s
        self.in_flight = 0
        self._rounds: set[int] = set()  # orders that have had their first (taker) round
        self._used: dict[tuple[str, Side], dict[int, tuple[int, int]]] = {}  # ticks -> (shown, used)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._wake = asyncio.Event()
        self._poller: asyncio.Task[None] | None = None

    def start(self) -> None:
        # open before a restart: resting, not taking — except an IOC/FOK/post-only order never
        # acknowledged, which has not had its first round
        self._rounds = {o.spec.oid for o in self._orders() if o.venue_oid or o.spec.tif in GTC}
        self._poller = asyncio.create_task(self._loop(), name=f"paper-{self.exchange}")

    async def close(self) -> None:
        tasks = [*self._tasks, *([self._poller] if self._poller else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def streams_view(self) -> dict[str, int]:
        return {"streams_up": 0, "streams_down": 0, "stream_failures": 0}

    def _orders(self) -> list[LiveOrder]:
        return [o for o in self.engine.live_orders.values() if o.spec.inst.exchange == self.exchange]

    async def _report(self, oid: int, kind: ReportKind, **fields: Any) -> None:
        await self._reports(oid, [(kind, fields)])

    async def _reports(self, oid: int, reports: list[Report]) -> None:
        """Several reports of one order, all submitted before any is awaited (one journal frame);
        one refused because the order ended meanwhile is logged and skipped."""
        pending = [self.submit(C.VenueReport(self.exchange, oid, int(kind), **fields)) for kind, fields in reports]
        for kind, result in zip((k for k, _ in reports), await asyncio.gather(*pending, return_exceptions=True),
                                strict=True):
            if isinstance(result, CeresError):
                log.info("%s paper: report %s for order %d not applied: %s", self.exchange, kind.name, oid, result)
            elif isinstance(result, BaseException):
                raise result

    async def send(self, oid: int) -> None:
        """A GTC order is acknowledged now; another time in force in its first round, with its outcome."""
        order = self.engine.live_orders.get(oid)
        if order is not None and not order.venue_oid and order.spec.tif in GTC:
            await self._report(oid, ReportKind.ACCEPTED, venue_oid=venue_id(oid))
        self._wake.set()

    async def cancel(self, oid: int) -> None:
        if oid in self.engine.live_orders:
            await self._report(oid, ReportKind.CANCELLED)

    async def _loop(self) -> None:
        while True:
            if self._orders():
                try:
                    await self.round()
                except Exception:  # a bug must not stop the desk; the next round retries
                    log.exception("%s paper: matching round failed", self.exchange)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval_s)
            self._wake.clear()

    async def round(self) -> None:
        """One matching round over every market with open paper orders."""
        by_market: dict[str, list[LiveOrder]] = {}
        for order in self._orders():
            if not order.venue_oid:  # placed before a restart, never acknowledged
                await self.send(order.spec.oid)
            by_market.setdefault(order.spec.inst.contract, []).append(order)
        for symbol, orders in by_market.items():
            try:
                book = await self.book(symbol, LEVELS)
            except ccxt_async.BaseError as exc:
                log.info("%s paper: book of %s not read (%s: %s); next round", self.exchange, symbol,
                         type(exc).__name__, exc)
                continue
            await self._match(orders, book)

    async def _match(self, orders: list[LiveOrder], book: dict[str, Any]) -> None:
        inst = orders[0].spec.inst
        sides = {Side.BUY: levels(inst, book.get("asks")), Side.SELL: levels(inst, book.get("bids"))}
        for side, book_side in sides.items():
            shown = self._offer((inst.contract, side), book_side)
            mine = sorted((o for o in orders if o.spec.side == side and o.spec.oid in self.engine.live_orders),
                          key=lambda o: ((-o.spec.price if side == Side.BUY else o.spec.price), o.spec.oid))
            for order in mine:
                oid, limit = order.spec.oid, order.spec.price
                taker = oid not in self._rounds
                self._rounds.add(oid)
                if order.spec.tif not in GTC and (taker or order.spec.tif != POST_ONLY):
                    await self._first_round(order, book_side, shown, taker)
                    continue
                left = order.spec.vol - order.filled
                for level in book_side:
                    if left <= 0 or not crosses(side, level[0], limit):
                        break
                    lots = min(left, level[1])
                    if lots <= 0:
                        continue
                    level[1] -= lots
                    left -= lots
                    await self._report(oid, ReportKind.FILL, venue_tid=f"{venue_id(oid)}-{len(order.trades) + 1}",
                                       lots=lots, price=level[0] if taker else limit)
            self._used[(inst.contract, side)] = {
                ticks: (lots, lots - left) for (ticks, lots), (_, left) in zip(shown, book_side, strict=True)
                if left < lots}
        self._rounds &= set(self.engine.live_orders)

    async def _first_round(self, order: LiveOrder, book_side: list[list[int]], shown: list[tuple[int, int]],
                           taker: bool) -> None:
        """An IOC, FOK or post-only order's first round (its outcome, reported in one go); an IOC
        or FOK that had its round before a restart just ends."""
        spec, side = order.spec, order.spec.side
        oid, limit, tif = spec.oid, spec.price, spec.tif
        crossing = [level for level in book_side if crosses(side, level[0], limit)]
        reports: list[Report] = [] if order.venue_oid else [(ReportKind.ACCEPTED, {"venue_oid": venue_id(oid)})]
        if not taker:  # an IOC/FOK left open by a restart
            await self._reports(oid, [*reports, (ReportKind.EXPIRED, {})])
            return
        if tif == POST_ONLY:
            if any(crosses(side, price, limit) for price, _ in shown):
                await self._reports(oid, [(ReportKind.REJECTED, {"reason": WOULD_TAKE})])
            else:
                await self._reports(oid, reports)
            return
        left = spec.vol - order.filled
        if tif == FOK and sum(level[1] for level in crossing) < left:
            crossing = []  # not all of it: nothing
        trades = len(order.trades)
        for level in crossing:
            lots = min(left, level[1])
            if lots <= 0:
                continue
            level[1] -= lots
            left -= lots
            trades += 1
            reports.append((ReportKind.FILL, {"venue_tid": f"{venue_id(oid)}-{trades}", "lots": lots,
                                              "price": level[0]}))
            if left == 0:
                break
        if left:
            reports.append((ReportKind.EXPIRED, {}))
        await self._reports(oid, reports)

    def _offer(self, key: tuple[str, Side], book_side: list[list[int]]) -> list[tuple[int, int]]:
        """Takes out of ``book_side`` what paper orders used at levels the venue still shows
        unchanged; returns the levels as shown, with what was used so far."""
        seen = self._used.get(key, {})
        shown = []
        for level in book_side:
            shown_lots, used = seen.get(level[0], (level[1], 0))
            if shown_lots != level[1]:  # the venue's level moved: offered whole again
                used = 0
            shown.append((level[0], level[1]))
            level[1] -= used
        return shown
