"""Durable order placements over the biz_type WebSocket, against a bare picows echo ceiling.

Starts a real ``ceres serve`` (fsync on, simulator off) in a temp dir, then drives it from
a separate load process with picows clients: 1, 16 and 100 connections, each keeping
``--window`` placements in flight (biz_type 11, alternating buy/sell at one price so
orders cross and the book stays small). Every reply is an acknowledged, durable order.
In the same run a bare picows server that decodes the JSON and answers an envelope-like
reply is measured with the same clients: the ceiling for this machine and client.

    python bench/ws_orders.py [--seconds 5] [--window 32] [--conns 1,16,100]

Prints placements/s, ack latency p50/p99 (ms), echo msgs/s and the ratio.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def _load(url: str, conns: int, window: int, seconds: float, payloads: list[bytes], out: mp.Queue,
          latency_conns: int) -> None:
    """Runs in a child process: ``conns`` picows clients, ``window`` requests in flight each."""
    import asyncio

    import uvloop
    from picows import WSListener, WSMsgType, ws_connect

    done = {"n": 0, "errors": 0}
    lat: list[float] = []
    stop_at = [0.0]

    class Client(WSListener):
        def __init__(self, idx: int) -> None:
            self.idx = idx
            self.sent: list[float] = []
            self.k = 0
            self.t = None

        def on_ws_connected(self, transport):
            self.t = transport

        def fire(self) -> None:
            p = payloads[self.k % len(payloads)]
            self.k += 1
            self.sent.append(time.perf_counter())
            self.t.send(WSMsgType.TEXT, p)

        def on_ws_frame(self, transport, frame):
            if frame.msg_type != WSMsgType.TEXT:
                return
            now = time.perf_counter()
            t0 = self.sent.pop(0)
            if b'"200"' not in frame.get_payload_as_bytes()[:40]:
                done["errors"] += 1
            done["n"] += 1
            if self.idx < latency_conns:
                lat.append(now - t0)
            if now < stop_at[0]:
                self.fire()

    async def main() -> None:
        clients = []
        for i in range(conns):
            _, c = await ws_connect(lambda i=i: Client(i), url)
            clients.append(c)
        warm = time.perf_counter() + 0.5
        stop_at[0] = warm + seconds
        for c in clients:
            for _ in range(window):
                c.fire()
        await asyncio.sleep(max(0.0, warm - time.perf_counter()))
        n0 = done["n"]
        lat.clear()
        t0 = time.perf_counter()
        await asyncio.sleep(seconds)
        n1 = done["n"]
        elapsed = time.perf_counter() - t0
        await asyncio.sleep(0.5)
        lat.sort()
        out.put({"rate": (n1 - n0) / elapsed, "errors": done["errors"],
                 "p50": lat[len(lat) // 2] * 1000 if lat else 0,
                 "p99": lat[int(len(lat) * 0.99)] * 1000 if lat else 0})
        for c in clients:
            c.t.disconnect()

    uvloop.run(main())


def _echo_server(port_q: mp.Queue) -> None:
    import asyncio

    import msgspec
    import uvloop
    from picows import WSListener, WSMsgType, ws_create_server

    dec = msgspec.json.Decoder()
    enc = msgspec.json.Encoder()

    class Echo(WSListener):
        def on_ws_frame(self, transport, frame):
            obj = dec.decode(frame.get_payload_as_bytes())
            transport.send(WSMsgType.TEXT, enc.encode(
                {"code": "200", "data": {"client_oid": obj.get("client_oid", ""),
                                         "system_oid": "1179498568893857792"},
                 "message": "SUCESS", "biz_type": obj.get("biz_type")}))

    async def main() -> None:
        server = await ws_create_server(lambda r: Echo(), "127.0.0.1", 0)
        port_q.put(server.sockets[0].getsockname()[1])
        await asyncio.Event().wait()

    uvloop.run(main())


def payloads(product_hint: str = "") -> list[bytes]:
    return [json.dumps({"exchange": "TEST", "contract": "BTC/USDT", "price_type": "limit",
                        "entrust_price": "30000", "entrust_vol": "0.001", "entrust_bs": side,
                        "biz_type": 11}).encode() for side in ("buy", "sell")]


def measure(url: str, conns: int, window: int, seconds: float) -> dict:
    q: mp.Queue = mp.Queue()
    p = mp.Process(target=_load, args=(url, conns, window, seconds, payloads(), q, min(conns, 4)))
    p.start()
    result = q.get(timeout=seconds + 60)
    p.join(30)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--window", type=int, default=32)
    ap.add_argument("--conns", default="1,16,100")
    args = ap.parse_args()
    conn_counts = [int(c) for c in args.conns.split(",")]

    from tests.serverproc import ServerProcess

    from ceres.client import ws_sign

    mp.set_start_method("spawn")
    tmp = Path(tempfile.mkdtemp(prefix="ceres-bench-"))
    server = ServerProcess(tmp / "data", extra_args=("--no-simulator",),
                           config="[journal]\nsnapshot_every = 0\n").start()
    demo = server.demo()
    sign = ws_sign(demo["api_key"], demo["secret"])
    url = f"ws://127.0.0.1:{server.info['trade_ws']}/?api_key={demo['api_key']}&sign={sign}"
    port_q: mp.Queue = mp.Queue()
    echo = mp.Process(target=_echo_server, args=(port_q,), daemon=True)
    echo.start()
    echo_url = f"ws://127.0.0.1:{port_q.get(timeout=30)}/"
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"fsync on; window {args.window} per connection; {args.seconds:.0f} s per run")
    print(f"{'conns':>5} {'placements/s':>13} {'p50 ms':>7} {'p99 ms':>7} {'echo msg/s':>11} {'ratio':>6} "
          f"{'errors':>6}")
    try:
        for conns in conn_counts:
            window = 1 if conns == 1 and args.window == 0 else args.window
            r = measure(url, conns, window, args.seconds)
            e = measure(echo_url, conns, window, args.seconds)
            print(f"{conns:>5} {r['rate']:>13,.0f} {r['p50']:>7.2f} {r['p99']:>7.2f} {e['rate']:>11,.0f} "
                  f"{r['rate'] / e['rate']:>6.0%} {r['errors']:>6}")
        r = measure(url, 1, 1, args.seconds)
        print(f"one connection, one request in flight: {r['rate']:,.0f} placements/s, "
              f"ack p50 {r['p50']:.2f} ms, p99 {r['p99']:.2f} ms")
    finally:
        echo.terminate()
        server.stop()


if __name__ == "__main__":
    main()
