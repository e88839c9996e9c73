"""Determinism: the same command stream replayed into a fresh engine gives the same state
hash, and a snapshot taken at a random point plus the rest of the stream does too, with
the same results and events along the way."""

from __future__ import annotations

from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings
from replay_checks import check_replay, check_snapshot_then_rest
from streams import DECIMALS, instruments, new_engine, run_stream

from ceres.domain.errors import CeresError
from ceres.domain.events import OrderEvent
from ceres.engine.core import Engine

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _outcome(eng: Engine, cmd, seq: int, now: int) -> tuple[Any, list]:
    try:
        result: Any = eng.apply(cmd, seq, now)
    except CeresError as exc:
        result = exc.error.name
    return result, _events(eng)


def _events(eng: Engine) -> list[tuple]:
    out = []
    for e in eng.take_events():
        if isinstance(e, OrderEvent):
            out.append((e.spec.oid, e.status, e.filled, e.dealt, e.commission, e.deal_vol))
        else:
            out.append((e.tid, e.price, e.lots, e.maker.oid, e.taker.oid, e.maker_fee, e.taker_fee))
    return out


def _record(data: st.DataObject) -> tuple[Engine, list, list]:
    eng = new_engine()
    eng.take_events()
    outcomes: list = []
    applied = run_stream(data, eng, lambda cmd, result: outcomes.append((result, _events(eng))))
    return eng, applied, outcomes


@SETTINGS
@given(st.data())
def test_replay_reproduces_state_hash(data: st.DataObject) -> None:
    eng, applied, outcomes = _record(data)
    check_replay(new_engine, _outcome, eng, applied, outcomes)


@SETTINGS
@given(st.data())
def test_snapshot_at_random_point_plus_rest(data: st.DataObject) -> None:
    recorder, applied, outcomes = _record(data)
    cut = data.draw(st.integers(0, len(applied)), label="cut")
    check_snapshot_then_rest(new_engine, lambda: Engine(instruments(), DECIMALS), _outcome, recorder,
                             applied, outcomes, cut)
