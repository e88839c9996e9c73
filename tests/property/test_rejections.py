"""A refused command changes nothing: on random streams (spot and contracts) with invalid
commands mixed in — unknown products and instruments, bad sides and price types, time in
force that cannot apply, post-only orders that would take, self-trade prevention modes
that do not exist, off-range prices and volumes, too little money, closes with nothing to
close — every command the engine refuses leaves the state hash, the sequence
number, the clock, the id generator and the event list exactly as they were."""

from __future__ import annotations

from typing import Any

import contract_streams
import hypothesis.strategies as st
import msgspec
from hypothesis import HealthCheck, event, given, settings
from streams import PRODUCTS, SPECS, draw_op, new_engine, op_commands

from ceres.domain import commands as C
from ceres.domain.errors import CeresError
from ceres.engine.core import Engine

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def spoil(data: st.DataObject, cmd: C.Command) -> C.Command:
    """Sometimes make a command invalid in one field."""
    if not isinstance(cmd, C.Place) or not data.draw(st.booleans(), label="spoil"):
        return cmd
    field, value = data.draw(st.sampled_from([
        ("product", "nobody"), ("contract", "NOPE/USDT"), ("exchange", "MOON"), ("side", 3),
        ("price_type", 0), ("tif", 4), ("tif", 5), ("tif", 1), ("stp", 4), ("stp", -1), ("price", 10**16),
        ("vol", 10**16), ("vol", 0), ("client_oid", "x" * 65), ("future_dir", 2), ("lever", 0),
    ]), label="spoiled")
    return msgspec.structs.replace(cmd, **{field: value})


def apply_checked(eng: Engine, cmd: C.Command, seq: int, now: int, outcomes: dict[str, int]) -> Any:
    before = (eng.state_hash(), eng.seq, eng.now, eng.ids.last, len(eng.events))
    try:
        result = eng.apply(cmd, seq, now)
    except CeresError as exc:
        after = (eng.state_hash(), eng.seq, eng.now, eng.ids.last, len(eng.events))
        assert after == before, (cmd, exc)
        outcomes[exc.error.name] = outcomes.get(exc.error.name, 0) + 1
        return None
    outcomes["accepted"] = outcomes.get("accepted", 0) + 1
    return result


@SETTINGS
@given(st.data())
def test_refused_spot_commands_change_nothing(data: st.DataObject) -> None:
    eng = new_engine()
    seq, now = eng.seq, eng.now
    known: list[int] = []
    outcomes: dict[str, int] = {}
    for p in PRODUCTS:
        for cmd in op_commands(("fund", p, SPECS[0].quote, 2_000_000)):
            seq += 1
            apply_checked(eng, cmd, seq, now, outcomes)
    for _ in range(data.draw(st.integers(10, 40), label="n")):
        for cmd in op_commands(draw_op(data, known)):
            seq += 1
            now += data.draw(st.integers(-3, 20), label="dt")
            result = apply_checked(eng, spoil(data, cmd), seq, now, outcomes)
            if isinstance(result, int):
                known.append(result)
            eng.take_events()
    assert eng.check() == []
    event(f"refused: {'some' if len(outcomes) > 1 else 'none'}")


@SETTINGS
@given(st.data())
def test_refused_contract_commands_change_nothing(data: st.DataObject) -> None:
    eng = contract_streams.new_engine()
    seq, now = eng.seq, eng.now
    known: list[int] = []
    outcomes: dict[str, int] = {}
    for p in contract_streams.PRODUCTS:
        for cur, cap in sorted(contract_streams.FUND_CAP.items()):
            for cmd in (C.Deposit(p, cur, cap // 2), C.Transfer(p, cur, cap // 2, 2, 4, "TEST")):
                seq += 1
                apply_checked(eng, cmd, seq, now, outcomes)
    for _ in range(data.draw(st.integers(10, 40), label="n")):
        for cmd in contract_streams.draw_op(data, eng, known)[1:]:
            seq += 1
            now += data.draw(st.sampled_from(contract_streams.DTS), label="dt")
            result = apply_checked(eng, spoil(data, cmd), seq, now, outcomes)
            if isinstance(result, int) and isinstance(cmd, C.Place):
                known.append(result)
            elif isinstance(result, list):
                known.extend(result)
            eng.take_events()
    assert eng.check() == []
