"""SQLite projection: order history, fills and public trades, derived from engine events.

Written only by the background thread (``SqliteProjection.apply``), one transaction per
group of batches, idempotent by sequence number: ``meta.last_seq`` is updated in the same
transaction, and events at or below it are skipped, so feeding the same events twice
(after a crash, or by ``ceres rebuild``) changes nothing. WAL mode lets the server read
(``SqliteReader``, its own connection on the event-loop thread) while the writer writes.

Rows hold wire-ready strings (``gateway.views``), so history answers equal live ones.
The whole store can be deleted and rebuilt from the journal.
"""

from __future__ import annotations

import sqlite3
from datetime import timezone
from pathlib import Path
from typing import Any, Iterable

import msgspec

from ..engine.orders import OrderEvent, TradeEvent
from ..gateway import views

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
    oid INTEGER PRIMARY KEY, product TEXT NOT NULL, exchange TEXT NOT NULL,
    contract TEXT NOT NULL, status INTEGER NOT NULL, seq INTEGER NOT NULL, obj TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_product ON orders (product, oid DESC);
CREATE TABLE IF NOT EXISTS fills (
    tid INTEGER NOT NULL, oid INTEGER NOT NULL, product TEXT NOT NULL, exchange TEXT NOT NULL,
    contract TEXT NOT NULL, seq INTEGER NOT NULL, obj TEXT NOT NULL, PRIMARY KEY (tid, oid)
);
CREATE INDEX IF NOT EXISTS fills_product ON fills (product, exchange, contract, tid DESC);
CREATE TABLE IF NOT EXISTS trades (
    tid INTEGER PRIMARY KEY, exchange TEXT NOT NULL, contract TEXT NOT NULL,
    time_ms INTEGER NOT NULL, price TEXT NOT NULL, volume TEXT NOT NULL, side TEXT NOT NULL,
    seq INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS trades_time ON trades (exchange, contract, time_ms);
"""

_enc = msgspec.json.Encoder()
_dec = msgspec.json.Decoder()


def _json_dumps(obj: Any) -> str:
    return _enc.encode(obj).decode()


def _json_loads(text: str) -> Any:
    return _dec.decode(text)


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=True)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


class SqliteProjection:
    """The writer side. Create it anywhere; its connection opens in the first thread that
    uses it (the background thread)."""

    def __init__(self, path: Path | str, tz: timezone) -> None:
        self.path = Path(path)
        self.tz = tz
        self._conn: sqlite3.Connection | None = None
        conn = _connect(self.path)
        conn.executescript(SCHEMA)
        row = conn.execute("SELECT value FROM meta WHERE key='last_seq'").fetchone()
        self._last_seq = row[0] if row else 0
        conn.close()

    def last_seq(self) -> int:
        return self._last_seq

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = _connect(self.path)
        return self._conn

    def apply(self, items: Iterable[tuple[int, list[Any]]]) -> None:
        orders: dict[int, tuple] = {}
        fills: list[tuple] = []
        trades: list[tuple] = []
        last = self._last_seq
        tz = self.tz
        for seq, events in items:
            if seq <= self._last_seq:
                continue
            last = seq
            for ev in events:
                if type(ev) is OrderEvent:
                    o = ev.order
                    orders[o.oid] = (o.oid, o.product.name, o.inst.exchange, o.inst.contract,
                                     int(ev.status), seq,
                                     _json_dumps(views.order_object(o, ev.status, ev.filled, ev.dealt,
                                                                    ev.commission, tz)))
                elif type(ev) is TradeEvent:
                    inst = ev.inst
                    for order, fee in ((ev.maker, ev.maker_fee), (ev.taker, ev.taker_fee)):
                        fills.append((ev.tid, order.oid, order.product.name, inst.exchange,
                                      inst.contract, seq,
                                      _json_dumps(views.fill_object(order, ev.tid, ev.lots, ev.price,
                                                                    ev.time, fee, tz))))
                    trades.append((ev.tid, inst.exchange, inst.contract, ev.time,
                                   inst.fmt_price(ev.price), inst.fmt_vol(ev.lots),
                                   "b" if ev.taker_side == 1 else "s", seq))
        if last == self._last_seq:
            return
        db = self._db()
        db.execute("BEGIN")
        try:
            db.executemany("INSERT OR REPLACE INTO orders VALUES (?,?,?,?,?,?,?)", orders.values())
            db.executemany("INSERT OR IGNORE INTO fills VALUES (?,?,?,?,?,?,?)", fills)
            db.executemany("INSERT OR IGNORE INTO trades VALUES (?,?,?,?,?,?,?,?)", trades)
            db.execute("INSERT OR REPLACE INTO meta VALUES ('last_seq', ?)", (last,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._last_seq = last

    def reset(self) -> None:
        """Empty every table (``ceres rebuild --from-scratch``)."""
        db = self._db()
        db.executescript("DELETE FROM orders; DELETE FROM fills; DELETE FROM trades; DELETE FROM meta;")
        self._last_seq = 0

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class SqliteReader:
    """Read side, used on the event-loop thread."""

    def __init__(self, path: Path | str) -> None:
        self._conn = _connect(Path(path))

    def orders_by_ids(self, product: str, ids: list[int]) -> dict[int, dict]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self._conn.execute(
            f"SELECT oid, obj FROM orders WHERE product=? AND oid IN ({marks})", (product, *ids))
        return {oid: _json_loads(obj) for oid, obj in rows}

    def order_owner(self, oid: int) -> str | None:
        row = self._conn.execute("SELECT product FROM orders WHERE oid=?", (oid,)).fetchone()
        return row[0] if row else None

    def recent_orders(self, product: str, *, exchange: str | None = None, contract: str | None = None,
                      status: int | None = None, limit: int = 100) -> list[dict]:
        sql = "SELECT obj FROM orders WHERE product=?"
        args: list[Any] = [product]
        for col, val in (("exchange", exchange), ("contract", contract), ("status", status)):
            if val is not None:
                sql += f" AND {col}=?"
                args.append(val)
        sql += " ORDER BY oid DESC LIMIT ?"
        args.append(limit)
        return [_json_loads(obj) for (obj,) in self._conn.execute(sql, args)]

    def fills(self, product: str, exchange: str, contract: str, count: int) -> list[dict]:
        rows = self._conn.execute(
            "SELECT obj FROM fills WHERE product=? AND exchange=? AND contract=? "
            "ORDER BY tid DESC, oid DESC LIMIT ?", (product, exchange, contract, count))
        return [_json_loads(obj) for (obj,) in rows]

    def trades(self, exchange: str, contract: str, begin: int | None, end: int | None,
               size: int) -> list[tuple[int, str, str, str]]:
        """Public trades ``(time_ms, price, volume, side)`` in time order (API.md 5 rules)."""
        base = "SELECT time_ms, price, volume, side FROM trades WHERE exchange=? AND contract=?"
        args: list[Any] = [exchange, contract]
        if begin is not None and end is not None:
            rows = self._conn.execute(base + " AND time_ms>=? AND time_ms<=? ORDER BY tid LIMIT ?",
                                      (*args, begin, end, size)).fetchall()
        elif begin is not None:
            rows = self._conn.execute(base + " AND time_ms>=? ORDER BY tid LIMIT ?",
                                      (*args, begin, size)).fetchall()
        else:
            if end is not None:
                base += " AND time_ms<=?"
                args.append(end)
            rows = self._conn.execute(base + " ORDER BY tid DESC LIMIT ?", (*args, size)).fetchall()
            rows.reverse()
        return rows

    def last_seq(self) -> int:
        row = self._conn.execute("SELECT value FROM meta WHERE key='last_seq'").fetchone()
        return row[0] if row else 0

    def close(self) -> None:
        self._conn.close()
