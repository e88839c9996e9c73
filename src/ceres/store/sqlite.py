"""SQLite projection: order history, fills and public trades, derived from engine events.

Written only by the background thread (``SqliteProjection.apply``), one transaction per
group of batches, idempotent by sequence number: ``meta.last_seq`` is updated in the same
transaction and events at or below it are skipped, so feeding the same events twice
(after a crash, or by ``ceres rebuild``) changes nothing. WAL mode lets the server read
(``SqliteReader``, its own connection on the event-loop thread) while the writer writes.

Candles (every duration of ``market.candles``) are folded from each group's trades and
upserted (open kept, high/low widened, close replaced, volume added), so they are exact
for any range. Orders and fills of ``skip_products`` (the liquidity simulator) are not
stored, and public trades older than ``trade_retention_ms`` before the newest trade are
pruned, so a server left running for days keeps a bounded store; candles stay.

Rows keep the engine's integers (ticks, lots, minor units); amounts that can exceed 64
bits (volumes of market buys, dealt sums, fees) are stored as decimal *integer* text.
Wire formatting happens when a row is read (``gateway.views``), which keeps the writer
cheap: it shares the interpreter lock with the event loop. The store can be deleted and
rebuilt from the journal. The database and its ``-wal``/``-shm`` files are mode 0600.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
from pathlib import Path
from typing import Any

from ceres.domain.candles import DURATIONS, fold_trades
from ceres.domain.events import FillEvent, OrderEvent, PositionEvent, TradeEvent
from ceres.files import FILE_MODE
from ceres.pipeline.dispatch import Dispatcher
from ceres.pipeline.history import Bar, Batch, FillRow, OrderRow, TradeRow
from ceres.store import notices

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
    oid INTEGER PRIMARY KEY, product TEXT NOT NULL, exchange TEXT NOT NULL,
    contract TEXT NOT NULL, side INTEGER NOT NULL, ptype INTEGER NOT NULL,
    fdir INTEGER NOT NULL, price INTEGER NOT NULL, vol TEXT NOT NULL, client_oid TEXT NOT NULL,
    time_ms INTEGER NOT NULL, lever INTEGER NOT NULL, profit INTEGER NOT NULL,
    stop INTEGER NOT NULL, status INTEGER NOT NULL, filled INTEGER NOT NULL,
    dealt TEXT NOT NULL, commission TEXT NOT NULL, seq INTEGER NOT NULL, reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS orders_product ON orders (product, oid DESC);
CREATE TABLE IF NOT EXISTS fills (
    tid INTEGER NOT NULL, oid INTEGER NOT NULL, product TEXT NOT NULL, exchange TEXT NOT NULL,
    contract TEXT NOT NULL, side INTEGER NOT NULL, ptype INTEGER NOT NULL, fdir INTEGER NOT NULL,
    client_oid TEXT NOT NULL, lots INTEGER NOT NULL, price INTEGER NOT NULL,
    time_ms INTEGER NOT NULL, fee TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (tid, oid)
);
CREATE INDEX IF NOT EXISTS fills_product ON fills (product, exchange, contract, tid DESC);
CREATE TABLE IF NOT EXISTS trades (
    tid INTEGER PRIMARY KEY, exchange TEXT NOT NULL, contract TEXT NOT NULL,
    time_ms INTEGER NOT NULL, price INTEGER NOT NULL, lots INTEGER NOT NULL,
    taker_side INTEGER NOT NULL, seq INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS trades_time ON trades (exchange, contract, time_ms);
CREATE TABLE IF NOT EXISTS candles (
    exchange TEXT NOT NULL, contract TEXT NOT NULL, duration INTEGER NOT NULL,
    time_ms INTEGER NOT NULL, open INTEGER NOT NULL, high INTEGER NOT NULL, low INTEGER NOT NULL,
    close INTEGER NOT NULL, volume INTEGER NOT NULL, PRIMARY KEY (exchange, contract, duration, time_ms)
);
"""

ORDER_UPSERT = """
INSERT INTO orders VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
ON CONFLICT (oid) DO UPDATE SET
    status = excluded.status, filled = excluded.filled, dealt = excluded.dealt,
    commission = excluded.commission, seq = excluded.seq, reason = excluded.reason
"""

CANDLE_UPSERT = """
INSERT INTO candles VALUES (?,?,?,?,?,?,?,?,?)
ON CONFLICT (exchange, contract, duration, time_ms) DO UPDATE SET
    high = max(high, excluded.high), low = min(low, excluded.low),
    close = excluded.close, volume = volume + excluded.volume
"""


def _private(path: Path) -> None:
    """Create the database file with mode 0600, and tighten an older, wider one and its
    ``-wal``/``-shm`` files (SQLite creates those with the database file's mode)."""
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE))
    for name in (path.name, f"{path.name}-wal", f"{path.name}-shm"):
        with contextlib.suppress(FileNotFoundError):
            p = path.with_name(name)
            if stat.S_IMODE(p.stat().st_mode) & ~FILE_MODE:
                p.chmod(FILE_MODE)


def _connect(path: Path) -> sqlite3.Connection:
    _private(path)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


class _Rows:
    """The rows one ``apply`` writes, collected from its events (the simulator's orders
    and fills, ``skip``, are left out; its trades are public and kept)."""

    def __init__(self, skip: frozenset[str]) -> None:
        self.skip = skip
        self.orders: dict[int, tuple[Any, ...]] = {}
        self.fills: list[tuple[Any, ...]] = []
        self.trades: list[tuple[Any, ...]] = []
        self.tape: dict[tuple[str, str], list[tuple[int, int, int]]] = {}
        self.notices: list[tuple[str, int, bytes]] = []

    def on_notices(self, events: list[notices.Notice]) -> None:
        self.notices = notices.NoticeLog.rows(events, self.skip)

    def on_orders(self, events: list[OrderEvent]) -> None:
        skip, orders = self.skip, self.orders
        for ev in events:
            o = ev.spec
            if skip and o.product in skip:
                continue
            inst = o.inst
            orders[o.oid] = (o.oid, o.product, inst.exchange, inst.contract, o.side, o.ptype, o.fdir, o.price,
                             str(o.vol), o.client_oid, o.time, o.lever, o.profit, o.stop, ev.status, ev.filled,
                             str(ev.dealt), str(ev.commission), ev.seq, ev.reason)

    def on_trades(self, events: list[TradeEvent]) -> None:
        skip = self.skip
        for ev in events:
            inst = ev.inst
            for o, fee in ((ev.maker, ev.maker_fee), (ev.taker, ev.taker_fee)):
                if skip and o.product in skip:
                    continue
                self.fills.append((ev.tid, o.oid, o.product, inst.exchange, inst.contract, o.side, o.ptype,
                                   o.fdir, o.client_oid, ev.lots, ev.price, ev.time, str(fee), ev.seq))
            self.trades.append((ev.tid, inst.exchange, inst.contract, ev.time, ev.price, ev.lots, ev.taker_side,
                                ev.seq))
            self.tape.setdefault((inst.exchange, inst.contract), []).append((ev.time, ev.price, ev.lots))


    def on_fills(self, events: list[FillEvent]) -> None:
        """Fills at live venues: our side only (nothing on the public tape)."""
        for ev in events:
            o, inst = ev.spec, ev.spec.inst
            self.fills.append((ev.tid, o.oid, o.product, inst.exchange, inst.contract, o.side, o.ptype, o.fdir,
                               o.client_oid, ev.lots, ev.price, ev.time, str(ev.fee), ev.seq))


class SqliteProjection:
    """The writer side (a :class:`~ceres.pipeline.history.Projector`). Its connection opens
    in the first thread that writes (the background thread) and must be closed there."""

    def __init__(self, path: Path | str, tz: Any = None, *, skip_products: frozenset[str] = frozenset(),
                 trade_retention_ms: int = 7 * 86_400_000, notice_retention: int = 10_000) -> None:
        self.path = Path(path)
        self.skip = skip_products
        self.trade_retention_ms = trade_retention_ms
        self._notices = notices.NoticeLog(notice_retention)
        self._pruned_at = 0
        self._conn: sqlite3.Connection | None = None
        conn = _connect(self.path)
        conn.executescript(SCHEMA + notices.SCHEMA)
        if "reason" not in {r[1] for r in conn.execute("PRAGMA table_info(orders)")}:  # a store from before it
            conn.execute("ALTER TABLE orders ADD COLUMN reason TEXT NOT NULL DEFAULT ''")
        row = conn.execute("SELECT value FROM meta WHERE key='last_seq'").fetchone()
        self._last_seq = row[0] if row else 0
        conn.close()

    def last_seq(self) -> int:
        return self._last_seq

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = _connect(self.path)
        return self._conn

    def apply(self, items: Batch) -> None:
        start = self._last_seq
        fresh = [item for item in items if item[0] > start]
        if not fresh:
            return
        rows = _Rows(self.skip)
        Dispatcher([((OrderEvent,), rows.on_orders),
                    ((TradeEvent,), rows.on_trades),
                    ((FillEvent,), rows.on_fills),
                    ((OrderEvent, PositionEvent), rows.on_notices)]).dispatch(fresh)
        last = fresh[-1][0]
        db = self._db()
        db.execute("BEGIN")
        try:
            db.executemany(ORDER_UPSERT, rows.orders.values())
            if rows.fills:
                db.executemany("INSERT OR IGNORE INTO fills VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows.fills)
            if rows.trades:
                db.executemany("INSERT OR IGNORE INTO trades VALUES (?,?,?,?,?,?,?,?)", rows.trades)
                db.executemany(CANDLE_UPSERT, self._candle_rows(rows.tape))
                self._maybe_prune(db, rows.trades[-1][3])
            self._notices.write(db, rows.notices)
            db.execute("INSERT OR REPLACE INTO meta VALUES ('last_seq', ?)", (last,))
            db.execute("COMMIT")
        except BaseException:
            self._abandon(db)
            raise
        self._last_seq = last

    def _abandon(self, db: sqlite3.Connection) -> None:
        """After a failed write (e.g. a full disk): roll back and drop the connection, so
        the next attempt starts clean (the rows are written again: inserts are idempotent)."""
        try:
            if db.in_transaction:
                db.execute("ROLLBACK")
        except sqlite3.Error:
            pass
        finally:
            self._conn = None
            with contextlib.suppress(sqlite3.Error):
                db.close()

    @staticmethod
    def _candle_rows(tape: dict[tuple[str, str], list[tuple[int, int, int]]]) -> list[tuple[Any, ...]]:
        return [(exchange, contract, duration, *bar.row())
                for (exchange, contract), ticks in tape.items()
                for duration in DURATIONS.values()
                for bar in fold_trades(ticks, duration)]

    def _maybe_prune(self, db: sqlite3.Connection, newest_ms: int) -> None:
        """Drop public trades older than the retention, at most once a simulated hour."""
        if newest_ms - self._pruned_at < 3_600_000:
            return
        self._pruned_at = newest_ms
        db.execute("DELETE FROM trades WHERE time_ms < ?", (newest_ms - self.trade_retention_ms,))

    def reset(self) -> None:
        """Empty every table (``ceres rebuild --from-scratch``)."""
        self._db().executescript("DELETE FROM orders; DELETE FROM fills; DELETE FROM trades; "
                                 "DELETE FROM candles; DELETE FROM notice_groups; DELETE FROM meta;")
        self._last_seq = 0

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


_ORDER_COLS = ("oid, product, exchange, contract, side, ptype, fdir, price, vol, client_oid, time_ms, "
               "lever, profit, stop, status, filled, dealt, commission, reason")


def _order_row(r: tuple[Any, ...]) -> OrderRow:
    """A stored order: ``vol``, ``dealt`` and ``commission`` are integer text (they may pass
    64 bits)."""
    return OrderRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], int(r[8]), r[9], r[10], r[11], r[12], r[13],
                    r[14], r[15], int(r[16]), int(r[17]), r[18])


class SqliteReader:
    """Read side (a :class:`~ceres.pipeline.history.HistoryReader`), used on the
    event-loop thread; returns integer rows."""

    def __init__(self, path: Path | str) -> None:
        self._conn = _connect(Path(path))

    def recent_notices(self, retention: int, instruments: notices.Instruments) -> dict[str, list[notices.Notice]]:
        """The newest ``retention`` notices of every product, oldest first (19003 ``since``)."""
        return notices.recent(self._conn, retention, instruments)

    def orders_by_ids(self, product: str, ids: list[int]) -> dict[int, OrderRow]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self._conn.execute(
            f"SELECT {_ORDER_COLS} FROM orders WHERE product=? AND oid IN ({marks})", (product, *ids))
        return {r[0]: _order_row(r) for r in rows}

    def order_owner(self, oid: int) -> str | None:
        row = self._conn.execute("SELECT product FROM orders WHERE oid=?", (oid,)).fetchone()
        return row[0] if row else None

    def recent_orders(self, product: str, *, exchange: str | None = None, contract: str | None = None,
                      status: int | None = None, limit: int = 100) -> list[OrderRow]:
        sql = f"SELECT {_ORDER_COLS} FROM orders WHERE product=?"
        args: list[Any] = [product]
        for col, val in (("exchange", exchange), ("contract", contract), ("status", status)):
            if val is not None:
                sql += f" AND {col}=?"
                args.append(val)
        sql += " ORDER BY oid DESC LIMIT ?"
        args.append(limit)
        return [_order_row(r) for r in self._conn.execute(sql, args)]

    def fills(self, product: str, exchange: str, contract: str, count: int) -> list[FillRow]:
        rows = self._conn.execute(
            "SELECT tid, oid, exchange, contract, side, ptype, fdir, client_oid, lots, price, time_ms, fee "
            "FROM fills WHERE product=? AND exchange=? AND contract=? ORDER BY tid DESC, oid DESC LIMIT ?",
            (product, exchange, contract, count))
        return [FillRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], int(r[11])) for r in rows]

    def _ranged(self, select: str, args: list[Any], order: str, begin: int | None, end: int | None,
                size: int) -> list[tuple[Any, ...]]:
        """Rows of ``select`` (filtered by ``args``) in time order (``order``, a column that
        increases with ``time_ms`` and breaks its ties):
        both bounds -> all in range (up to ``size``); ``begin`` -> the first ``size`` from it;
        otherwise the last ``size`` up to ``end`` (API.md section 5)."""
        if begin is not None and end is not None:
            return self._conn.execute(select + f" AND time_ms>=? AND time_ms<=? ORDER BY {order} LIMIT ?",
                                      (*args, begin, end, size)).fetchall()
        if begin is not None:
            return self._conn.execute(select + f" AND time_ms>=? ORDER BY {order} LIMIT ?",
                                      (*args, begin, size)).fetchall()
        if end is not None:
            select += " AND time_ms<=?"
            args = [*args, end]
        rows = self._conn.execute(select + f" ORDER BY {order} DESC LIMIT ?", (*args, size)).fetchall()
        rows.reverse()
        return rows

    def trades(self, exchange: str, contract: str, begin: int | None, end: int | None,
               size: int) -> list[TradeRow]:
        """Public trades in time order (range rules of ``_ranged``)."""
        rows = self._ranged("SELECT tid, time_ms, price, lots, taker_side FROM trades "
                            "WHERE exchange=? AND contract=?", [exchange, contract], "tid", begin, end, size)
        return [TradeRow(*r) for r in rows]

    def candles(self, exchange: str, contract: str, duration: int, begin: int | None, end: int | None,
                size: int) -> list[Bar]:
        """Bars ``(time, open, high, low, close, volume)`` in time order (range rules of
        ``_ranged``)."""
        return self._ranged("SELECT time_ms, open, high, low, close, volume FROM candles "
                            "WHERE exchange=? AND contract=? AND duration=?",
                            [exchange, contract, duration], "time_ms", begin, end, size)

    def last_seq(self) -> int:
        row = self._conn.execute("SELECT value FROM meta WHERE key='last_seq'").fetchone()
        return row[0] if row else 0

    def close(self) -> None:
        self._conn.close()
