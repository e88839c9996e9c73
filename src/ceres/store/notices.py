"""The notice log of the SQLite projection: the last notices (order and position events)
of every product, so ``since=`` on 19003 replays across a restart.

Each notice is a compact JSON array of the event's fields (integers of any size; the
instrument by exchange and contract); the notices of one product in one projected group are
one row, keyed by ``(product, newest nseq)``. The projection writes them in the same
transaction as orders and fills, and keeps at least the newest ``retention`` per product
(older groups are deleted once ``retention // 2`` more notices have arrived). Like the
rest of the projection it is derived from the journal and rebuilt with it.

Both history backends use it (its table is ``notice_groups`` of ``ceres.store.rows``): SQL
is written with ``?`` placeholders here and given ``mark`` (``%s`` for psycopg) where a
backend speaks another paramstyle.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import msgspec

from ceres.domain.events import OrderEvent, OrderSpec, PositionEvent
from ceres.domain.instruments import Instrument

INSERT = "INSERT OR IGNORE INTO notice_groups VALUES (?,?,?)"


def prune_sql(mark: str = "?") -> str:
    """Deletes a product's groups up to an nseq (the arguments of ``NoticeLog.prunes``)."""
    return f"DELETE FROM notice_groups WHERE product={mark} AND last_nseq<={mark}"


PRUNE = prune_sql()
Query = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]
"""Runs one SELECT with its arguments and returns every row (a backend's reader)."""
Notice = OrderEvent | PositionEvent
Instruments = Mapping[tuple[str, str], Instrument]
_ORDER, _POSITION = 1, 2


def fields(ev: Notice) -> tuple[Any, ...]:
    """The event as a tuple of plain values (its instrument by exchange and contract)."""
    if isinstance(ev, PositionEvent):
        return (_POSITION, ev.kind, ev.product, ev.inst.exchange, ev.inst.contract, ev.oid, ev.deal_id, ev.force,
                ev.margin, ev.tp, ev.sl, ev.vol, ev.seq, ev.nseq)
    o = ev.spec
    out = (_ORDER, o.oid, o.product, o.inst.exchange, o.inst.contract, o.side, o.ptype, o.price, o.vol, o.client_oid,
           o.time, o.tif, o.fdir, o.lever, o.profit, o.stop, o.deal_id, ev.kind, ev.status, ev.filled, ev.dealt,
           ev.commission, ev.deal_vol, ev.deal_price, ev.seq, ev.nseq)
    return (*out, ev.reason) if ev.reason else out


_ORDER_NSEQ = 25  # an order notice's nseq in ``fields``: a refusal's reason may follow it


def nseq_of(f: Sequence[Any]) -> int:
    return int(f[_ORDER_NSEQ] if f[0] == _ORDER else f[-1])


def encode(ev: Notice) -> bytes:
    return msgspec.json.encode(fields(ev))


def decode(data: bytes, instruments: Instruments) -> Notice | None:
    """The event, or None if its instrument is no longer configured."""
    return from_fields(msgspec.json.decode(data), instruments)


def from_fields(f: list[Any], instruments: Instruments) -> Notice | None:
    if f[0] == _POSITION:
        inst = instruments.get((f[3], f[4]))
        return None if inst is None else PositionEvent(f[1], f[2], inst, *f[5:])
    inst = instruments.get((f[3], f[4]))
    if inst is None:
        return None
    spec = OrderSpec(f[1], f[2], inst, *f[5:17])
    return OrderEvent(spec, *f[17:])


class NoticeLog:
    """Writes a group's notices, one row per product and group, and prunes behind them (the
    projection's writer thread). A row is cheap where a row per notice was not: the writer
    thread shares the interpreter with the event loop."""

    def __init__(self, retention: int) -> None:
        self.retention = retention
        self._pruned_at: dict[str, int] = {}  # product -> newest nseq when last pruned

    @staticmethod
    def rows(events: list[Notice], skip: frozenset[str]) -> list[tuple[str, int, bytes]]:
        """``(product, newest nseq, the product's notices as one JSON array)`` per product."""
        by_product: dict[str, list[tuple[Any, ...]]] = {}
        for ev in events:
            product = ev.product if isinstance(ev, PositionEvent) else ev.spec.product
            if product not in skip:
                by_product.setdefault(product, []).append(fields(ev))
        return [(product, nseq_of(group[-1]), msgspec.json.encode(group)) for product, group in by_product.items()]

    def write(self, db: sqlite3.Connection, rows: list[tuple[str, int, bytes]]) -> None:
        """SQLite: insert the rows, then prune behind them."""
        if not rows:
            return
        db.executemany(INSERT, rows)
        for prune in self.prunes(rows):
            db.execute(PRUNE, prune)

    def prunes(self, rows: list[tuple[str, int, bytes]]) -> list[tuple[str, int]]:
        """``(product, newest nseq to delete)`` for the products of ``rows`` that have had
        ``retention // 2`` notices since they were last pruned (arguments of ``PRUNE``)."""
        out = []
        for product, high, _ in rows:
            if high - self._pruned_at.get(product, 0) >= max(1, self.retention // 2):
                out.append((product, high - self.retention))
                self._pruned_at[product] = high
        return out


def recent(query: Query, retention: int, instruments: Instruments, mark: str = "?") -> dict[str, list[Notice]]:
    """The newest ``retention`` stored notices of every product, oldest first (products in
    name order)."""
    out: dict[str, list[Notice]] = {}
    newest = query("SELECT product, MAX(last_nseq) FROM notice_groups GROUP BY product ORDER BY product", ())
    for product, high in newest:
        rows = query(f"SELECT data FROM notice_groups WHERE product={mark} AND last_nseq>{mark} ORDER BY last_nseq",
                     (product, high - retention))
        by_nseq: dict[int, list[Any]] = {}
        for (data,) in rows:
            for f in msgspec.json.decode(data):
                by_nseq[nseq_of(f)] = f
        kept = sorted(by_nseq)[-retention:] if retention > 0 else []
        events = [ev for nseq in kept if (ev := from_fields(by_nseq[nseq], instruments)) is not None]
        if events:
            out[product] = events
    return out
