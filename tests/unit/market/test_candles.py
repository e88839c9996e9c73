"""Candle arithmetic (``ceres.domain.candles``): durations, bar boundaries aligned to the
epoch, folding trades into bars, merging bars of a shorter duration into a longer one."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from ceres.domain.candles import DURATIONS, NAMES, Bar, bar_start, fold_trades

MIN = 60_000
T = int(datetime(2025, 10, 9, 13, 47, 31, 250_000, tzinfo=UTC).timestamp() * 1000)


def test_durations_and_names():
    assert list(DURATIONS) == ["1m", "5m", "15m", "30m", "1h", "4h", "1d"]
    assert DURATIONS == {"1m": MIN, "5m": 5 * MIN, "15m": 15 * MIN, "30m": 30 * MIN, "1h": 60 * MIN,
                         "4h": 240 * MIN, "1d": 1440 * MIN}
    assert {NAMES[ms]: ms for ms in NAMES} == DURATIONS


def utc(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


def test_bar_start_is_aligned_to_utc_epoch_multiples():
    assert bar_start(T, DURATIONS["1m"]) == utc(2025, 10, 9, 13, 47)
    assert bar_start(T, DURATIONS["5m"]) == utc(2025, 10, 9, 13, 45)
    assert bar_start(T, DURATIONS["15m"]) == utc(2025, 10, 9, 13, 45)
    assert bar_start(T, DURATIONS["30m"]) == utc(2025, 10, 9, 13, 30)
    assert bar_start(T, DURATIONS["1h"]) == utc(2025, 10, 9, 13)
    assert bar_start(T, DURATIONS["4h"]) == utc(2025, 10, 9, 12)
    assert bar_start(T, DURATIONS["1d"]) == utc(2025, 10, 9)
    # boundaries: the first ms of a bar belongs to it, the last ms before it to the previous one
    start = utc(2025, 10, 9, 14)
    assert bar_start(start, MIN) == start and bar_start(start - 1, MIN) == start - MIN
    assert bar_start(start + MIN - 1, MIN) == start
    assert bar_start(0, MIN) == 0


@given(st.integers(min_value=0, max_value=2**45), st.sampled_from(list(DURATIONS.values())))
def test_bar_start_properties(t, d):
    s = bar_start(t, d)
    assert s % d == 0 and s <= t < s + d


def test_bar_add_keeps_open_widens_range_moves_close():
    bar = Bar(1000, 50, 3)
    assert bar.row() == (1000, 50, 50, 50, 50, 3)
    bar.add(55, 1)
    bar.add(45, 2)
    bar.add(48, 4)
    assert bar.row() == (1000, 50, 55, 45, 48, 10)
    assert Bar(7, 9).row() == (7, 9, 9, 9, 9, 0)


def test_bar_merge_and_row_round_trip():
    first = Bar(0, 100, 1)
    first.add(90, 1)
    later = Bar(MIN, 95, 2)
    later.add(120, 1)
    later.add(110, 1)
    first.merge(later)
    assert first.row() == (0, 100, 120, 90, 110, 6)
    assert Bar.from_row(first.row()).row() == first.row()


def test_fold_trades_across_boundaries():
    b = utc(2025, 10, 9, 13, 44)
    trades = [(b + 100, 10, 1), (b + 59_999, 12, 2), (b + MIN, 11, 3), (b + MIN + 5, 9, 1), (b + 3 * MIN, 15, 5)]
    assert [x.row() for x in fold_trades(trades, MIN)] == [
        (b, 10, 12, 10, 12, 3), (b + MIN, 11, 11, 9, 9, 4), (b + 3 * MIN, 15, 15, 15, 15, 5)]
    # 13:44 and 13:45 fall in different 5-minute bars (13:40, 13:45); 13:45 and 13:47 in one
    assert [x.row() for x in fold_trades(trades, 5 * MIN)] == [
        (b - 4 * MIN, 10, 12, 10, 12, 3), (b + MIN, 11, 15, 9, 15, 9)]
    assert [x.row() for x in fold_trades(trades, DURATIONS["1d"])] == [(utc(2025, 10, 9), 10, 15, 9, 15, 12)]
    assert fold_trades([], MIN) == []


trade_lists = st.lists(st.tuples(st.integers(0, 3 * 3_600_000), st.integers(1, 10**6), st.integers(1, 10**4)),
                       max_size=60).map(lambda ts: sorted(ts, key=lambda x: x[0]))


@settings(max_examples=200, deadline=None)
@given(trade_lists)
def test_longer_bars_are_merges_of_shorter_ones(trades):
    """Folding trades at 5m (or 1h) equals folding them at 1m and merging bars per period;
    every bar's open/close are its first/last trade, high/low the extremes, volume the sum."""
    minutes = fold_trades(trades, MIN)
    for name in ("5m", "15m", "1h", "1d"):
        d = DURATIONS[name]
        merged: list[Bar] = []
        for m in minutes:
            start = bar_start(m.time, d)
            if merged and merged[-1].time == start:
                merged[-1].merge(m)
            else:
                merged.append(Bar.from_row((start, *m.row()[1:])))
        assert [x.row() for x in merged] == [x.row() for x in fold_trades(trades, d)]
    for bar in fold_trades(trades, 5 * MIN):
        inside = [(p, v) for t, p, v in trades if bar.time <= t < bar.time + 5 * MIN]
        assert bar.open == inside[0][0] and bar.close == inside[-1][0]
        assert bar.high == max(p for p, _ in inside) and bar.low == min(p for p, _ in inside)
        assert bar.volume == sum(v for _, v in inside)
