"""Engine throughput: commands/s and per-command latency of the pure engine.

Mix over N fixed-seed commands (default 1,000,000) on TEST BTC/USDT with the spot ledger
on: 50% passive limit orders, 25% cancels of a random earlier order of the same product
(which may have filled since: the cancel then reports it, as a real one would), 25%
crossing limit orders. Two products trade against each other. Commands are built before timing, except
cancels, whose target id is only known at run time (building that Cancel is timed).

    python bench/engine.py [--n 1000000] [--seed 7] [--mix spot|contracts]

``--mix contracts`` runs the leveraged-contract mix on a linear perpetual (0.001 BTC per
contract, USDT-settled, 0.5% maintenance): 35% passive opening orders (a third with TP/SL),
15% crossing opening orders, 15% closes by ``close_rule`` time (limit, crossing), 20%
cancels, 15% index moves (a random walk of the mark) that fire TP/SL and liquidations.

After each command its events are taken (``Engine.take_events``) as the sequencer takes
them, so the figure is what the server pays the engine per command. Prints throughput
over the whole run and p50/p99/p99.9 of per-command time measured on a sample of commands
(timer overhead subtracted).
"""

from __future__ import annotations

import argparse
import platform
import random
import time

from ceres.domain import commands as C
from ceres.domain.enums import Kind
from ceres.domain.errors import CeresError
from ceres.domain.instruments import Instrument
from ceres.engine.core import Engine
from ceres.gcpolicy import tune_gc

T0 = 1_760_000_000_000
BATCH = 256  # commands whose events are held at once (a group commit's worth)


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


def make_contract_engine() -> Engine:
    inst = Instrument("TEST", "PERP", Kind.PERPETUAL, "BTC", "USDT", "0.1", "1", "0.1", "1",
                      "-0.00025", "0.00075", 8, 8, contract_value="0.001", max_lever=100,
                      maint_margin="0.005", funding_interval_ms=28_800_000, funding_rate="0.0001")
    eng = Engine([inst], {"BTC": 8, "USDT": 8})
    seq = 0
    for name in ("alice", "bob"):
        for cmd in (C.CreateProduct(name), C.Deposit(name, "USDT", 10**17),
                    C.Transfer(name, "USDT", 10**17, 2, 4, "TEST")):
            seq += 1
            eng.apply(cmd, seq, T0)
    return eng


def make_contract_stream(n: int, seed: int) -> list:
    rng = random.Random(seed)
    mid = 300_000  # 30000.0 in ticks of 0.1
    mark = mid
    out: list = []
    for i in range(n):
        who = "alice" if i % 2 else "bob"
        r = rng.random()
        if r < 0.20:
            out.append((who, rng.random()))
            continue
        if r < 0.35:
            # the index wanders around the book's prices (within 0.5%), so TP/SL at
            # +-0.1..0.5% and lever-100 liquidations (~0.5% away) fire now and then
            mark = max(mid - 1500, min(mid + 1500, mark + rng.randint(-150, 150)))
            out.append(C.SetIndex("TEST", "PERP", mark))
            continue
        side = 1 if rng.random() < 0.5 else 2
        vol = rng.randint(1, 50)
        if r < 0.50:  # close the oldest positions on that side, crossing
            price = mid + 100 if side == 1 else mid - 100
            out.append(C.Place(who, "TEST", "PERP", side, 1, price, vol, "", 2, 1, 0, 0, 0, 1))
            continue
        lever = rng.choice((5, 10, 20, 50, 100))
        if r < 0.85:
            price = mid - rng.randint(1, 200) if side == 1 else mid + rng.randint(1, 200)
        else:
            price = mid + rng.randint(0, 30) if side == 1 else mid - rng.randint(0, 30)
        tp = sl = 0
        if rng.random() < 0.33:
            dist = rng.randint(300, 1500)
            tp = price + dist if side == 1 else price - dist
            sl = price - dist if side == 1 else price + dist
        out.append(C.Place(who, "TEST", "PERP", side, 1, price, vol, "", 1, lever, tp, sl))
    return out


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


def run(n: int, seed: int, sample_every: int = 10, mix: str = "spot") -> None:
    eng = make_contract_engine() if mix == "contracts" else make_engine()
    stream = (make_contract_stream if mix == "contracts" else make_stream)(n, seed)
    apply = eng.apply
    take = eng.take_events
    batch: list[list] = []
    placed: dict[str, list[int]] = {"alice": [], "bob": []}
    rejected = 0
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
        elif cmd.__class__ is C.Place:
            try:
                result = apply(cmd, seq, now)
            except CeresError:  # e.g. a close with nothing left to close
                rejected += 1
            else:
                if result.__class__ is list:
                    placed[cmd.product].extend(result)
                else:
                    placed[cmd.product].append(result)
        else:
            apply(cmd, seq, now)
        batch.append(take())  # as the sequencer does: each command's events (numbered notices)
        if sample:
            lat.append(perf() - t0 - overhead)
        if len(batch) == BATCH:  # ... held until their group is durable
            batch.clear()
    elapsed = time.perf_counter() - t_start
    lat.sort()
    problems = eng.check()

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))] / 1000

    print(f"machine: {platform.machine()} {platform.python_implementation()} {platform.python_version()}")
    print(f"mix: {mix}")
    print(f"commands: {n:,}  elapsed: {elapsed:.2f} s  throughput: {n / elapsed:,.0f} commands/s"
          f"  (rejected: {rejected:,})")
    print(f"per command (us): p50 {pct(0.50):.2f}  p99 {pct(0.99):.2f}  p99.9 {pct(0.999):.2f}")
    print(f"open orders at end: {len(eng.open_orders):,}  positions: {len(eng.contracts.positions):,}  "
          f"consistency: {'ok' if not problems else problems[:3]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--mix", choices=("spot", "contracts"), default="spot")
    args = ap.parse_args()
    run(args.n, args.seed, mix=args.mix)


if __name__ == "__main__":
    main()
