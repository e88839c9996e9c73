"""Contract streams (``contract_streams``): after every command the engine is consistent
(``engine.check()``: no negative balance or freeze, frozen = order freezes + margins,
close reservations, open interest balanced, the insurance fund not negative, conservation
with fees, insurance and the open-PnL pool) and an independent recount agrees, with the
money audit too (``contract_recount``); replaying the stream reproduces every result,
event and the state hash; a snapshot at a random point plus the rest of the stream does
too, and the restored engine passes the same checks."""

from __future__ import annotations

from typing import Any

import hypothesis.strategies as st
from contract_recount import Recount
from contract_streams import DECIMALS, instruments, new_engine, run_stream
from hypothesis import HealthCheck, event, given, settings
from replay_checks import check_replay, check_snapshot_then_rest

from ceres.domain.errors import CeresError
from ceres.domain.events import OrderEvent, PositionEvent, TradeEvent
from ceres.engine.core import CancelResult, Engine

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _events(eng: Engine) -> list[tuple]:
    out = []
    for e in eng.take_events():
        if isinstance(e, OrderEvent):
            out.append(("o", e.spec.oid, e.status, e.filled, e.dealt, e.commission, e.deal_vol, e.deal_price))
        elif isinstance(e, TradeEvent):
            out.append(("t", e.tid, e.price, e.lots, e.maker.oid, e.taker.oid, e.maker_fee, e.taker_fee))
        elif isinstance(e, PositionEvent):
            out.append(("p", e.kind, e.product, e.oid, e.deal_id, e.force, e.margin, e.tp, e.sl, e.vol))
        else:
            raise AssertionError(f"unexpected event {e!r}")
    return out


def _result(result: Any) -> Any:
    if isinstance(result, CancelResult):
        return (tuple(result.ok), tuple(result.failed))
    return result


@SETTINGS
@given(st.data())
def test_contract_streams_stay_consistent(data: st.DataObject) -> None:
    eng = new_engine()
    rc = Recount(eng)
    run_stream(data, eng, rc)
    for k, v in rc.stats.items():
        event(f"{k}: {'some' if v else 'none'}")
    event(f"positions left: {'some' if eng.contracts.positions else 'none'}")


def _record(data: st.DataObject) -> tuple[Engine, list, list]:
    eng = new_engine()
    eng.take_events()
    outcomes: list = []
    applied = run_stream(data, eng, lambda cmd, result: outcomes.append((_result(result), _events(eng))))
    return eng, applied, outcomes


def _outcome(eng: Engine, cmd, seq: int, now: int) -> tuple[Any, list]:
    try:
        result: Any = eng.apply(cmd, seq, now)
    except CeresError as exc:
        result = exc.error.name
    return _result(result), _events(eng)


@SETTINGS
@given(st.data())
def test_contract_replay_reproduces_state_hash(data: st.DataObject) -> None:
    eng, applied, outcomes = _record(data)
    check_replay(new_engine, _outcome, eng, applied, outcomes)


@SETTINGS
@given(st.data())
def test_contract_snapshot_at_random_point_plus_rest(data: st.DataObject) -> None:
    recorder, applied, outcomes = _record(data)
    cut = data.draw(st.integers(0, len(applied)), label="cut")
    check_snapshot_then_rest(new_engine, lambda: Engine(instruments(), DECIMALS), _outcome, recorder,
                             applied, outcomes, cut)
