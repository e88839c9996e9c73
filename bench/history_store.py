"""History-store write throughput: SQLite versus PostgreSQL (COPY into staging + upsert).

Runs ``bench/engine.py``'s spot mix (50% passive limit orders, 25% crossing, 25% cancels of
an earlier order) through a real engine, keeps every command's events as a durable item,
then feeds the items to each backend's projection in groups, as the server does: groups of
``--live`` commands (the background thread's few-ms gathers) and of 2000 (``ceres
rebuild``'s replay chunks). Prints rows written per second (orders, fills, trades, candle
bars and notice groups, counted as the writer stages them), commands per second, and rows
per second of the storing alone (the time to collect rows from events, measured apart,
taken off: for PostgreSQL, the COPYs, upserts and commits).

PostgreSQL: ``--dsn`` (default the test server on 127.0.0.1:5432), in a throwaway schema
that is dropped afterwards.

    python bench/history_store.py [--n 50000] [--live 64] [--dsn postgresql://...]
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ceres.domain import commands as C
from ceres.domain.errors import CeresError
from ceres.pipeline.history import Batch
from ceres.store.rows import Rows
from ceres.store.sqlite import SqliteProjection
from engine import T0, make_engine, make_stream

REPLAY_GROUP = 2000


def journal_items(n: int, seed: int = 7) -> Batch:
    eng = make_engine()
    placed: dict[str, list[int]] = {"alice": [], "bob": []}
    items: Batch = []
    for seq, cmd in enumerate(make_stream(n, seed), start=100):
        now = T0 + seq * 20  # 50 commands a second: trades spread over many minute bars
        if isinstance(cmd, tuple):
            who, r = cmd
            ids = placed[who]
            if ids:
                eng.apply(C.Cancel(who, (ids.pop(int(r * len(ids))),)), seq, now)
        else:
            with contextlib.suppress(CeresError):  # a spot mix refuses nothing, but be safe
                placed[cmd.product].append(eng.apply(cmd, seq, now))
        items.append((seq, eng.take_events()))
    return items


def rows_in(items: Batch, group: int) -> tuple[int, float]:
    """Rows the writer stages for ``items`` in groups of ``group``, and the time it takes
    to collect them from the events (Python, the same for both backends)."""
    total, start = 0, time.perf_counter()
    for i in range(0, len(items), group):
        r = Rows.collect(items[i:i + group], frozenset())
        total += len(r.orders) + len(r.fills) + len(r.trades) + len(r.candles()) + len(r.notices)
    return total, time.perf_counter() - start


def measure(projection: Any, items: Batch, group: int) -> float:
    start = time.perf_counter()
    for i in range(0, len(items), group):
        projection.apply(items[i:i + group])
    elapsed = time.perf_counter() - start
    projection.close()
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=50_000, help="commands")
    ap.add_argument("--live", type=int, default=64, help="commands per group in the live case")
    ap.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/test")
    args = ap.parse_args()
    import psycopg

    from ceres.store.postgres import PostgresProjection

    items = journal_items(args.n)
    print(f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, "
          f"psycopg {psycopg.__version__}; {len(items)} commands, "
          f"{sum(len(evs) for _, evs in items)} events")
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    try:
        for group in (args.live, REPLAY_GROUP):
            rows, collect_s = rows_in(items, group)
            with tempfile.TemporaryDirectory() as tmp:
                sqlite_s = measure(SqliteProjection(Path(tmp) / "h.db"), items, group)
            pg = PostgresProjection(args.dsn, schema)
            pg.reset()
            pg_s = measure(pg, items, group)
            for name, elapsed in (("sqlite", sqlite_s), ("postgres", pg_s)):
                print(f"  {name:8} groups of {group:4} commands: {rows / elapsed:9,.0f} rows/s "
                      f"({len(items) / elapsed:7,.0f} commands/s; storing alone {rows / (elapsed - collect_s):7,.0f} "
                      f"rows/s; {rows} rows, {elapsed:.2f} s)")
    finally:
        with psycopg.connect(args.dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


if __name__ == "__main__":
    main()
