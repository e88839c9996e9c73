"""IdGen: strictly increasing, time-carrying, 18-19 digit ids."""

from __future__ import annotations

import calendar
import itertools

import pytest

from ceres.domain.ids import ID_EPOCH_MS, ID_MAX, ID_SHIFT, IdGen, id_floor, id_time_ms


def _ms(year: int, month: int = 1, day: int = 1) -> int:
    return calendar.timegm((year, month, day, 0, 0, 0)) * 1000


def test_epoch_is_2018() -> None:
    assert _ms(2018) == ID_EPOCH_MS
    assert id_floor(ID_EPOCH_MS) == 0


def test_strictly_increasing_over_a_mixed_clock() -> None:
    gen = IdGen()
    t = _ms(2024)
    times = [t, t, t + 5, t + 5, t - 1000, t + 2, t + 10_000, t + 10_000, t - 10**9]
    ids = [gen.next(x) for x in times]
    assert all(b > a for a, b in itertools.pairwise(ids))
    assert gen.last == ids[-1]


@pytest.mark.parametrize("year", [2019, 2020, 2025, 2026, 2040, 2060, 2080])
def test_time_round_trip_and_digits(year: int) -> None:
    t = _ms(year) + 123
    ident = IdGen().next(t)
    assert id_time_ms(ident) == t
    assert ident == (t - ID_EPOCH_MS) << ID_SHIFT
    # API.md: ids are numeric strings of 18-19 digits
    assert len(str(ident)) in (18, 19)
    if year >= 2026:
        assert len(str(ident)) == 19
    assert ident <= ID_MAX


def test_nineteen_digits_from_july_2025_and_below_2_63_in_2087() -> None:
    first19 = 10**18
    t = id_time_ms(first19)
    assert len(str(id_floor(t))) == 18 and len(str(id_floor(t + 1))) == 19
    assert calendar.timegm((2025, 7, 22, 0, 0, 0)) * 1000 <= t < _ms(2025, 7, 23)
    assert id_floor(_ms(2087, 9, 1)) <= ID_MAX < id_floor(_ms(2087, 10, 1))


def test_many_ids_in_one_millisecond() -> None:
    gen = IdGen()
    t = _ms(2024, 3, 1)
    ids = [gen.next(t) for _ in range(10_000)]
    assert ids == list(range(ids[0], ids[0] + 10_000))
    assert {id_time_ms(i) for i in ids} == {t}
    # the next millisecond starts at its own floor again
    assert gen.next(t + 1) == id_floor(t + 1)


def test_overflowing_a_millisecond_spills_into_the_next() -> None:
    t = _ms(2024, 3, 1)
    gen = IdGen(id_floor(t + 1) - 1)
    assert gen.next(t) == id_floor(t + 1)
    assert id_time_ms(gen.last) == t + 1


def test_clock_going_backward_still_increases() -> None:
    gen = IdGen()
    late = gen.next(_ms(2030))
    early = gen.next(_ms(2020))
    assert early == late + 1
    assert id_time_ms(early) == _ms(2030)


def test_state_is_only_the_last_id() -> None:
    a, b = IdGen(), IdGen()
    t = _ms(2024)
    for _ in range(5):
        a.next(t)
    b.last = a.last
    assert a.next(t) == b.next(t)
