"""The paper desk's matching rounds (issue 11, item 10) against a book the test controls: an
order's first round takes the levels at their prices; liquidity it took stays taken while the
venue shows that level unchanged, so the remainder rests instead of filling again against the
same displayed ask; once the venue's level changes or the book moves through the limit, the
resting part fills at its own limit."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tests.fakevenue.testing import StaticBook

from ceres.domain import commands as C
from ceres.domain.enums import OrderStatus
from ceres.venues.live.paper import PaperDesk
from engine_helpers import USDT


@pytest.fixture
def desk(paper):
    h, venue = paper, StaticBook()

    async def submit(cmd: C.Command) -> Any:
        return h.apply(cmd)

    return h, venue, PaperDesk("BINANCE", h.eng, submit, venue.read)


def buy(h, desk: PaperDesk, price: int, lots: int) -> int:
    oid = h.apply(C.Place("alice", "BINANCE", "BTC/USDT", 1, 1, price, lots))
    asyncio.run(desk.send(oid))
    return oid


def test_a_takers_remainder_rests_while_the_level_it_emptied_is_still_shown(desk) -> None:
    h, venue, d = desk
    venue.asks = [("30010", "0.002"), ("30020", "0.01")]
    oid = buy(h, d, 3_001_500, 300)  # 0.003 at 30015
    asyncio.run(d.round())
    order = h.eng.live_orders[oid]
    assert (order.filled, order.status) == (200, OrderStatus.PART_FILLED)  # took 0.002 at 30010
    for _ in range(3):  # the venue still shows the ask it took: nothing more
        asyncio.run(d.round())
    assert order.filled == 200
    venue.asks = [("30010", "0.003"), ("30020", "0.01")]  # the level changed: offered whole again
    asyncio.run(d.round())
    assert oid not in h.eng.live_orders  # the resting 0.001 filled at its own limit
    assert h.bal("alice", "BTC", exchange="BINANCE")[0] == 300_000 - 300  # 0.003 BTC less 0.1%
    assert h.bal("alice", "USDT", exchange="BINANCE") == (600 * USDT - 6_002_000_000 - 3_001_500_000, 0)


def test_liquidity_one_order_took_is_not_offered_to_the_next(desk) -> None:
    h, venue, d = desk
    venue.asks = [("30010", "0.002")]
    first = buy(h, d, 3_001_000, 200)
    asyncio.run(d.round())
    assert first not in h.eng.live_orders
    second = buy(h, d, 3_001_000, 100)
    asyncio.run(d.round())
    assert h.eng.live_orders[second].filled == 0
    venue.asks = []  # the level left the book (someone else took it) ...
    asyncio.run(d.round())
    venue.asks = [("30010", "0.002")]  # ... and came back: fresh liquidity
    asyncio.run(d.round())
    assert second not in h.eng.live_orders
