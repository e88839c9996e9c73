"""The order desk of one live venue (decision 0006): what Ceres journaled, sent to the venue,
and what the venue said, journaled back.

* ``send(oid)``, once the placement is durable: ``create_order`` with the client order id
  ``cer<system_oid>`` (never ccxt's own) and the order's time in force in ccxt's unified
  params (``time_in_force_params``: ``timeInForce`` IOC/FOK, ``postOnly``, which ccxt's
  ``binance`` sends as type LIMIT_MAKER on spot); accepted -> ACCEPTED with the venue's id,
  and at once its end if the venue's answer already has it (an IOC/FOK it expired with nothing
  filled); refused for what the order is (funds, filters, symbol, the key; a post-only that
  would take: 42004) -> REJECTED; a timeout or network error is an unknown outcome: the order
  stays at 2 and the poll resolves it by its client id — it is never sent twice.
* ``cancel(oid)``, once the CANCELING is durable: ``cancel_order``; whatever happens, the
  poll learns the order's end from the venue.
* ``poll()``, every ``interval_s`` while the venue has open Ceres orders, and at start (the
  reconciliation after a restart): per product and market, the trades since the oldest
  open order (each applied once, by the venue's trade id), then each order's state; an
  order at 2 with no venue id is looked up by its client id, and REJECTED as never
  received after ``MISSES`` lookups that did not find it, ``RESOLVE_S`` after it was placed.

Every report goes through ``submit`` (the sequencer): the journal holds what the venue
said, and replay needs no network. Fills come from trades, never from order snapshots
(ccxt's ``watch_orders``/``fetch_order`` merge several fills into one state).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt_async  # type: ignore[import-untyped]

from ceres.domain import commands as C
from ceres.domain.enums import OrderStatus, ReportKind, Side, TimeInForce
from ceres.domain.errors import CeresError, ErrorCode
from ceres.engine.core import Engine
from ceres.engine.orders import LiveOrder
from ceres.venues.live.contracts import Leverage, position_side
from ceres.venues.live.dialects import dialect
from ceres.venues.live.streams import UserStream
from ceres.wire import faults

log = logging.getLogger("ceres.venues")
MISSES = 3
RESOLVE_S = 10.0
SAFETY_S = 30.0
"""The poll's interval while every stream it needs is up: a safety net, not the source."""
REFUSED = (ccxt_async.InsufficientFunds, ccxt_async.InvalidOrder, ccxt_async.BadRequest, ccxt_async.BadSymbol,
           ccxt_async.AuthenticationError, ccxt_async.NotSupported, ccxt_async.OperationRejected,
           ccxt_async.DDoSProtection, ccxt_async.InvalidNonce)
"""What the venue answered without taking the order (about the order, the key, the request
rate, the clock): the outcome is known, nothing was placed. (ccxt ranks rate limits and nonce
errors under NetworkError, but the venue did answer.)"""

Call = Callable[[Coroutine[Any, Any, Any]], Awaitable[Any]]
REFUSAL_CODES: tuple[tuple[type, ErrorCode], ...] = (
    (ccxt_async.InsufficientFunds, ErrorCode.INSUFFICIENT_BALANCE),
    (ccxt_async.PermissionDenied, ErrorCode.VENUE_REFUSED),  # an AuthenticationError in ccxt; Bitfinex's 10001
    (ccxt_async.AuthenticationError, ErrorCode.VENUE_AUTH_FAILED),
    (ccxt_async.BadSymbol, ErrorCode.UNKNOWN_CONTRACT),
    (ccxt_async.DDoSProtection, ErrorCode.RATE_LIMITED),
)
"""A refusal's error code (the order's ``error_code``); anything else the venue refused is
VENUE_REFUSED (42003). Checked in order: ccxt's classes nest (BadSymbol is a BadRequest)."""


TIME_IN_FORCE_PARAMS: dict[int, dict[str, Any]] = {
    int(TimeInForce.IOC): {"timeInForce": "IOC"},
    int(TimeInForce.FOK): {"timeInForce": "FOK"},
    int(TimeInForce.POST_ONLY): {"postOnly": True},
}
"""ccxt's unified ``create_order`` params of an order's time in force (none for GTC: ccxt's
default). Which venues take which is the engine's table (``engine.live.TIME_IN_FORCE``)."""


def time_in_force_params(tif: int) -> dict[str, Any]:
    return dict(TIME_IN_FORCE_PARAMS.get(tif, {}))


def refusal(exc: Exception, *, post_only: bool = False) -> str:
    """The reason of a refused order: an error code of the API's table, a space, its text and
    ccxt's class (the venue's own words go to the log only, as for every venue error). A
    post-only order the venue refused because it would take (ccxt's ``OrderImmediatelyFillable``,
    Binance's -2010 "Order would immediately match and take.") is POST_ONLY_WOULD_TAKE (42004)."""
    if post_only and isinstance(exc, ccxt_async.OrderImmediatelyFillable):
        return f"{ErrorCode.POST_ONLY_WOULD_TAKE.reason} ({type(exc).__name__})"
    code = next((c for cls, c in REFUSAL_CODES if isinstance(exc, cls)), ErrorCode.VENUE_REFUSED)
    text = code.default_message if code is not ErrorCode.RATE_LIMITED else "the venue rate-limited the request"
    return f"{code.code} {text} ({type(exc).__name__})"


def _units(value: Any, decimals: int, step: int = 1) -> int:
    """A venue decimal string in units of ``10**-decimals`` x ``step``, truncated toward zero
    (a venue's fee can have more decimals than the grid: the remainder is logged, not kept)."""
    exact = Decimal(str(value or 0)) * (Decimal(10) ** decimals) / step
    units = int(exact)
    if units != exact:
        log.warning("venue amount %s has more decimals than the grid holds; %s kept", value, units)
    return units


class Desk:
    def __init__(self, exchange: str, engine: Engine, submit: Callable[[C.Command], Awaitable[Any]],
                 client: Callable[[str], Awaitable[Any]], call: Call, *, interval_s: float = 1.0,
                 resolve_s: float = RESOLVE_S, stream_client: Callable[[str], Any] | None = None,
                 safety_s: float = SAFETY_S) -> None:
        self.exchange = exchange
        self.engine = engine
        self.submit = submit
        self.client = client
        self.call = call
        self.interval_s = interval_s
        self.resolve_s = resolve_s
        self.stream_client = stream_client  # product -> a new ccxt.pro instance with its key (streams.py)
        self.streams = stream_client is not None
        self.safety_s = max(safety_s, interval_s)
        self.user_streams: dict[str, UserStream] = {}  # product -> its stream, while it has open orders
        self.leverage = Leverage()  # contracts: hedge mode and leverage set at the venue
        self.dialect = dialect(exchange)
        self.in_flight = 0
        self._sending: set[int] = set()  # placements whose create_order has not returned yet
        self._misses: dict[int, int] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._wake = asyncio.Event()
        self._poller: asyncio.Task[None] | None = None

    # --- lifetime --------------------------------------------------------------------------
    def start(self) -> None:
        self._poller = asyncio.create_task(self._poll_loop(), name=f"desk-{self.exchange}")

    async def close(self) -> None:
        for task in [*self._tasks, *([self._poller] if self._poller else [])]:
            task.cancel()
        await asyncio.gather(*self._tasks, *([self._poller] if self._poller else []), return_exceptions=True)
        for stream in self.user_streams.values():
            await stream.close()
        self.user_streams.clear()

    def wake(self) -> None:
        """Poll now (a stream failed, an order's state needs its fills first)."""
        self._wake.set()

    def sending(self, oid: int) -> bool:
        return oid in self._sending

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _orders(self) -> list[LiveOrder]:
        return [o for o in self.engine.live_orders.values() if o.spec.inst.exchange == self.exchange]

    def orders_at_venue(self, product: str) -> dict[str, LiveOrder]:
        """A product's open orders here by the venue's id, and by ``client:<client order id>``."""
        out: dict[str, LiveOrder] = {}
        for order in self._orders():
            if order.spec.product == product:
                out[f"client:{self.dialect.client_key(order.spec.oid)}"] = order
                if order.venue_oid:
                    out[order.venue_oid] = order
        return out

    async def report(self, oid: int, kind: ReportKind, **fields: Any) -> None:
        try:
            await self.submit(C.VenueReport(self.exchange, oid, int(kind), **fields))
        except CeresError as exc:  # e.g. the order ended meanwhile: the journal keeps what came first
            log.info("%s: report %s for order %d not applied: %s", self.exchange, kind.name, oid, exc)

    # --- placing and cancelling ---------------------------------------------------------------
    async def send(self, oid: int) -> None:
        order = self.engine.live_orders.get(oid)
        if order is None:
            return
        spec, inst = order.spec, order.spec.inst
        side = "buy" if spec.side == Side.BUY else "sell"
        try:
            client = await self.client(spec.product)
        except CeresError as exc:  # the product's key was removed meanwhile: never sent
            await self.report(oid, ReportKind.REJECTED, reason=str(exc)[:200])
            return
        params: dict[str, Any] = {"clientOrderId": self.dialect.client_id(oid), **time_in_force_params(spec.tif)}
        if inst.is_contract:
            params["positionSide"] = position_side(spec)
            try:
                await self.leverage.prepare(client, spec.product, spec, self.call)
            except ccxt_async.BaseError as exc:  # nothing was sent: a known outcome either way
                log.info("%s: order %d not sent, its leverage or position mode refused: %s: %s", self.exchange,
                         oid, type(exc).__name__, exc)
                await self.report(oid, ReportKind.REJECTED, reason=refusal(exc))
                return
        self.in_flight += 1
        self._sending.add(oid)
        try:
            placed = await self.call(client.create_order(inst.contract, "limit", side, inst.fmt_vol(spec.vol),
                                                         inst.fmt_price(spec.price), params))
        except REFUSED as exc:
            if "uplicate" in str(exc):  # our client id is already there: it was placed (ccxt: InvalidOrder)
                self._wake.set()
                return
            log.info("%s refused order %d: %s: %s", self.exchange, oid, type(exc).__name__, exc)
            await self.report(oid, ReportKind.REJECTED,
                              reason=refusal(exc, post_only=spec.tif == TimeInForce.POST_ONLY))
            return
        except ccxt_async.BaseError as exc:
            log.warning("%s: order %d outcome unknown (%s); resolving by client id", self.exchange, oid,
                        type(exc).__name__)
            return
        finally:
            self.in_flight -= 1
            self._sending.discard(oid)
        await self.report(oid, ReportKind.ACCEPTED, venue_oid=str(placed["id"]))
        order = self.engine.live_orders.get(oid)
        if order is not None:  # an IOC/FOK the venue ended at once: its end now, or its fills first
            await self.apply_state(order, placed, recancel=False)
        self._wake.set()

    async def cancel(self, oid: int) -> None:
        order = self.engine.live_orders.get(oid)
        if order is None or not order.venue_oid:
            self._wake.set()  # not at the venue yet (or already ended): the poll resolves it first
            return
        try:
            client = await self.client(order.spec.product)
            await self.call(client.cancel_order(order.venue_oid, order.spec.inst.contract))
        except ccxt_async.OrderNotFound:
            pass  # already ended at the venue (filled, cancelled): the poll reads how
        except (ccxt_async.BaseError, CeresError) as exc:
            log.info("%s: cancel of %d: %s: %s (asked again by the poll)", self.exchange, oid, type(exc).__name__,
                     exc)
            return
        self._wake.set()

    # --- the poll: fills, ends, unknown outcomes --------------------------------------------
    async def _poll_loop(self) -> None:
        while True:
            orders = self._orders()
            # judged before the poll: a slow interval follows only a poll that began once every
            # stream was delivering (streams.GRACE_S), i.e. the reconciliation of what it missed
            healthy = self._streams({o.spec.product for o in orders})
            if orders:
                try:
                    await self.poll()
                except Exception:  # a bug must not stop the desk; the next round retries
                    log.exception("%s: poll failed", self.exchange)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.safety_s if healthy else self.interval_s)
            self._wake.clear()

    def _streams(self, products: set[str]) -> bool:
        """Start the streams of products with open orders, stop the others; whether all are up."""
        if not self.streams:
            return False
        for product in [p for p in self.user_streams if p not in products]:
            self.spawn(self.user_streams.pop(product).close())
        for product in products - self.user_streams.keys():
            self.user_streams[product] = UserStream(self, product)
        now = time.monotonic()
        return bool(products) and all(self.user_streams[p].healthy(now) for p in products)

    def streams_view(self) -> dict[str, int]:
        now = time.monotonic()
        up = sum(s.healthy(now) for s in self.user_streams.values())
        return {"streams_up": up, "streams_down": len(self.user_streams) - up,
                "stream_failures": sum(s.failures for s in self.user_streams.values())}

    async def poll(self) -> None:
        by_market: dict[tuple[str, str], list[LiveOrder]] = {}
        for order in self._orders():
            by_market.setdefault((order.spec.product, order.spec.inst.contract), []).append(order)
        for (product, symbol), orders in by_market.items():
            try:
                client = await self.client(product)
                await self._resolve_unknown(client, symbol, orders)
                await self._fills(client, symbol, orders)
                await self._ends(client, symbol, orders)
            except ccxt_async.BaseError as exc:
                log.info("%s: poll of %s %s: %s: %s", self.exchange, product, symbol, type(exc).__name__, exc)
            except CeresError as exc:  # the product's key is gone: its orders wait
                log.warning("%s: poll of %s: %s", self.exchange, product, exc)
            except Exception as exc:  # ccxt failing in its own code: the other markets still get polled
                faults.report(exc, f"{self.exchange} poll")

    async def _resolve_unknown(self, client: Any, symbol: str, orders: list[LiveOrder]) -> None:
        for order in orders:
            oid = order.spec.oid
            if order.venue_oid or oid in self._sending:
                continue
            try:
                found = await self.call(self.dialect.find(client, symbol, oid))
            except ccxt_async.OrderNotFound:
                misses = self._misses[oid] = self._misses.get(oid, 0) + 1
                if misses >= MISSES and time.time() * 1000 - order.spec.time >= self.resolve_s * 1000:
                    self._misses.pop(oid, None)
                    await self.report(oid, ReportKind.REJECTED,
                                      reason=f"{ErrorCode.VENUE_UNAVAILABLE.code} not received by the venue")
                continue
            self._misses.pop(oid, None)
            await self.report(oid, ReportKind.ACCEPTED, venue_oid=str(found["id"]))

    async def _fills(self, client: Any, symbol: str, orders: list[LiveOrder]) -> None:
        mine = {o.venue_oid: o for o in orders if o.venue_oid}
        if not mine:
            return
        since = min(o.spec.time for o in mine.values()) - 60_000
        for trade in await self.call(client.fetch_my_trades(symbol, since)):
            order = mine.get(str(trade.get("order")))
            if order is not None:
                await self.apply_trade(order, trade)

    async def apply_trade(self, order: LiveOrder, trade: dict[str, Any]) -> None:
        """One of the order's trades at the venue (ccxt's trade structure), as a FILL report
        unless already applied (by the venue's trade id: the poll and the stream may both see it)."""
        if str(trade["id"]) in order.trades:
            return
        inst = order.spec.inst
        fee = trade.get("fee") or {}
        if inst.is_contract:
            paid_in = inst.settle  # contracts: the venue charges the settle currency
        else:
            paid_in = inst.base if order.spec.side == Side.BUY else inst.quote  # what the order receives
        fee_units = 0
        if fee.get("currency") == paid_in:
            fee_units = _units(fee.get("cost"), inst.base_decimals if paid_in == inst.base else inst.quote_decimals)
        elif fee.get("cost") not in (None, "0", 0):
            log.warning("%s: fee %s %s of trade %s not counted (the order's fees are in %s)", self.exchange,
                        fee.get("cost"), fee.get("currency"), trade["id"], paid_in)
        await self.report(order.spec.oid, ReportKind.FILL, venue_tid=str(trade["id"]),
                           lots=_units(trade["amount"], inst.vol_decimals, inst.lot_units),
                           price=_units(trade["price"], inst.price_decimals, inst.tick_units), fee=fee_units)

    async def _ends(self, client: Any, symbol: str, orders: list[LiveOrder]) -> None:
        for order in orders:
            if order.venue_oid and order.spec.oid in self.engine.live_orders:
                await self.apply_state(order, await self.call(self.dialect.state(client, order.venue_oid, symbol)))

    async def apply_state(self, order: LiveOrder, state: dict[str, Any], *, recancel: bool = True) -> None:
        """The order's state at the venue (ccxt's order structure): its end (cancelled, expired,
        rejected) once every fill it counts has been applied; with ``recancel`` (the poll), a
        cancel asked again if the venue still has it open while Ceres is cancelling."""
        oid = order.spec.oid
        status = state.get("status")
        if status in ("canceled", "expired", "rejected"):
            filled = _units(state.get("filled"), order.spec.inst.vol_decimals, order.spec.inst.lot_units)
            if filled > order.filled:
                self._wake.set()  # fills not applied yet: the next round takes them first
                return
            kind = {"canceled": ReportKind.CANCELLED, "expired": ReportKind.EXPIRED}.get(status, ReportKind.REJECTED)
            await self.report(oid, kind)
        elif recancel and status == "open" and order.status == OrderStatus.CANCELING:
            self.spawn(self.cancel(oid))  # the cancel was lost on the way: ask again
