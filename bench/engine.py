"""Engine throughput: commands/s and per-command latency of the pure engine.

Mix over N fixed-seed commands (default 1,000,000) on TEST BTC/USDT with the spot ledger
on: 50% passive limit orders, 25% cancels of a random earlier order of the same product
(which may have filled since: the cancel then reports it, as a real one would), 25%
crossing limit orders. Two products trade against each other. Commands are built before timing, except
cancels, whose target id is only known at run time (building that Cancel is timed).

    python bench/engine.py [--n 1000000] [--seed 7]

Prints throughput over the whole run and p50/p99/p99.9 of per-command time measured on a
sample of commands (timer overhead subtracted).
"""

from __future__ import annotations

import argparse
import platform
import random
import time

from ceres.domain import commands as C
from ceres.domain.enums import Kind
from ceres.domain.instruments import Instrument
from ceres.engine.core import Engine
from ceres.gcpolicy import tune_gc

T0 = 1_760_000_000_000


def make_engine() -> Engine:
    inst = Instrument("TEST", "BTC/USDT", Kind.SPOT, "BTC", "USDT", "0.01", "0.0001", "0.01",
                      "0.0001", "0.0005", "0.0005", 8, 8)
    eng = Engine([inst], {"BTC": 8, "USDT": 8})
    seq = 0
    for name in ("alice", "bob"):
        for cmd in (C.CreateProduct(name),
                    C.Deposit(name, "USDT", 10**17), C.Deposit(name, "BTC", 10**15),
                    C.Transfer(name, "USDT", 10**17, 2, 3, "TEST"),
                    C.Transfer(name, "BTC", 10**15, 2, 3, "TEST")):
            seq += 1
            eng.apply(cmd, seq, T0)
    return eng


def make_stream(n: int, seed: int) -> list:
    rng = random.Random(seed)
    mid = 3_000_000  # 30000.00 USDT in ticks
    out: list = []
    for i in range(n):
        who = "alice" if i % 2 else "bob"
        r = rng.random()
        if r < 0.25:
            out.append((who, rng.random()))  # cancel one of who's earlier orders
            continue
        side = 1 if rng.random() < 0.5 else 2
        if r < 0.75:  # passive: rests away from the touch
            price = mid - rng.randint(1, 200) if side == 1 else mid + rng.randint(1, 200)
        else:  # crossing: takes liquidity a few levels deep
            price = mid + rng.randint(0, 30) if side == 1 else mid - rng.randint(0, 30)
        out.append(C.Place(who, "TEST", "BTC/USDT", side, 1, price, rng.randint(1, 50)))
    return out


def run(n: int, seed: int, sample_every: int = 10) -> None:
    eng = make_engine()
    stream = make_stream(n, seed)
    apply = eng.apply
    placed: dict[str, list[int]] = {"alice": [], "bob": []}
    seq = 100
    lat: list[int] = []
    perf = time.perf_counter_ns
    overhead = min(-(perf() - perf()) for _ in range(1000))
    tune_gc()  # the server's GC policy (ceres.gcpolicy)
    t_start = time.perf_counter()
    for i, cmd in enumerate(stream):
        seq += 1
        now = T0 + seq // 4
        sample = i % sample_every == 0
        if sample:
            t0 = perf()
        if cmd.__class__ is tuple:
            who, r = cmd
            ids = placed[who]
            if ids:
                # a random earlier order of who's (it may have filled meanwhile)
                k = int(r * len(ids))
                oid = ids[k]
                ids[k] = ids[-1]
                ids.pop()
                apply(C.Cancel(who, (oid,)), seq, now)
        else:
            placed[cmd.product].append(apply(cmd, seq, now))
        if sample:
            lat.append(perf() - t0 - overhead)
        if len(eng.events) > 4096:
            eng.events.clear()
    elapsed = time.perf_counter() - t_start
    lat.sort()
    problems = eng.check()

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))] / 1000

    print(f"machine: {platform.machine()} {platform.python_implementation()} {platform.python_version()}")
    print(f"commands: {n:,}  elapsed: {elapsed:.2f} s  throughput: {n / elapsed:,.0f} commands/s")
    print(f"per command (us): p50 {pct(0.50):.2f}  p99 {pct(0.99):.2f}  p99.9 {pct(0.999):.2f}")
    print(f"open orders at end: {len(eng.open_orders):,}  consistency: {'ok' if not problems else problems[:3]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    run(args.n, args.seed)


if __name__ == "__main__":
    main()
