"""The event dispatcher: the one place that sorts events by type and hands them out.

After a batch is durable the sequencer passes its ``(seq, events)`` items to a
:class:`Dispatcher`; the projection writer passes them to its own on the background
thread. Each subscription names the event types it wants and a handler; per dispatch the
handler is called once with the list of its events, in the order the engine produced
them (so a handler that wants order and position events gets them interleaved as they
happened, which 19003's ``seq`` relies on). Handlers with nothing to receive are not
called. A handler that raises is logged and skipped; the others still run.

Cost: one type lookup per event plus one append per interested subscription, and one
call per subscription per batch (not per event).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from ceres.domain.events import Event, FillEvent, OrderEvent, PositionEvent, TradeEvent

log = logging.getLogger("ceres.dispatch")
Handler = Callable[[list[Any]], None]
Subscription = tuple[tuple[type, ...], Handler]
EVENT_TYPES: tuple[type, ...] = (OrderEvent, TradeEvent, PositionEvent, FillEvent)
Items = Sequence[tuple[int, Sequence[Event]]]


class Dispatcher:
    def __init__(self, subscriptions: Sequence[Subscription]) -> None:
        for types, _ in subscriptions:
            unknown = [t for t in types if t not in EVENT_TYPES]
            if unknown:
                raise ValueError(f"not an event type: {unknown}")
        self._subs = tuple(handler for _, handler in subscriptions)
        # event type -> indexes of the subscriptions that want it
        self._routes: dict[type, tuple[int, ...]] = {
            t: tuple(i for i, (types, _) in enumerate(subscriptions) if t in types) for t in EVENT_TYPES}

    def dispatch(self, items: Items) -> None:
        if not self._subs:
            return
        lists: list[list[Any]] = [[] for _ in self._subs]
        routes = self._routes
        for _, events in items:
            for ev in events:
                for i in routes[ev.__class__]:
                    lists[i].append(ev)
        for handler, evs in zip(self._subs, lists, strict=True):
            if evs:
                try:
                    handler(evs)
                except Exception:
                    log.exception("event handler %s failed", getattr(handler, "__qualname__", handler))
