"""Properties of decimal conversion and ids, with Decimal and plain arithmetic as oracles."""

from __future__ import annotations

from decimal import Decimal, localcontext

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from ceres.domain.errors import CeresError, ErrorCode
from ceres.domain.ids import ID_EPOCH_MS, IdGen, id_time_ms
from ceres.domain.money import format_scaled, to_scaled

FAST = settings(max_examples=200, deadline=None)


@FAST
@given(st.integers(-(10**30), 10**30), st.integers(0, 18))
def test_format_then_parse_round_trips(value: int, decimals: int) -> None:
    text = format_scaled(value, decimals)
    assert Decimal(text) == Decimal(f"{value}E-{decimals}")  # exact, no context rounding
    assert "e" not in text.lower() and not ("." in text and text.endswith("0"))
    assert text.lstrip("-") == format_scaled(abs(value), decimals)
    if value >= 0:
        assert to_scaled(text, decimals, "v", allow_zero=True) == value


@FAST
@given(st.text(alphabet="0123456789.", min_size=1, max_size=12), st.integers(0, 10))
def test_parse_agrees_with_decimal(text: str, decimals: int) -> None:
    try:
        got = to_scaled(text, decimals, "v", allow_zero=True)
    except CeresError as exc:
        got = exc.error
    if text.count(".") > 1 or text == ".":
        assert got is ErrorCode.INVALID_DECIMAL
        return
    with localcontext(prec=100):
        exact = Decimal(text).scaleb(decimals)
    if exact != exact.to_integral_value():
        assert got is ErrorCode.AMOUNT_OFF_GRID
    else:
        assert got == int(exact)


@FAST
@given(st.text(min_size=1, max_size=8).filter(lambda t: not all(c in "0123456789." for c in t)))
def test_anything_but_digits_and_a_point_is_invalid(text: str) -> None:
    with pytest.raises(CeresError) as info:
        to_scaled(text, 8, "v", allow_zero=True)
    assert info.value.error is ErrorCode.INVALID_DECIMAL


@FAST
@given(st.integers(0, 10**15), st.lists(st.integers(-10_000, 10_000), min_size=1, max_size=50))
def test_ids_increase_and_never_predate_their_time(start: int, steps: list[int]) -> None:
    gen, t, prev = IdGen(), ID_EPOCH_MS + 10**11 + start % 10**11, 0
    for step in steps:
        t += step
        ident = gen.next(t)
        assert ident > prev
        assert id_time_ms(ident) >= t  # an id never claims a time before its command's
        prev = ident
