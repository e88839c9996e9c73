"""PostgreSQL history store (``[store] backend = "postgres"``): the same tables, rows and
answers as ``ceres.store.sqlite``, in one schema of a PostgreSQL database, so the history
can outgrow one machine's disk and be read by every gateway.

Writer (:class:`PostgresProjection`, a :class:`~ceres.pipeline.history.Projector`): each
``apply`` is one transaction that COPYs the group's rows into temporary staging tables
(``ON COMMIT DELETE ROWS``), upserts them with ``INSERT ... SELECT ... ON CONFLICT``
(orders: the later state replaces status, fills, sums, reason; fills, trades and notice
groups: kept once; candles: open kept, high/low widened, close replaced, volume added),
prunes old trades and notices as SQLite does, and advances ``meta.last_seq`` before it
commits. Events at or below ``last_seq`` are skipped, so a replayed group changes nothing.
A failure rolls back, drops the connection and raises; the background thread retries later
on a new connection (``pipeline.background``).

Reader (:class:`PostgresReader`, a :class:`~ceres.pipeline.history.HistoryReader`): the
shared queries of ``ceres.store.queries`` on one autocommit connection, used synchronously
on the event-loop thread, as SQLite's is: every query is an index lookup or range scan of at
most a page of rows, sub-millisecond on loopback (a distant or loaded server would stall the
loop: keep the database close). A connection found broken (a server restart) is replaced
once per query; connecting waits at most ``CONNECT_TIMEOUT_S``.

Both use psycopg 3's synchronous API: the writer runs in its own thread, and the reader's
queries are too short to be worth an await. Amounts that can pass 64 bits are NUMERIC
(read back as ints); every other integer is BIGINT. Notice groups are BYTEA (the same
JSON as SQLite's). Throughput measured on 2 cores: docs/history-store.md.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Sequence
from typing import Any

import psycopg
from psycopg import sql

from ceres.store import notices
from ceres.store.projection import Projection
from ceres.store.queries import HistoryQueries
from ceres.store.rows import ORDER_UPDATES, Rows

CONNECT_TIMEOUT_S = 5
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
    oid BIGINT PRIMARY KEY, product TEXT NOT NULL, exchange TEXT NOT NULL,
    contract TEXT NOT NULL, side BIGINT NOT NULL, ptype BIGINT NOT NULL,
    fdir BIGINT NOT NULL, price BIGINT NOT NULL, vol NUMERIC NOT NULL, client_oid TEXT NOT NULL,
    time_ms BIGINT NOT NULL, lever BIGINT NOT NULL, profit BIGINT NOT NULL,
    stop BIGINT NOT NULL, status BIGINT NOT NULL, filled BIGINT NOT NULL,
    dealt NUMERIC NOT NULL, commission NUMERIC NOT NULL, seq BIGINT NOT NULL, reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS orders_product ON orders (product, oid DESC);
CREATE TABLE IF NOT EXISTS fills (
    tid BIGINT NOT NULL, oid BIGINT NOT NULL, product TEXT NOT NULL, exchange TEXT NOT NULL,
    contract TEXT NOT NULL, side BIGINT NOT NULL, ptype BIGINT NOT NULL, fdir BIGINT NOT NULL,
    client_oid TEXT NOT NULL, lots BIGINT NOT NULL, price BIGINT NOT NULL,
    time_ms BIGINT NOT NULL, fee NUMERIC NOT NULL, seq BIGINT NOT NULL, PRIMARY KEY (tid, oid)
);
CREATE INDEX IF NOT EXISTS fills_product ON fills (product, exchange, contract, tid DESC);
CREATE TABLE IF NOT EXISTS trades (
    tid BIGINT PRIMARY KEY, exchange TEXT NOT NULL, contract TEXT NOT NULL,
    time_ms BIGINT NOT NULL, price BIGINT NOT NULL, lots BIGINT NOT NULL,
    taker_side BIGINT NOT NULL, seq BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS trades_time ON trades (exchange, contract, time_ms);
CREATE TABLE IF NOT EXISTS candles (
    exchange TEXT NOT NULL, contract TEXT NOT NULL, duration BIGINT NOT NULL,
    time_ms BIGINT NOT NULL, open BIGINT NOT NULL, high BIGINT NOT NULL, low BIGINT NOT NULL,
    close BIGINT NOT NULL, volume BIGINT NOT NULL, PRIMARY KEY (exchange, contract, duration, time_ms)
);
CREATE TABLE IF NOT EXISTS notice_groups (
    product TEXT NOT NULL, last_nseq BIGINT NOT NULL, data BYTEA NOT NULL, PRIMARY KEY (product, last_nseq)
);
"""
TABLES = ("orders", "fills", "trades", "candles", "notice_groups")
UPSERTS = {
    "orders": f"ON CONFLICT (oid) DO UPDATE SET {ORDER_UPDATES}",
    "fills": "ON CONFLICT DO NOTHING",
    "trades": "ON CONFLICT DO NOTHING",
    "candles": """ON CONFLICT (exchange, contract, duration, time_ms) DO UPDATE SET
        high = GREATEST(candles.high, excluded.high), low = LEAST(candles.low, excluded.low),
        close = excluded.close, volume = candles.volume + excluded.volume""",
    "notice_groups": "ON CONFLICT DO NOTHING",
}
LAST_SEQ = "INSERT INTO meta VALUES ('last_seq', %s) ON CONFLICT (key) DO UPDATE SET value = excluded.value"

Connection = psycopg.Connection[tuple[Any, ...]]


def connect(dsn: str, schema: str) -> Connection:
    """An autocommit connection whose unqualified names are in ``schema``."""
    conn = psycopg.connect(dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S, application_name="ceres")
    try:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
    except BaseException:
        conn.close()
        raise
    return conn


class PostgresProjection(Projection):
    """The writer side. Creates the schema and tables if missing; its connection is opened
    lazily (again after a failure) and may move between threads."""

    def __init__(self, dsn: str, schema: str = "public", *, skip_products: frozenset[str] = frozenset(),
                 trade_retention_ms: int = 7 * 86_400_000, notice_retention: int = 10_000) -> None:
        super().__init__(skip_products=skip_products, trade_retention_ms=trade_retention_ms,
                         notice_retention=notice_retention)
        self.dsn, self.schema = dsn, schema
        self._conn: Connection | None = None
        with psycopg.connect(dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        db = self._db()
        row = db.execute("SELECT value FROM meta WHERE key='last_seq'").fetchone()
        self._last_seq = row[0] if row else 0

    def _db(self) -> Connection:
        if self._conn is None:
            conn = connect(self.dsn, self.schema)
            try:
                with conn.transaction():
                    conn.execute(SCHEMA)
                    for table in TABLES:
                        conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS stage_{table} (LIKE {table}) "
                                     "ON COMMIT DELETE ROWS")
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _write(self, rows: Rows, last_seq: int) -> None:
        db = self._db()
        try:
            with db.transaction(), db.cursor() as cur:
                self._upsert(cur, "orders", rows.orders.values())
                self._upsert(cur, "fills", rows.fills)
                if rows.trades:
                    self._upsert(cur, "trades", rows.trades)
                    self._upsert(cur, "candles", rows.candles())
                    cutoff = self._pruning.cutoff(rows.trades[-1][3])
                    if cutoff is not None:
                        cur.execute("DELETE FROM trades WHERE time_ms < %s", (cutoff,))
                if rows.notices:
                    self._upsert(cur, "notice_groups", rows.notices)
                    prunes = self._notices.prunes(rows.notices)
                    if prunes:
                        cur.executemany(notices.prune_sql("%s"), prunes)
                cur.execute(LAST_SEQ, (last_seq,))
        except BaseException:
            self._abandon()
            raise

    @staticmethod
    def _upsert(cur: psycopg.Cursor[Any], table: str, rows: Collection[Sequence[Any]]) -> None:
        """COPY ``rows`` into the table's staging twin, then merge them into the table."""
        if not rows:
            return
        with cur.copy(f"COPY stage_{table} FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cur.execute(f"INSERT INTO {table} SELECT * FROM stage_{table} {UPSERTS[table]}")

    def _abandon(self) -> None:
        """After a failed write: drop the connection (the transaction, if the server still
        has it, is rolled back with it), so the next attempt starts clean."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                conn.close()

    def reset(self) -> None:
        self._db().execute(f"TRUNCATE {', '.join(TABLES)}, meta")
        self._last_seq = 0

    def close(self) -> None:
        self._abandon()


class PostgresReader(HistoryQueries):
    """Read side, on the event-loop thread (see the module docstring for why synchronously)."""

    mark = "%s"

    def __init__(self, dsn: str, schema: str = "public") -> None:
        self.dsn, self.schema = dsn, schema
        self._conn: Connection | None = connect(dsn, schema)

    def _query(self, query: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        if self._conn is None:
            self._conn = connect(self.dsn, self.schema)
        return self._conn.execute(query, args).fetchall()

    def _rows(self, query: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        try:
            return self._query(query, args)
        except psycopg.OperationalError:
            if self._conn is not None and not self._conn.broken:
                raise
            self.close()  # lost (the server restarted): once more, on a new connection
            return self._query(query, args)

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
