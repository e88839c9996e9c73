"""Determinism checks shared by the spot and contract property tests: a recorded command
stream replayed into a fresh engine, and a snapshot taken at a cut point (through bytes)
plus the rest of the stream, must reproduce every outcome and the state hash."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from ceres.domain.secret import secret_enc_hook
from ceres.engine.core import Engine
from ceres.engine.snapshot import engine_state, restore_engine

Outcome = Callable[[Engine, Any, int, int], Any]


def check_replay(new_engine: Callable[[], Engine], outcome: Outcome, recorder: Engine,
                 applied: list, outcomes: list) -> None:
    twin = new_engine()
    twin.take_events()
    replayed = [outcome(twin, cmd, seq, now) for cmd, seq, now in applied]
    assert replayed == outcomes
    assert twin.state_hash() == recorder.state_hash()
    assert twin.check() == [] and recorder.check() == []


def check_snapshot_then_rest(new_engine: Callable[[], Engine], empty_engine: Callable[[], Engine],
                             outcome: Outcome, recorder: Engine, applied: list, outcomes: list,
                             cut: int) -> None:
    eng = new_engine()
    eng.take_events()
    for cmd, seq, now in applied[:cut]:
        outcome(eng, cmd, seq, now)
    blob = msgspec.msgpack.encode(engine_state(eng), enc_hook=secret_enc_hook)
    restored = empty_engine()
    restore_engine(restored, msgspec.msgpack.decode(blob))
    assert restored.state_hash() == eng.state_hash()
    assert restored.check() == []
    rest = [outcome(restored, cmd, seq, now) for cmd, seq, now in applied[cut:]]
    assert rest == outcomes[cut:]
    assert restored.state_hash() == recorder.state_hash()
    assert restored.check() == []
