"""Both history backends side by side for tests: how to open each, and every stored row of
a store in a form the two share (NUMERIC and SQLite's integer text both as ints), so stores
can be compared table by table."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from ceres.store import rows

TABLES = {t.name: t.key for t in rows.TABLES}  # table -> its key (a total order)
BIG = {c for t in rows.TABLES for c, kind in t.columns if kind == rows.BIG}  # SQLite text, PostgreSQL NUMERIC


@dataclass
class PgSchema:
    dsn: str
    schema: str
    admin: Any  # an autocommit psycopg connection (outside the schema)

    def config(self) -> str:
        """The ``[store]`` section of a server or CLI config using this schema."""
        return f'[store]\nbackend = "postgres"\ndsn = "{self.dsn}"\nschema = "{self.schema}"\n'

    def terminate(self, pid: int) -> None:
        self.admin.execute("SELECT pg_terminate_backend(%s)", (pid,))

    def connections(self) -> int:
        """Ceres connections to this schema (writer and readers)."""
        return int(self.admin.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE %s",
                                      (f"ceres % ({self.schema})",)).fetchone()[0])

    def terminate_all(self) -> int:
        """Kill every Ceres connection to this schema; how many there were."""
        rows = self.admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                  "WHERE application_name LIKE %s", (f"ceres % ({self.schema})",)).fetchall()
        return len(rows)


def _norm(cols: list[str], row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(int(v) if c in BIG or isinstance(v, Decimal) else v for c, v in zip(cols, row, strict=True))


def _dump(execute: Any, tables: dict[str, str]) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    for table, key in tables.items():
        cur = execute(f"SELECT * FROM {table} ORDER BY {key}")
        cols = [d[0] for d in cur.description]
        out[table] = [_norm(cols, row) for row in cur.fetchall()]
    return out


def dump_sqlite(path: Path, tables: dict[str, str] = TABLES) -> dict[str, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(path)
    try:
        return _dump(conn.execute, tables)
    finally:
        conn.close()


def dump_pg(pg: PgSchema, tables: dict[str, str] = TABLES) -> dict[str, list[tuple[Any, ...]]]:
    import psycopg

    with psycopg.connect(pg.dsn, options=f"-c search_path={pg.schema}") as conn:
        return _dump(conn.execute, tables)
