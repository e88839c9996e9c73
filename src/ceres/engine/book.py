"""Price-time priority order book for one instrument.

Structure: per side a dict ``price -> Level`` and a list of the prices sorted ascending
(best bid is ``prices[-1]``, best ask ``prices[0]``). A level is a FIFO deque of orders
plus the count and total remaining lots of its *live* orders.

Cancellation is lazy: a cancelled order stays in its level's deque, marked by its final
status, and is skipped (and dropped) when matching reaches it; the level's ``live`` count
and ``vol`` are updated at once, and a level with no live orders is removed immediately.
A deque that holds far more dead than live orders is compacted, so memory stays
proportional to the live orders.

Complexity: add O(log L) search plus O(L) list insert for a new level (L levels, a C
memmove); cancel O(1) unless it empties a level (O(L)); matching O(1) per fill.

Invariants (``check``): a live order appears in exactly one level at its own price and
side; ``level.live``/``level.vol`` equal the count/remaining lots of live orders in it;
every listed price has a level with ``live > 0``; the book is never crossed after a
command completes (best bid < best ask).
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from collections.abc import Iterator

from ceres.domain.enums import OrderStatus, Side
from ceres.domain.instruments import Instrument
from ceres.engine.orders import Order

_LIVE_MAX = OrderStatus.PART_FILLED


class Level:
    __slots__ = ("live", "orders", "price", "vol")

    def __init__(self, price: int) -> None:
        self.price = price
        self.orders: deque[Order] = deque()
        self.live = 0
        self.vol = 0

    def live_orders(self) -> Iterator[Order]:
        for order in self.orders:
            if order.status <= _LIVE_MAX:
                yield order


class BookSide:
    __slots__ = ("levels", "prices", "side")

    def __init__(self, side: int) -> None:
        self.side = side
        self.levels: dict[int, Level] = {}
        self.prices: list[int] = []

    def best(self) -> int | None:
        if not self.prices:
            return None
        return self.prices[-1] if self.side == Side.BUY else self.prices[0]

    def add(self, order: Order, remaining: int) -> None:
        price = order.spec.price
        level = self.levels.get(price)
        if level is None:
            level = self.levels[price] = Level(price)
            insort(self.prices, price)
        level.orders.append(order)
        level.live += 1
        level.vol += remaining

    def remove(self, order: Order, remaining: int) -> None:
        """Account for a live order leaving the book (lazy: the deque keeps it)."""
        level = self.levels[order.spec.price]
        level.live -= 1
        level.vol -= remaining
        if level.live == 0:
            self.drop_level(level)
        elif len(level.orders) > 4 * level.live + 64:
            level.orders = deque(level.live_orders())

    def drop_level(self, level: Level) -> None:
        del self.levels[level.price]
        prices = self.prices
        del prices[bisect_left(prices, level.price)]

    def iter_levels(self) -> Iterator[Level]:
        """Levels from the best price outward."""
        prices = reversed(self.prices) if self.side == Side.BUY else iter(self.prices)
        levels = self.levels
        for price in prices:
            yield levels[price]

    def depth(self, n: int) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        for level in self.iter_levels():
            out.append((level.price, level.vol))
            if len(out) >= n:
                break
        return out


class OrderBook:
    __slots__ = ("asks", "bids", "inst")

    def __init__(self, inst: Instrument) -> None:
        self.inst = inst
        self.bids = BookSide(Side.BUY)
        self.asks = BookSide(Side.SELL)

    def side_of(self, side: int) -> BookSide:
        return self.bids if side == Side.BUY else self.asks

    def depth(self, n: int = 10) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """(bids best-first, asks best-first) as (price ticks, lots) pairs."""
        return self.bids.depth(n), self.asks.depth(n)

    def resting(self) -> Iterator[Order]:
        """All live resting orders, bids then asks, each side in priority order."""
        for side in (self.bids, self.asks):
            for level in side.iter_levels():
                yield from level.live_orders()

    def check(self) -> list[str]:
        """Internal-consistency problems (empty list when consistent)."""
        problems = []
        for side in (self.bids, self.asks):
            if sorted(side.levels) != side.prices:
                problems.append(f"{self.inst.contract}: price list out of sync")
            for price, level in side.levels.items():
                live = [o for o in level.orders if o.status <= _LIVE_MAX]
                if level.live != len(live) or level.live <= 0:
                    problems.append(f"{self.inst.contract}: level {price} live count {level.live}")
                if level.vol != sum(_remaining(o) for o in live):
                    problems.append(f"{self.inst.contract}: level {price} volume mismatch")
                problems += [f"{self.inst.contract}: order {o.oid} in wrong level"
                             for o in live if o.price != price or o.side != side.side]
        bid, ask = self.bids.best(), self.asks.best()
        if bid is not None and ask is not None and bid >= ask:
            problems.append(f"{self.inst.contract}: book crossed {bid} >= {ask}")
        return problems


def _remaining(order: Order) -> int:
    return order.vol - order.filled
