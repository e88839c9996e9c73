"""The history port: the projection store written from durable events, read by queries.

* :class:`Projector` — written only by the background thread (``pipeline.background``),
  idempotent by sequence number: ``apply`` skips what it already holds, so feeding the
  same events twice changes nothing and a restart catches it up from the journal;
* :class:`HistoryReader` — read on the event-loop thread: finished orders, fills, public
  trades and candles, as integer rows (ticks, lots, minor units).

``ceres.store.sqlite`` implements both on SQLite (the embedded default), ``ceres.store.postgres``
on PostgreSQL (``[store] backend``; docs/history-store.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple, Protocol

from ceres.domain.events import Event, OrderEvent, PositionEvent
from ceres.domain.instruments import Instrument

Batch = list[tuple[int, list[Event]]]
"""``(seq, events)`` per command, in sequence order."""


class OrderRow(NamedTuple):
    oid: int
    product: str
    exchange: str
    contract: str
    side: int
    ptype: int
    fdir: int
    price: int
    vol: int
    client_oid: str
    time_ms: int
    lever: int
    profit: int
    stop: int
    status: int
    filled: int
    dealt: int
    commission: int
    reason: str = ""  # a live venue's refusal (status 6): "CODE text"


class FillRow(NamedTuple):
    tid: int
    oid: int
    exchange: str
    contract: str
    side: int
    ptype: int
    fdir: int
    client_oid: str
    lots: int
    price: int
    time_ms: int
    fee: int


class TradeRow(NamedTuple):
    tid: int
    time_ms: int
    price: int
    lots: int
    taker_side: int


Bar = tuple[int, int, int, int, int, int]
"""``(time, open, high, low, close, volume)``."""


class Projector(Protocol):
    def last_seq(self) -> int:
        """The last sequence number the store holds."""

    def apply(self, items: Batch) -> None:
        """Apply ``(seq, events)`` pairs in order, idempotently (``seq <= last_seq``
        ignored); raises on a storage failure (the caller stops projecting)."""

    def close(self) -> None: ...


class HistoryReader(Protocol):
    def orders_by_ids(self, product: str, ids: list[int]) -> dict[int, OrderRow]: ...

    def recent_notices(self, retention: int, instruments: Mapping[tuple[str, str], Instrument]
                       ) -> dict[str, list[OrderEvent | PositionEvent]]:
        """The newest ``retention`` notices of every product, oldest first (so 19003's
        ``since`` replays across a restart)."""

    def order_owner(self, oid: int) -> str | None: ...

    def recent_orders(self, product: str, *, exchange: str | None = None, contract: str | None = None,
                      status: int | None = None, limit: int = 100) -> list[OrderRow]: ...

    def fills(self, product: str, exchange: str, contract: str, count: int) -> list[FillRow]: ...

    def trades(self, exchange: str, contract: str, begin: int | None, end: int | None,
               size: int) -> list[TradeRow]:
        """Public trades in time order: both bounds -> all in range (up to ``size``);
        ``begin`` -> the first ``size`` from it; otherwise the last ``size`` up to
        ``end`` (API.md section 5)."""

    def candles(self, exchange: str, contract: str, duration: int, begin: int | None, end: int | None,
                size: int) -> list[Bar]:
        """Bars of ``duration`` ms in time order (range rules of ``trades``)."""

    def last_seq(self) -> int: ...
