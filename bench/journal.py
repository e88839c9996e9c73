"""Durable commands/s: the real Sequencer + GroupCommitter + SegmentWriter, no network.

A driver coroutine submits N fixed-seed Place commands (default 500,000) on TEST
BTC/USDT (two funded products, as in ``bench/engine.py``) in bursts of ``--burst``
commands: each burst is applied inline and becomes one journal frame; while one fsync
runs, the next frames queue and go out as one group. At most ``--window`` commands wait
for durability at a time (a server's clients would be waiting for those replies). A
command counts once its future has resolved, i.e. after its group's ``fdatasync``.

    python bench/journal.py [--n 500000] [--burst 500] [--window 20000] [--dir /tmp]

Prints durable commands/s with fsync on, the number of groups (= fsyncs), frames and
commands per group (mean/p50/max), fsync latency p50/p99, then the same run with fsync off
for comparison. The journal goes to a fresh directory under ``--dir`` (deleted after).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ceres.domain import commands as C
from ceres.gcpolicy import tune_gc
from ceres.journal.file.group_commit import GroupCommitter
from ceres.journal.file.segments import DataDir, SegmentWriter
from ceres.pipeline.dispatch import Dispatcher
from ceres.pipeline.frames import scan
from ceres.pipeline.sequencer import Sequencer
from engine import make_engine, make_stream


class TimedWriter(SegmentWriter):
    """SegmentWriter that records each group write: (bytes, write s, fdatasync s)."""

    def __init__(self, *args, **kw) -> None:
        super().__init__(*args, **kw)
        self.log: list[tuple[int, float, float]] = []

    def write(self, data: bytes) -> None:
        do_sync, self.fsync = self.fsync, False
        t0 = time.perf_counter()
        try:
            super().write(data)
            t1 = time.perf_counter()
            if do_sync:
                os.fdatasync(self.fd)
        finally:
            self.fsync = do_sync
        self.log.append((len(data), t1 - t0, time.perf_counter() - t1))


def place_commands(n: int, seed: int) -> list[C.Place]:
    """The first ``n`` Place commands of bench/engine.py's stream (its cancels dropped)."""
    out = [c for c in make_stream(n + n // 3 + 1000, seed) if c.__class__ is C.Place]
    while len(out) < n:  # pragma: no cover - the stream is 75% places
        out += [c for c in make_stream(n, seed + len(out)) if c.__class__ is C.Place]
    return out[:n]


@dataclass
class Result:
    fsync: bool
    n: int
    acked: int
    elapsed: float
    groups: int
    frames_per_group: list[int]
    cmds_per_group: list[int]
    fsync_s: list[float]
    journal_bytes: int


async def run_once(cmds: list[C.Place], *, fsync: bool, burst: int, window: int, root: Path) -> Result:
    d = DataDir(Path(tempfile.mkdtemp(prefix="ceres-bench-journal-", dir=root)))
    try:
        d.create()
        engine = make_engine()
        loop = asyncio.get_running_loop()
        writer = TimedWriter(d, engine.seq + 1, fsync=fsync, segment_bytes=1 << 40)
        committer = GroupCommitter(writer)
        seq = Sequencer(engine, committer, Dispatcher([]), None, loop)
        committer.start(seq)
        submit = seq.submit
        pending: deque[list[asyncio.Future]] = deque()
        inflight = acked = 0
        n = len(cmds)
        tune_gc()
        t0 = time.perf_counter()
        for i in range(0, n, burst):
            futs = [submit(c) for c in cmds[i:i + burst]]
            pending.append(futs)
            inflight += len(futs)
            while inflight >= window:
                done = pending.popleft()
                await done[-1]
                acked += sum(1 for f in done if f.done() and f.exception() is None)
                inflight -= len(done)
            await asyncio.sleep(0)  # the loop flushes the burst as one frame
        while pending:
            done = pending.popleft()
            await asyncio.gather(*done, return_exceptions=True)
            acked += sum(1 for f in done if f.done() and f.exception() is None)
        elapsed = time.perf_counter() - t0
        committer.close()
        # frames and commands per group, from the segment itself and the writes' sizes
        log = writer.log
        frames = []
        for _, path in d.segments():
            frames += scan(path.read_bytes()).frames
        frames_per_group, cmds_per_group = [], []
        fi, end = 0, 0
        for size, _, _ in log:
            end += size
            nf = nc = 0
            while fi < len(frames) and frames[fi].end <= end:
                nf += 1
                nc += frames[fi].count
                fi += 1
            frames_per_group.append(nf)
            cmds_per_group.append(nc)
        return Result(fsync, n, acked, elapsed, len(log), frames_per_group, cmds_per_group,
                      [s for _, _, s in log], sum(size for size, _, _ in log))
    finally:
        shutil.rmtree(d.root, ignore_errors=True)


def _pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(p * len(s)))] if s else 0.0


def report(r: Result) -> None:
    rate = r.acked / r.elapsed
    label = "fsync ON " if r.fsync else "fsync OFF"
    print(f"{label}: {r.acked:,}/{r.n:,} commands acknowledged in {r.elapsed:.2f} s: "
          f"{rate:,.0f} durable commands/s")
    print(f"  groups (= write+{'fdatasync' if r.fsync else 'no sync'}): {r.groups:,}  "
          f"journal {r.journal_bytes / 1e6:.1f} MB ({r.journal_bytes / max(r.n, 1):.1f} B/command)")
    fpg, cpg = r.frames_per_group, r.cmds_per_group
    print(f"  frames per group:   mean {statistics.fmean(fpg):.1f}  p50 {_pct(fpg, 0.5):.0f}  max {max(fpg)}")
    print(f"  commands per group: mean {statistics.fmean(cpg):,.0f}  p50 {_pct(cpg, 0.5):,.0f}  max {max(cpg):,}")
    if r.fsync:
        ms = [s * 1000 for s in r.fsync_s]
        print(f"  fdatasync latency (ms): p50 {_pct(ms, 0.5):.3f}  p99 {_pct(ms, 0.99):.3f}  max {max(ms):.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--burst", type=int, default=500, help="commands submitted per loop iteration")
    ap.add_argument("--window", type=int, default=20_000, help="commands awaiting durability at most")
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()), help="where the journal goes")
    ap.add_argument("--no-fsync-off", action="store_true", help="skip the fsync-off comparison run")
    args = ap.parse_args()
    try:
        import uvloop

        runner, loop_name = uvloop.run, "uvloop"
    except ImportError:  # pragma: no cover
        runner, loop_name = asyncio.run, "asyncio"
    cmds = place_commands(args.n, args.seed)
    print(f"machine: {platform.machine()} {platform.python_implementation()} {platform.python_version()}"
          f"  cpus {os.cpu_count()}  loop {loop_name}  dir {args.dir}")
    print(f"commands: {args.n:,} places  burst {args.burst}  window {args.window:,}")
    runs = [True] + ([] if args.no_fsync_off else [False])
    for fsync in runs:
        report(runner(run_once(cmds, fsync=fsync, burst=args.burst, window=args.window, root=args.dir)))


if __name__ == "__main__":
    main()
