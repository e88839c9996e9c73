"""Durable order placements over REST (POST /api/v1/trade/input), fsync on.

Starts a real ``ceres serve`` (simulator off) in a temp dir and drives it from a separate
load process: aiohttp clients on 1, 16 and 100 keep-alive connections, each sending signed
placements back to back (HTTP/1.1 has no pipelining), alternating buy/sell at one price so
the book stays small. Every 200 reply is an acknowledged, durable order.

    python bench/http_orders.py [--seconds 5] [--conns 1,16,100]

Prints placements/s and ack latency p50/p99 (ms) per connection count.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _load(base: str, api_key: str, secret: str, conns: int, seconds: float, out: mp.Queue) -> None:
    import asyncio
    import json

    import aiohttp
    import uvloop

    from ceres.client import rest_sign

    bodies = []
    for side in ("buy", "sell"):
        params = {"exchange": "TEST", "contract": "BTC/USDT", "price_type": "limit",
                  "entrust_price": "30000", "entrust_vol": "0.001", "entrust_bs": side}
        bodies.append((json.dumps(params).encode(), rest_sign(params, secret)))
    lat: list[float] = []
    stats = {"n": 0, "errors": 0}

    async def worker(session: aiohttp.ClientSession, stop_at: float, record: bool) -> None:
        k = 0
        while time.perf_counter() < stop_at:
            body, sign = bodies[k % 2]
            k += 1
            t0 = time.perf_counter()
            async with session.post(base + "/api/v1/trade/input", data=body,
                                    headers={"api_key": api_key, "sign": sign,
                                             "Content-Type": "application/json"}) as resp:
                data = await resp.read()
            if b'"200"' not in data[:20]:
                stats["errors"] += 1
            stats["n"] += 1
            if record:
                lat.append(time.perf_counter() - t0)

    async def main() -> None:
        connector = aiohttp.TCPConnector(limit=conns)
        async with aiohttp.ClientSession(connector=connector) as session:
            warm_end = time.perf_counter() + 0.5
            await asyncio.gather(*(worker(session, warm_end, False) for _ in range(conns)))
            lat.clear()
            n0 = stats["n"]
            t0 = time.perf_counter()
            stop_at = t0 + seconds
            await asyncio.gather(*(worker(session, stop_at, i < 4) for i in range(conns)))
            elapsed = time.perf_counter() - t0
        lat.sort()
        out.put({"rate": (stats["n"] - n0) / elapsed, "errors": stats["errors"],
                 "p50": lat[len(lat) // 2] * 1000 if lat else 0,
                 "p99": lat[int(len(lat) * 0.99)] * 1000 if lat else 0})

    uvloop.run(main())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--conns", default="1,16,100")
    args = ap.parse_args()

    from tests.serverproc import ServerProcess

    mp.set_start_method("spawn")
    tmp = Path(tempfile.mkdtemp(prefix="ceres-bench-"))
    server = ServerProcess(tmp / "data", extra_args=("--no-simulator",),
                           config="[journal]\nsnapshot_every = 0\n").start()
    demo = server.demo()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"fsync on; {args.seconds:.0f} s per run")
    print(f"{'conns':>5} {'placements/s':>13} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6}")
    try:
        for conns in (int(c) for c in args.conns.split(",")):
            q: mp.Queue = mp.Queue()
            p = mp.Process(target=_load, args=(server.http_url, demo["api_key"], demo["secret"], conns,
                                               args.seconds, q))
            p.start()
            r = q.get(timeout=args.seconds + 60)
            p.join(30)
            print(f"{conns:>5} {r['rate']:>13,.0f} {r['p50']:>7.2f} {r['p99']:>7.2f} {r['errors']:>6}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
