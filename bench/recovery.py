"""Restart time: recovery from the newest snapshot versus a replay of the whole journal.

Builds a data directory with N journaled commands (default 1,000,000) through the real
a node (fsync off to build fast; ``snapshot_every`` 100,000; ``keep_snapshots``
0 so nothing is pruned and a full replay stays possible; the SQLite projection is written
as in a server). The command mix is ``bench/engine.py``'s on TEST BTC/USDT: 50% passive
limit orders, 25% crossing ones, 25% cancels of an earlier order. The node is then closed
*without* a final snapshot, as a crash would leave it. Then it measures:

* restart: ``open_node`` (lock, projection check, newest snapshot + journal tail);
* ``recover`` from the newest snapshot, and from the one before it (as when the newest
  is damaged: about ``snapshot_every`` more records to replay);
* ``recover`` without snapshots: every record from seq 1;

and checks that all of them reach the same state hash.

    python bench/recovery.py [--n 1000000] [--snapshot-every 100000] [--dir /tmp] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from collections import deque
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ceres.assembly import engine_factory, open_journal, open_node
from ceres.config import load_config
from ceres.domain import commands as C
from ceres.gcpolicy import tune_gc
from ceres.journal.file.segments import DataDir
from ceres.pipeline.recovery import recover
from engine import make_stream

console = Console()
SETUP_FUNDS = (("USDT", 10**17), ("BTC", 10**15))  # as bench/engine.py (under the int64 cap)


def node_config(snapshot_every: int):
    return load_config(env={}, overrides={
        "journal": {"fsync": False, "snapshot_every": snapshot_every, "keep_snapshots": 0},
        "demo": {"enabled": False}})


async def build(root: Path, n: int, snapshot_every: int, seed: int, burst: int = 1000,
                window: int = 20_000) -> tuple[int, str]:
    """Journal ``n`` commands; returns (last seq, state hash)."""
    node, _ = open_node(node_config(snapshot_every), root)
    seq = node.sequencer
    setup: list[C.Command] = []
    for name in ("alice", "bob"):
        setup.append(C.CreateProduct(name))
        for cur, amount in SETUP_FUNDS:
            setup += [C.Deposit(name, cur, amount), C.Transfer(name, cur, amount, 2, 3, "TEST")]
    for cmd in setup:
        await seq.submit(cmd)
    stream = make_stream(n - len(setup), seed)
    placed: dict[str, list[int]] = {"alice": [], "bob": []}
    tune_gc()
    pending: deque[list[asyncio.Future]] = deque()
    inflight = 0
    with Progress(TextColumn("building journal"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=False) as progress:
        task = progress.add_task("build", total=n)
        done_count = len(setup)
        for i in range(0, len(stream), burst):
            futs = []
            for item in stream[i:i + burst]:
                if item.__class__ is tuple:  # cancel a random earlier order of that product
                    who, r = item
                    ids = placed[who]
                    if not ids:
                        futs.append(seq.submit(C.CreateProduct(f"filler-{i}-{len(futs)}")))
                        continue
                    k = int(r * len(ids))
                    oid = ids[k]
                    ids[k] = ids[-1]
                    ids.pop()
                    futs.append(seq.submit(C.Cancel(who, (oid,))))
                else:
                    fut = seq.submit(item)
                    fut.add_done_callback(lambda f, who=item.product: placed[who].append(f.result()))
                    futs.append(fut)
            pending.append(futs)
            inflight += len(futs)
            while inflight >= window:
                done = pending.popleft()
                await asyncio.gather(*done)
                inflight -= len(done)
                done_count += len(done)
                progress.update(task, completed=done_count)
            await asyncio.sleep(0)
        while pending:
            done = pending.popleft()
            await asyncio.gather(*done)
            done_count += len(done)
        progress.update(task, completed=done_count)
        await seq.projection_caught_up()
    last, state = node.engine.seq, node.engine.state_hash()
    problems = node.engine.check()
    if problems:
        raise SystemExit(f"engine inconsistent after build: {problems[:3]}")
    await node.close(final_snapshot=False)  # as a crash leaves it: no snapshot at the end
    return last, state


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


async def restart(root: Path, snapshot_every: int) -> tuple[float, int, int | None, str]:
    (node, report), elapsed = timed(lambda: open_node(node_config(snapshot_every), root))
    h = node.engine.state_hash()
    await node.close(final_snapshot=False)
    rec = report.recovery
    return elapsed, rec.replayed, rec.snapshot_seq, h


def size_mb(paths) -> float:
    return sum(p.stat().st_size for p in paths) / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--snapshot-every", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    ap.add_argument("--keep", action="store_true", help="keep the data directory")
    args = ap.parse_args()
    try:
        import uvloop

        run = uvloop.run
    except ImportError:  # pragma: no cover
        run = asyncio.run
    root = Path(tempfile.mkdtemp(prefix="ceres-bench-recovery-", dir=args.dir)) / "data"
    print(f"machine: {platform.machine()} {platform.python_implementation()} {platform.python_version()}"
          f"  cpus {os.cpu_count()}  dir {root}")
    try:
        t0 = time.perf_counter()
        last, built_hash = run(build(root, args.n, args.snapshot_every, args.seed))
        build_s = time.perf_counter() - t0
        d = DataDir(root)
        snaps = d.snapshot_files()
        segs = d.segments()
        print(f"built: {last:,} commands in {build_s:.1f} s ({last / build_s:,.0f}/s, fsync off, "
              f"projection on)")
        print(f"journal: {len(segs)} segments, {size_mb(p for _, p in segs):.1f} MB  "
              f"({size_mb(p for _, p in segs) * 1e6 / last:.1f} B/command)")
        print(f"snapshots: {len(snaps)} (every {args.snapshot_every:,}), newest at seq {snaps[-1][0]:,}: "
              f"{size_mb([snaps[-1][1]]):.1f} MB  projection {size_mb(root.glob('ceres.db*')):.1f} MB")

        restart_s, replayed, snap_seq, h_open = run(restart(root, args.snapshot_every))
        print(f"restart (open_node, newest snapshot {snap_seq:,} + {replayed:,} records): {restart_s:.2f} s")

        cfg = node_config(args.snapshot_every)
        make_engine = engine_factory(cfg)
        journal = open_journal(cfg, root)
        newest, t_newest = timed(lambda: recover(journal, make_engine))
        print(f"recover, newest snapshot ({newest.snapshot_seq:,}) + {newest.replayed:,} records: "
              f"{t_newest:.2f} s")
        older = newest
        if len(snaps) > 1:
            older, t_older = timed(lambda: recover(journal, make_engine, max_snapshot_seq=snaps[-1][0] - 1))
            print(f"recover, previous snapshot ({older.snapshot_seq:,}) + {older.replayed:,} records "
                  f"(as if the newest were damaged): {t_older:.2f} s")
        full, t_full = timed(lambda: recover(journal, make_engine, use_snapshots=False))
        print(f"recover, no snapshot, full replay of {full.replayed:,} records: {t_full:.2f} s "
              f"({full.replayed / t_full:,.0f} records/s)")
        hashes = {built_hash, h_open, newest.engine.state_hash(), older.engine.state_hash(),
                  full.engine.state_hash()}
        print(f"state hashes agree: {'yes' if len(hashes) == 1 else 'NO'}  "
              f"open orders {len(full.engine.open_orders):,}")
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root.parent, ignore_errors=True)


if __name__ == "__main__":
    random.seed(0)
    main()
