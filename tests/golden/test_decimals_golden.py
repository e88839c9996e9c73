"""Golden cases for wire decimal <-> integer conversion (tests/golden/decimals.json)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import pytest

from ceres.domain.errors import CeresError, ErrorCode
from ceres.domain.money import format_scaled, to_scaled
from engine_helpers import spot

GOLDEN = json.loads((Path(__file__).parent / "decimals.json").read_text(encoding="utf-8"))
FIELDS = {"price": "entrust_price", "vol": "entrust_vol", "scaled": "amount"}


@lru_cache
def _inst(tick: str, lot: str):
    return spot(tick=tick, lot=lot, base_dec=18, quote_dec=18)


def _convert(case: dict) -> int:
    fn, text = case["fn"], case["input"]
    if fn == "price":
        return _inst(case["tick"], "0.0001").price_to_ticks(text)
    if fn == "vol":
        return _inst("0.01", case["lot"]).vol_to_lots(text)
    return to_scaled(text, case["decimals"], "amount", allow_zero=case.get("allow_zero", False))


def _case_id(case: dict) -> str:
    grid = case.get("tick") or case.get("lot") or f"d{case.get('decimals')}"
    return f"{case['fn']}[{grid}]:{case['input']!r}"


@pytest.mark.parametrize("case", GOLDEN["convert"], ids=_case_id)
def test_convert(case: dict) -> None:
    expect = case["expect"]
    if isinstance(expect, dict):
        with pytest.raises(CeresError) as info:
            _convert(case)
        assert info.value.error is ErrorCode[expect["error"]]
        assert info.value.field == FIELDS[case["fn"]]
        assert FIELDS[case["fn"]] in info.value.message  # the message names the field
    else:
        assert _convert(case) == expect


@pytest.mark.parametrize("case", GOLDEN["format"], ids=lambda c: f"{c['value']}e-{c['decimals']}")
def test_format(case: dict) -> None:
    value, decimals, text = case["value"], case["decimals"], case["text"]
    assert format_scaled(value, decimals) == text
    # round trip: the text parses back to the same integer on the same grid
    if value >= 0:
        assert to_scaled(text, decimals, "v", allow_zero=True) == value
    else:
        assert text.startswith("-")
        assert to_scaled(text[1:], decimals, "v") == -value


def test_golden_file_covers_every_required_edge() -> None:
    inputs = {c["input"] for c in GOLDEN["convert"] if isinstance(c["input"], str)}
    required = {"10", "0.000011", ".5", "5.", "1.50", "-1", "+1", "1e5", "1E-3", "NaN",
                "Infinity", "", " 1", "1 ", "1_000", "\u0661", "..", "1.2.3", "0"}
    assert required <= inputs
    assert any(len(i) == 41 for i in inputs)
    codes = {c["expect"]["error"] for c in GOLDEN["convert"] if isinstance(c["expect"], dict)}
    assert {"PRICE_OFF_TICK", "VOLUME_OFF_STEP", "INVALID_TYPE", "INVALID_DECIMAL",
            "AMOUNT_OFF_GRID", "PRICE_OUT_OF_RANGE", "VOLUME_OUT_OF_RANGE"} <= codes
