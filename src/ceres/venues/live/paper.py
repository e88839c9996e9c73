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
from ceres.domain.enums import ReportKind, Side
from ceres.domain.errors import CeresError
from ceres.domain.instruments import Instrument
from ceres.engine.core import Engine
from ceres.engine.orders import LiveOrder

log = logging.getLogger("ceres.venues")
LEVELS = 20


def venue_id(oid: int) -> str:
    return f"paper{oid}"


def _steps(value: Any, decimals: int, step: int) -> int | None:
    """A venue decimal as whole steps of ``step * 10**-decimals``; None when off the grid."""
    count, rest = divmod(Decimal(str(value)) * (Decimal(10) ** decimals), step)
    return int(count) if rest == 0 else None


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
        self._rounds = {o.spec.oid for o in self._orders()}  # open before a restart: resting, not taking
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
        try:
            await self.submit(C.VenueReport(self.exchange, oid, int(kind), **fields))
        except CeresError as exc:  # the order ended meanwhile
            log.info("%s paper: report %s for order %d not applied: %s", self.exchange, kind.name, oid, exc)

    async def send(self, oid: int) -> None:
        order = self.engine.live_orders.get(oid)
        if order is not None and not order.venue_oid:
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
                left = order.spec.vol - order.filled
                for level in book_side:
                    crosses = level[0] <= limit if side == Side.BUY else level[0] >= limit
                    if left <= 0 or not crosses:
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
