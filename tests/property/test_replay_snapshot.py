"""Determinism: the same command stream replayed into a fresh engine gives the same state
hash, and a snapshot taken at a random point plus the rest of the stream does too, with
the same results and events along the way."""

from __future__ import annotations

from typing import Any

import hypothesis.strategies as st
import msgspec
from hypothesis import HealthCheck, given, settings

from ceres.domain.errors import CeresError
from ceres.domain.secret import secret_enc_hook
from ceres.engine.core import Engine
from ceres.engine.orders import OrderEvent
from ceres.engine.snapshot import engine_state, restore_engine
from streams import DECIMALS, instruments, new_engine, run_stream

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
            out.append((e.order.oid, e.status, e.filled, e.dealt, e.commission, e.deal_vol))
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
    twin = new_engine()
    twin.take_events()
    replayed = [_outcome(twin, cmd, seq, now) for cmd, seq, now in applied]
    assert replayed == outcomes
    assert twin.state_hash() == eng.state_hash()
    assert twin.check() == [] and eng.check() == []


@SETTINGS
@given(st.data())
def test_snapshot_at_random_point_plus_rest(data: st.DataObject) -> None:
    recorder, applied, outcomes = _record(data)
    cut = data.draw(st.integers(0, len(applied)), label="cut")
    eng = new_engine()
    eng.take_events()
    for cmd, seq, now in applied[:cut]:
        _outcome(eng, cmd, seq, now)
    blob = msgspec.msgpack.encode(engine_state(eng), enc_hook=secret_enc_hook)
    restored = Engine(instruments(), DECIMALS)
    restore_engine(restored, msgspec.msgpack.decode(blob))
    assert restored.state_hash() == eng.state_hash()
    assert restored.check() == []
    rest = [_outcome(restored, cmd, seq, now) for cmd, seq, now in applied[cut:]]
    assert rest == outcomes[cut:]
    assert restored.state_hash() == recorder.state_hash()
    assert restored.check() == []
