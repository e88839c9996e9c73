"""PostgreSQL history store (``[store] backend = "postgres"``): the same tables, rows and
answers as ``ceres.store.sqlite``, in one schema of a PostgreSQL database, so the history
can outgrow one machine's disk and be read by every gateway.

Writer (:class:`PostgresProjection`, a :class:`~ceres.pipeline.history.Projector`): each
``apply`` is one transaction that COPYs the group's rows into the session's temporary
staging tables (text COPY; binary for the notice blobs), then, in one more round trip,
upserts them with ``INSERT ... SELECT ... ON CONFLICT`` (orders: the later state replaces
status, fills, sums, reason; fills, trades and notice groups: kept once; candles: open kept,
high/low widened, close replaced, volume added), prunes old trades and notices as SQLite
does, advances ``meta.last_seq`` and empties the staging tables, then commits. Events at
or below ``last_seq`` are skipped, so a replayed group changes nothing. A failure drops the
connection (the server rolls the transaction back with it) and raises; the background
thread retries later on a new connection (``pipeline.background``). Round trips per
``apply``: BEGIN, two per non-empty table's COPY, the merge, COMMIT.

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
from ceres.store.projection import Projection, StoreUnavailable
from ceres.store.queries import HistoryQueries
from ceres.store.rows import BIG, BLOB, INT, ORDER_UPDATES, TABLES, TEXT, Rows, create_sql

CONNECT_TIMEOUT_S = 5
STAGE_TRUNCATE_ROWS = 10_000
"""Staging tables are emptied by DELETE (cheap: truncating a table costs about 1 ms here,
five of them most of a small group's transaction) and truncated once this many rows have
passed through them (temporary tables are never vacuumed: the dead rows must go)."""
SCHEMA = create_sql({INT: "BIGINT", BIG: "NUMERIC", TEXT: "TEXT", BLOB: "BYTEA"})
STAGED = ("orders", "fills", "trades", "candles", "notice_groups")  # written through staging twins
UPSERTS = {
    "orders": f"ON CONFLICT (oid) DO UPDATE SET {ORDER_UPDATES}",
    "fills": "ON CONFLICT DO NOTHING",
    "trades": "ON CONFLICT DO NOTHING",
    "candles": """ON CONFLICT (exchange, contract, duration, time_ms) DO UPDATE SET
        high = GREATEST(candles.high, excluded.high), low = LEAST(candles.low, excluded.low),
        close = excluded.close, volume = candles.volume + excluded.volume""",
    "notice_groups": "ON CONFLICT DO NOTHING",
}
BINARY = {"notice_groups": ("text", "int8", "bytea")}  # staged in binary: the JSON blobs go as they are
LAST_SEQ = "INSERT INTO meta VALUES ('last_seq', {}) ON CONFLICT (key) DO UPDATE SET value = excluded.value"

Connection = psycopg.Connection[tuple[Any, ...]]


def connect(dsn: str, schema: str, role: str) -> Connection:
    """An autocommit connection whose unqualified names are in ``schema``, named ``ceres
    ROLE (SCHEMA)`` in ``pg_stat_activity``; StoreUnavailable if the server cannot be
    reached (its message names host and port, never a password)."""
    try:
        conn = psycopg.connect(dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S,
                               application_name=f"ceres {role} ({schema})")
    except psycopg.OperationalError as exc:
        raise StoreUnavailable(f"history store: cannot connect to PostgreSQL: {str(exc).strip()}") from exc
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
        self._dead = 0  # rows deleted from the staging tables since they were last truncated
        with connect(dsn, schema, "writer") as conn:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        db = self._db()
        row = db.execute("SELECT value FROM meta WHERE key='last_seq'").fetchone()
        self._last_seq = row[0] if row else 0

    def _db(self) -> Connection:
        if self._conn is None:
            conn = connect(self.dsn, self.schema, "writer")
            try:
                with conn.transaction():
                    conn.execute(SCHEMA)
                    for table in STAGED:
                        conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS stage_{table} (LIKE {table})")
            except BaseException:
                conn.close()
                raise
            self._conn, self._dead = conn, 0
        return self._conn

    def _write(self, rows: Rows, last_seq: int) -> None:
        db = self._db()
        staged = {"orders": rows.orders.values(), "fills": rows.fills, "trades": rows.trades,
                  "candles": rows.candles(), "notice_groups": rows.notices}
        try:
            with db.transaction(), db.cursor() as cur:
                for table, table_rows in staged.items():
                    if table_rows:
                        self._stage(cur, table, table_rows)
                self._dead += sum(map(len, staged.values()))
                cur.execute(self._merge([t for t, table_rows in staged.items() if table_rows], rows, last_seq))
        except BaseException:
            self._abandon()
            raise

    @staticmethod
    def _stage(cur: psycopg.Cursor[Any], table: str, rows: Collection[Sequence[Any]]) -> None:
        """COPY ``rows`` into the table's staging twin."""
        types = BINARY.get(table)
        with cur.copy(f"COPY stage_{table} FROM STDIN" + (" (FORMAT BINARY)" if types else "")) as copy:
            if types:
                copy.set_types(types)
            for row in rows:
                copy.write_row(row)

    def _merge(self, tables: list[str], rows: Rows, last_seq: int) -> sql.Composed:
        """The rest of the transaction as one round trip: the staged tables merged into
        theirs, the pruning, ``meta.last_seq``."""
        statements: list[sql.Composable] = [sql.SQL(f"INSERT INTO {t} SELECT * FROM stage_{t} {UPSERTS[t]}")
                                            for t in tables]
        cutoff = self._pruning.cutoff(rows.trades[-1][3]) if rows.trades else None
        if cutoff is not None:
            statements.append(sql.SQL("DELETE FROM trades WHERE time_ms < {}").format(cutoff))
        statements += [sql.SQL(notices.prune_sql("{}")).format(product, below)
                       for product, below in self._notices.prunes(rows.notices)]
        statements.append(sql.SQL(LAST_SEQ).format(last_seq))
        if self._dead < STAGE_TRUNCATE_ROWS:
            statements += [sql.SQL(f"DELETE FROM stage_{t}") for t in tables]
        else:
            statements.append(sql.SQL(f"TRUNCATE {', '.join(f'stage_{t}' for t in STAGED)}"))
            self._dead = 0
        return sql.SQL("; ").join(statements)

    def _abandon(self) -> None:
        """After a failed write: drop the connection (the transaction, if the server still
        has it, is rolled back with it), so the next attempt starts clean."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                conn.close()

    def reset(self) -> None:
        self._db().execute(f"TRUNCATE {', '.join(t.name for t in TABLES)}")
        self._last_seq = 0

    def close(self) -> None:
        self._abandon()


class PostgresReader(HistoryQueries):
    """Read side, on the event-loop thread (see the module docstring for why synchronously)."""

    mark = "%s"

    def __init__(self, dsn: str, schema: str = "public") -> None:
        self.dsn, self.schema = dsn, schema
        self._conn: Connection | None = connect(dsn, schema, "reader")

    def _query(self, query: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        if self._conn is None:
            self._conn = connect(self.dsn, self.schema, "reader")
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
