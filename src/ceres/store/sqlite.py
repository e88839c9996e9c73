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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ceres.files import FILE_MODE
from ceres.store.projection import Projection
from ceres.store.queries import HistoryQueries
from ceres.store.rows import BIG, BLOB, INT, ORDER_UPDATES, TEXT, Rows, create_sql

SCHEMA = create_sql({INT: "INTEGER", BIG: "TEXT", TEXT: "TEXT", BLOB: "BLOB"},
                    {"notice_groups": " WITHOUT ROWID"})
"""An ``INTEGER`` primary key of one column is the rowid; integers past 64 bits are kept as
decimal text."""

ORDER_UPSERT = f"""
INSERT INTO orders VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
ON CONFLICT (oid) DO UPDATE SET {ORDER_UPDATES}
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


class SqliteProjection(Projection):
    """The writer side (a :class:`~ceres.pipeline.history.Projector`). Its connection opens
    in the first thread that writes (the background thread) and must be closed there."""

    def __init__(self, path: Path | str, tz: Any = None, *, skip_products: frozenset[str] = frozenset(),
                 trade_retention_ms: int = 7 * 86_400_000, notice_retention: int = 10_000) -> None:
        super().__init__(skip_products=skip_products, trade_retention_ms=trade_retention_ms,
                         notice_retention=notice_retention)
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        conn = _connect(self.path)
        conn.executescript(SCHEMA)
        if "reason" not in {r[1] for r in conn.execute("PRAGMA table_info(orders)")}:  # a store from before it
            conn.execute("ALTER TABLE orders ADD COLUMN reason TEXT NOT NULL DEFAULT ''")
        row = conn.execute("SELECT value FROM meta WHERE key='last_seq'").fetchone()
        self._last_seq = row[0] if row else 0
        conn.close()

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = _connect(self.path)
        return self._conn

    def _write(self, rows: Rows, last_seq: int) -> None:
        db = self._db()
        db.execute("BEGIN")
        try:
            db.executemany(ORDER_UPSERT, rows.orders.values())
            if rows.fills:
                db.executemany("INSERT OR IGNORE INTO fills VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows.fills)
            if rows.trades:
                db.executemany("INSERT OR IGNORE INTO trades VALUES (?,?,?,?,?,?,?,?)", rows.trades)
                db.executemany(CANDLE_UPSERT, rows.candles())
                cutoff = self._pruning.cutoff(rows.trades[-1][3])
                if cutoff is not None:
                    db.execute("DELETE FROM trades WHERE time_ms < ?", (cutoff,))
            self._notices.write(db, rows.notices)
            db.execute("INSERT OR REPLACE INTO meta VALUES ('last_seq', ?)", (last_seq,))
            db.execute("COMMIT")
        except BaseException:
            self._abandon(db)
            raise

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

    def reset(self) -> None:
        self._db().executescript("DELETE FROM orders; DELETE FROM fills; DELETE FROM trades; "
                                 "DELETE FROM candles; DELETE FROM notice_groups; DELETE FROM meta;")
        self._last_seq = 0

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class SqliteReader(HistoryQueries):
    """Read side (a :class:`~ceres.pipeline.history.HistoryReader`), used on the
    event-loop thread; returns integer rows."""

    def __init__(self, path: Path | str) -> None:
        self._conn = _connect(Path(path))

    def _rows(self, sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        return self._conn.execute(sql, args).fetchall()

    def close(self) -> None:
        self._conn.close()
