"""The dispatcher: each subscription gets the events of its types from a whole batch, in the
order the engine produced them, in one call; a failing handler does not stop the others."""

from __future__ import annotations

import logging

import pytest

from ceres.domain.enums import ReportKind
from ceres.domain.events import OrderEvent, OrderSpec, PositionEvent, TradeEvent
from ceres.pipeline.dispatch import Dispatcher
from journal_helpers import T0, instruments

INST = instruments()[0]


def spec(oid: int) -> OrderSpec:
    return OrderSpec(oid, "alice", INST, 1, 1, 3_000_000, 2, "", T0, 1)


def order(oid: int, seq: int) -> OrderEvent:
    return OrderEvent(spec(oid), int(ReportKind.ACCEPTED), 3, 0, 0, 0, seq=seq)


def position(oid: int, seq: int) -> PositionEvent:
    return PositionEvent("PENDING", "alice", INST, oid, 0, 0, 0, 0, 0, 2, seq)


def trade(tid: int, seq: int) -> TradeEvent:
    return TradeEvent(tid, T0, INST, 3_000_000, 1, 1, spec(1), spec(2), 0, 0, seq)


class Calls:
    def __init__(self) -> None:
        self.calls: list[list] = []

    def __call__(self, events: list) -> None:
        self.calls.append(events)


def test_each_subscription_gets_its_types_from_the_whole_batch_in_engine_order():
    notices, trades, everything = Calls(), Calls(), Calls()
    d = Dispatcher([((OrderEvent, PositionEvent), notices), ((TradeEvent,), trades),
                    ((OrderEvent, TradeEvent, PositionEvent), everything)])
    items = [(1, [order(1, 1), position(1, 1)]), (2, [order(2, 2), trade(9, 2), order(1, 2)]), (3, [])]
    d.dispatch(items)
    flat = [ev for _, evs in items for ev in evs]
    assert notices.calls == [[ev for ev in flat if not isinstance(ev, TradeEvent)]]  # one call, interleaved
    assert trades.calls == [[flat[3]]]
    assert everything.calls == [flat]


def test_a_handler_with_nothing_to_receive_is_not_called():
    trades = Calls()
    Dispatcher([((TradeEvent,), trades)]).dispatch([(1, [order(1, 1)])])
    assert trades.calls == []


def test_a_failing_handler_is_logged_and_the_others_still_run(caplog):
    def broken(events: list) -> None:
        raise RuntimeError("boom")

    after = Calls()
    d = Dispatcher([((OrderEvent,), broken), ((OrderEvent,), after)])
    with caplog.at_level(logging.ERROR, logger="ceres.dispatch"):
        d.dispatch([(1, [order(1, 1)])])
        d.dispatch([(2, [order(2, 2)])])
    assert [[ev.seq for ev in evs] for evs in after.calls] == [[1], [2]]
    assert sum("boom" in r.exc_text for r in caplog.records if r.exc_text) == 2


def test_a_subscription_to_something_that_is_not_an_event_is_refused():
    with pytest.raises(ValueError, match="not an event type"):
        Dispatcher([((OrderEvent, dict), Calls())])

