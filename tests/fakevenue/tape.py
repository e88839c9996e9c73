"""Market statistics from a symbol's tape (:meth:`~tests.fakevenue.book.Book.tape`): candles and 24 h stats.

Venue-neutral arithmetic on :class:`~decimal.Decimal`; the venue modules render the results. Candles
follow Binance's kline rules (developers.binance.com spot ``rest-api`` "Kline/Candlestick data"):
buckets are aligned to the epoch (UTC), one per interval from the bucket of the first trade to the one
holding now, an interval without trades repeats the previous close with zero volume, and a bucket is
selected by its open time (``startTime <= openTime <= endTime``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tests.fakevenue.book import Trade, buyer_is_maker

ZERO = Decimal(0)
DAY_MS = 86_400_000
INTERVALS_MS = {"1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
                "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000, "6h": 21_600_000, "8h": 28_800_000,
                "12h": 43_200_000, "1d": DAY_MS}


@dataclass
class Candle:
    open_time: int
    close_time: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal = ZERO
    quote_volume: Decimal = ZERO
    count: int = 0
    taker_buy_volume: Decimal = ZERO  # bought by the taker: the buyer was not the maker
    taker_buy_quote: Decimal = ZERO

    def add(self, trade: Trade) -> None:
        if not self.count:
            self.open = self.high = self.low = trade.price
        self.high, self.low, self.close = max(self.high, trade.price), min(self.low, trade.price), trade.price
        self.volume += trade.qty
        self.quote_volume += trade.qty * trade.price
        self.count += 1
        if not buyer_is_maker(trade):
            self.taker_buy_volume += trade.qty
            self.taker_buy_quote += trade.qty * trade.price


def select(items: list[Trade], start: int | None, end: int | None, limit: int) -> list[Trade]:
    """Trades with ``start <= time <= end`` (inclusive, either optional): the first ``limit`` from
    ``start`` when it is given, else the ``limit`` most recent (Binance ``aggTrades``/``trades``)."""
    inside = [t for t in items if (start is None or t.time >= start) and (end is None or t.time <= end)]
    return inside[:limit] if start is not None else inside[-limit:]


def candles(trades: list[Trade], step: int, start: int | None, end: int | None, limit: int,
            now: int) -> list[Candle]:
    """At most ``limit`` candles of ``step`` ms whose open time is in ``[start, end]``: the first ones
    from ``start`` when it is given, else the latest ones (``trades`` sorted by time)."""
    if not trades:
        return []
    first, last = trades[0].time // step * step, max(now, trades[-1].time) // step * step
    low = first if start is None else max(first, -(-start // step) * step)
    high = last if end is None else min(last, end // step * step)
    if low > high:
        return []
    if start is not None:
        high = min(high, low + (limit - 1) * step)
    else:
        low = max(low, high - (limit - 1) * step)
    previous = [t for t in trades if t.time < low]
    close = previous[-1].price if previous else trades[0].price
    by_bucket: dict[int, list[Trade]] = {}
    for trade in trades:
        if low <= trade.time < high + step:
            by_bucket.setdefault(trade.time // step * step, []).append(trade)
    result = []
    for open_time in range(low, high + step, step):
        candle = Candle(open_time, open_time + step - 1, close, close, close, close)
        for trade in by_bucket.get(open_time, []):
            candle.add(trade)
        close = candle.close
        result.append(candle)
    return result


@dataclass
class Stats:
    """The rolling 24 h ticker of a tape (Binance ``/api/v3/ticker/24hr`` and ``<symbol>@ticker``)."""

    trades: list[Trade]
    open_time: int
    close_time: int

    @classmethod
    def of(cls, tape: list[Trade], now: int) -> Stats:
        return cls([t for t in tape if now - DAY_MS <= t.time <= now], now - DAY_MS, now)

    @property
    def open(self) -> Decimal:
        return self.trades[0].price if self.trades else ZERO

    @property
    def last(self) -> Decimal:
        return self.trades[-1].price if self.trades else ZERO

    @property
    def last_qty(self) -> Decimal:
        return self.trades[-1].qty if self.trades else ZERO

    @property
    def high(self) -> Decimal:
        return max((t.price for t in self.trades), default=ZERO)

    @property
    def low(self) -> Decimal:
        return min((t.price for t in self.trades), default=ZERO)

    @property
    def volume(self) -> Decimal:
        return sum((t.qty for t in self.trades), ZERO)

    @property
    def quote_volume(self) -> Decimal:
        return sum((t.qty * t.price for t in self.trades), ZERO)

    @property
    def weighted_average(self) -> Decimal:
        return self.quote_volume / self.volume if self.volume else ZERO

    @property
    def change_percent(self) -> Decimal:
        return (self.last - self.open) * 100 / self.open if self.open else ZERO
