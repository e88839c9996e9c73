"""money: parse_decimal, to_scaled/to_steps details not covered by the golden file."""

from __future__ import annotations

import pytest

from ceres.domain.errors import CeresError, ErrorCode
from ceres.domain.money import MAX_DECIMAL_LEN, ceil_div, decimals_of, format_scaled, parse_decimal, to_scaled, to_steps


@pytest.mark.parametrize(("text", "expect"), [
    ("10", (10, 0)), ("1.50", (15, 1)), ("0.000011", (11, 6)), (".5", (5, 1)),
    ("5.", (5, 0)), ("0.0", (0, 0)), ("007.700", (77, 1)), ("100", (100, 0)),
])
def test_parse_decimal_is_minimal(text: str, expect: tuple[int, int]) -> None:
    assert parse_decimal(text, "f") == expect


def test_max_length_is_inclusive() -> None:
    assert MAX_DECIMAL_LEN == 40
    assert parse_decimal("9" * 40, "f") == (int("9" * 40), 0)
    with pytest.raises(CeresError) as info:
        parse_decimal("9" * 41, "f")
    assert info.value.error is ErrorCode.INVALID_DECIMAL


def test_errors_name_the_field() -> None:
    with pytest.raises(CeresError) as info:
        to_scaled("1e5", 8, "entrust_vol")
    assert info.value.field == "entrust_vol"
    assert info.value.message.startswith("entrust_vol")
    with pytest.raises(CeresError) as info:
        to_scaled(5, 8, "amount")
    assert (info.value.error, info.value.field) == (ErrorCode.INVALID_TYPE, "amount")


def test_off_grid_code_is_the_callers() -> None:
    with pytest.raises(CeresError) as info:
        to_scaled("0.001", 2, "x", ErrorCode.PRICE_OFF_TICK)
    assert info.value.error is ErrorCode.PRICE_OFF_TICK
    with pytest.raises(CeresError) as info:
        to_scaled("0.001", 2, "x")
    assert info.value.error is ErrorCode.AMOUNT_OFF_GRID


def test_to_steps_rejects_partial_steps_and_never_rounds() -> None:
    assert to_steps("0.15", 5, 2, "p", ErrorCode.PRICE_OFF_TICK) == 3
    for text in ("0.14", "0.16", "0.149999"):
        with pytest.raises(CeresError) as info:
            to_steps(text, 5, 2, "p", ErrorCode.PRICE_OFF_TICK)
        assert info.value.error is ErrorCode.PRICE_OFF_TICK
    with pytest.raises(CeresError) as info:
        to_steps("0.16", 5, 2, "p", ErrorCode.PRICE_OFF_TICK)
    assert "0.05" in info.value.message  # names the step
    assert to_steps("0", 5, 2, "p", ErrorCode.PRICE_OFF_TICK, allow_zero=True) == 0


def test_decimals_of_and_ceil_div() -> None:
    assert [decimals_of(t) for t in ("0.05", "1", "0.10", "0.00000001")] == [2, 0, 1, 8]
    assert [ceil_div(a, 4) for a in (0, 1, 4, 5, 8)] == [0, 1, 1, 2, 2]


def test_format_never_uses_exponent() -> None:
    for value, dec in ((1, 30), (10**30, 0), (-(10**25), 5), (7, 8)):
        text = format_scaled(value, dec)
        assert "e" not in text.lower()
        assert not (("." in text) and text.endswith("0"))
