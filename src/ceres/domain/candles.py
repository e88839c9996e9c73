"""Candle arithmetic (pure): durations, bar boundaries, merging trades into bars.

Durations ``1m 5m 15m 30m 1h 4h 1d``; a bar's ``time`` is its start in ms, aligned to
multiples of the duration since the Unix epoch (so hours and days are UTC-aligned). A bar
holds integer ticks (open, high, low, close) and lots (volume).
"""

from __future__ import annotations

DURATIONS: dict[str, int] = {
    "1m": 60_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "4h": 14_400_000,
    "1d": 86_400_000,
}
NAMES = {ms: name for name, ms in DURATIONS.items()}


def bar_start(time_ms: int, duration_ms: int) -> int:
    return time_ms - time_ms % duration_ms


class Bar:
    __slots__ = ("close", "high", "low", "open", "time", "volume")

    def __init__(self, time: int, price: int, lots: int = 0) -> None:
        self.time = time
        self.open = self.high = self.low = self.close = price
        self.volume = lots

    def add(self, price: int, lots: int) -> None:
        if price > self.high:
            self.high = price
        if price < self.low:
            self.low = price
        self.close = price
        self.volume += lots

    def merge(self, other: Bar) -> None:
        """Fold a later bar of the same period into this one."""
        self.high = max(self.high, other.high)
        self.low = min(self.low, other.low)
        self.close = other.close
        self.volume += other.volume

    def row(self) -> tuple[int, int, int, int, int, int]:
        return (self.time, self.open, self.high, self.low, self.close, self.volume)

    @classmethod
    def from_row(cls, row: tuple[int, ...]) -> Bar:
        bar = cls(row[0], row[1])
        bar.high, bar.low, bar.close, bar.volume = row[2], row[3], row[4], row[5]
        return bar


def fold_trades(trades: list[tuple[int, int, int]], duration_ms: int) -> list[Bar]:
    """Bars of ``duration_ms`` from ``(time_ms, price, lots)`` trades in time order."""
    bars: list[Bar] = []
    for t, price, lots in trades:
        start = bar_start(t, duration_ms)
        if bars and bars[-1].time == start:
            bars[-1].add(price, lots)
        else:
            bars.append(Bar(start, price, lots))
    return bars
