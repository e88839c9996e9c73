"""The notice log of the SQLite projection: the last notices (order and position events)
of every product, so ``since=`` on 19003 replays across a restart.

Each notice is stored as a compact JSON array of the event's fields (integers of any size;
the instrument by exchange and contract) keyed by ``(product, nseq)``; the projection writes
them in the same transaction as orders and fills, and keeps about the newest ``retention``
per product (older ones are deleted once ``retention // 2`` more have arrived). Like the
rest of the projection it is derived from the journal and rebuilt with it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

import msgspec

from ceres.domain.events import OrderEvent, OrderSpec, PositionEvent
from ceres.domain.instruments import Instrument

SCHEMA = """
CREATE TABLE IF NOT EXISTS notices (
    product TEXT NOT NULL, nseq INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (product, nseq)
) WITHOUT ROWID;
"""
INSERT = "INSERT OR IGNORE INTO notices VALUES (?,?,?)"
Notice = OrderEvent | PositionEvent
Instruments = Mapping[tuple[str, str], Instrument]
_ORDER, _POSITION = 1, 2


def encode(ev: Notice) -> bytes:
    if isinstance(ev, PositionEvent):
        return msgspec.json.encode((_POSITION, ev.kind, ev.product, ev.inst.exchange, ev.inst.contract, ev.oid,
                                    ev.deal_id, ev.force, ev.margin, ev.tp, ev.sl, ev.vol, ev.seq, ev.nseq))
    o = ev.spec
    return msgspec.json.encode((_ORDER, o.oid, o.product, o.inst.exchange, o.inst.contract, o.side, o.ptype, o.price,
                                o.vol, o.client_oid, o.time, o.tif, o.fdir, o.lever, o.profit, o.stop, o.deal_id,
                                ev.kind, ev.status, ev.filled, ev.dealt, ev.commission, ev.deal_vol,
                                ev.deal_price, ev.seq, ev.nseq))


def decode(data: bytes, instruments: Instruments) -> Notice | None:
    """The event, or None if its instrument is no longer configured."""
    f: list[Any] = msgspec.json.decode(data)
    if f[0] == _POSITION:
        inst = instruments.get((f[3], f[4]))
        return None if inst is None else PositionEvent(f[1], f[2], inst, *f[5:])
    inst = instruments.get((f[3], f[4]))
    if inst is None:
        return None
    spec = OrderSpec(f[1], f[2], inst, *f[5:17])
    return OrderEvent(spec, *f[17:])


class NoticeLog:
    """Writes a group's notices and prunes behind them (the projection's writer thread)."""

    def __init__(self, retention: int) -> None:
        self.retention = retention
        self._pruned_at: dict[str, int] = {}  # product -> newest nseq when last pruned

    @staticmethod
    def rows(events: list[Notice], skip: frozenset[str]) -> list[tuple[str, int, bytes]]:
        out = []
        for ev in events:
            product = ev.product if isinstance(ev, PositionEvent) else ev.spec.product
            if product not in skip:
                out.append((product, ev.nseq, encode(ev)))
        return out

    def write(self, db: sqlite3.Connection, rows: list[tuple[str, int, bytes]]) -> None:
        if not rows:
            return
        db.executemany(INSERT, rows)
        newest = {product: nseq for product, nseq, _ in rows}
        for product, high in newest.items():
            if high - self._pruned_at.get(product, 0) >= max(1, self.retention // 2):
                db.execute("DELETE FROM notices WHERE product=? AND nseq<=?", (product, high - self.retention))
                self._pruned_at[product] = high


def recent(conn: sqlite3.Connection, retention: int, instruments: Instruments) -> dict[str, list[Notice]]:
    """The newest ``retention`` stored notices of every product, oldest first."""
    out: dict[str, list[Notice]] = {}
    products = [r[0] for r in conn.execute("SELECT DISTINCT product FROM notices")]
    for product in products:
        rows = conn.execute("SELECT data FROM notices WHERE product=? ORDER BY nseq DESC LIMIT ?",
                            (product, retention)).fetchall()
        events = [ev for (data,) in reversed(rows) if (ev := decode(data, instruments)) is not None]
        if events:
            out[product] = events
    return out
