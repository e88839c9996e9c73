"""Golden cases pinning exact ids (tests/golden/ids.json): a change of epoch, shift or
tie rule would renumber every journaled id, so it must show up here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ceres.domain.ids import IdGen, id_time_ms

GOLDEN = json.loads((Path(__file__).parent / "ids.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", GOLDEN["next"], ids=lambda c: f"{c['time_ms']}/{c['last']}")
def test_next_id(case: dict) -> None:
    gen = IdGen(int(case["last"]))
    ident = gen.next(case["time_ms"])
    assert ident == int(case["id"])
    assert gen.last == ident


@pytest.mark.parametrize("case", GOLDEN["decode"], ids=lambda c: c["id"])
def test_decode(case: dict) -> None:
    assert id_time_ms(int(case["id"])) == case["time_ms"]
