"""A product's private stream at a live venue: ccxt.pro ``watch_my_trades`` and ``watch_orders``
on the product's own key, feeding the desk (decision 0006).

Fills come from ``watch_my_trades`` only (``watch_orders`` merges quick fills into one state);
order states give the venue's id of an order whose placement reply was lost, and its end. Each
event goes through the same desk code as the poll, so a trade seen by both is applied once (by
the venue's trade id).

Each (re)connection uses a new ccxt.pro instance, closed after: when the venue refuses the
subscription (a bad key), ccxt 4.5.90's Binance raises ``KeyError('spot')`` (the venue's error
is its ``__context__``) and every later watch on that instance waits forever.

ccxt never replays what a socket missed. The desk therefore keeps polling at its normal interval
while a stream is down or younger than ``GRACE_S`` (time for the subscription to be in place),
and only slows to its safety interval once every stream it needs has run ``GRACE_S`` without an
error: the first poll after that is the reconciliation, and covers everything up to a moment the
stream was already delivering. A failed stream is retried every ``RETRY_S`` and wakes the poll at
once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ceres.domain.enums import ReportKind

if TYPE_CHECKING:
    from ceres.venues.live.desk import Desk

log = logging.getLogger("ceres.venues")
GRACE_S = 3.0
RETRY_S = 2.0
FEE_SIGN = {"OKEX": -1}
"""ccxt 4.5.90's ``okx.watch_my_trades`` passes OKX's ``fillFee`` as it is (negative = paid),
where its REST trades (and every other venue) give ccxt's sign (positive = paid)."""


def can_stream(client: Any) -> bool:
    has = getattr(client, "has", {})
    return bool(has.get("watchMyTrades")) and bool(has.get("watchOrders"))


class UserStream:
    def __init__(self, desk: Desk, product: str) -> None:
        self.desk = desk
        self.product = product
        self.up_since: float | None = None  # monotonic time of the last (re)subscribe, None while down
        self.failures = 0
        self.task = asyncio.create_task(self._run(), name=f"stream-{desk.exchange}-{product}")

    def healthy(self, now: float) -> bool:
        return self.up_since is not None and now - self.up_since >= GRACE_S

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task

    async def _run(self) -> None:
        exchange = self.desk.exchange
        while True:
            client = None
            make = self.desk.stream_client
            assert make is not None  # a desk has streams only with a way to make their clients
            try:
                client = make(self.product)
                if not can_stream(client):
                    log.info("%s: no private streams in ccxt for this venue; polling only", exchange)
                    return
                self.up_since = time.monotonic()
                await self._watch(client)
            except Exception as exc:  # ccxt, the network, a refused key — or ccxt's own KeyError (below)
                self.up_since = None
                self.failures += 1
                cause = exc.__context__ if isinstance(exc, KeyError) and exc.__context__ is not None else exc
                log.info("%s: stream of %s down (%s: %s); polling, retry in %.0f s", exchange, self.product,
                         type(cause).__name__, " ".join(str(cause).split())[:200], RETRY_S)
                self.desk.wake()
            finally:
                if client is not None:  # never reused: a refused subscribe leaves ccxt's instance stuck
                    with contextlib.suppress(Exception):
                        await client.close()
            await asyncio.sleep(RETRY_S)

    async def _watch(self, client: Any) -> None:
        """Both watchers until the first fails (its error raised, the other stopped)."""
        tasks = [asyncio.create_task(self._trades(client)), asyncio.create_task(self._orders(client))]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _trades(self, client: Any) -> None:
        sign = FEE_SIGN.get(self.desk.exchange, 1)
        while True:
            trades = await client.watch_my_trades()
            mine = self.desk.orders_at_venue(self.product)
            for trade in trades:
                order = mine.get(str(trade.get("order")))
                if order is not None:
                    fee = trade.get("fee") or {}
                    if sign < 0 and fee.get("cost") not in (None, ""):
                        trade = {**trade, "fee": {**fee, "cost": str(-Decimal(str(fee["cost"])))}}
                    await self.desk.apply_trade(order, trade)
            self._done()

    async def _orders(self, client: Any) -> None:
        while True:
            states = await client.watch_orders()
            mine = self.desk.orders_at_venue(self.product)
            for state in states:
                order = mine.get(str(state.get("id"))) or mine.get(f"client:{state.get('clientOrderId')}")
                if order is None:
                    continue
                if not order.venue_oid and not self.desk.sending(order.spec.oid):  # its reply was lost
                    await self.desk.report(order.spec.oid, ReportKind.ACCEPTED, venue_oid=str(state["id"]))
                await self.desk.apply_state(order, state, recancel=False)
            self._done()

    def _done(self) -> None:
        if not self.desk.orders_at_venue(self.product):
            self.desk.wake()  # the product's last order ended: the desk stops this stream now
