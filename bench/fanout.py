"""Fan-out of market data (18003) and notices (19003) under order load, and the memory an
idle market-data connection costs the server.

Phase 1 (fan-out): a real ``ceres serve`` (fsync on, simulator off, ``push_interval_ms``
small) in a temp dir. Subscriber processes (picows clients) open ``--market-subs``
connections to 18003, each subscribing to depth10, trade and tick of BTC/USDT, and
``--notice-subs`` connections to 19003 with the demo key. A separate load process places
orders over 19001 (demo key, alternating buy/sell at one price, so every pair prints a
trade) for ``--seconds``. Counted at the clients over the same window: market pushes/s
(by type), notices/s, and at the load process: placements/s. Subscribers the server
dropped for not reading (close 1008) are reported.

Phase 2 (memory): a fresh server; a client process raises its fd limit
(``resource.setrlimit``) and opens ``--idle`` WebSocket connections to 18003 that only
read the greeting. Prints (server RSS after - before) / connections in KB (target <= 20 KB)
and the server's fd limit; if the limits do not allow that many, as many as possible.

    python bench/fanout.py [--seconds 5] [--market-subs 1000] [--notice-subs 100] [--idle 10000]
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

CONTRACT = "BTC/USDT"


def _raise_fd_limit() -> int:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# --- phase 1: subscribers -----------------------------------------------------------------------
def _subscribers(market_url: str, notify_url: str, n_market: int, n_notice: int, ready: mp.Queue,
                 go: mp.Queue, out: mp.Queue) -> None:
    """Runs in a child process: picows clients that count what they receive."""
    import asyncio

    import uvloop
    from picows import WSListener, WSMsgType, ws_connect

    _raise_fd_limit()
    counts = {"push-trade": 0, "push-depth10": 0, "push-tick": 0, "push-candle": 0, "notice": 0, "other": 0}
    state = {"acked": 0, "closed_1008": 0, "closed": 0}
    sub = json.dumps([{"msg_type": f"subscribe-{k}", "exchange": "TEST", "contract": CONTRACT, "duration": None}
                      for k in ("depth10", "trade", "tick")]).encode()
    kinds = {b"push-trade": "push-trade", b"push-depth": "push-depth10", b"push-tick\"": "push-tick",
             b"push-candl": "push-candle"}

    class MarketClient(WSListener):
        def on_ws_connected(self, transport):
            self.greeted = False
            transport.send(WSMsgType.TEXT, sub)

        def on_ws_frame(self, transport, frame):
            mt = frame.msg_type
            if mt == WSMsgType.TEXT:
                head = frame.get_payload_as_bytes()[:24]
                kind = kinds.get(head[13:23])
                if kind is not None:
                    counts[kind] += 1
                elif head.startswith(b"[{"):
                    state["acked"] += 1
                else:
                    counts["other"] += 1
            elif mt == WSMsgType.CLOSE:
                if frame.get_close_code() == 1008:
                    state["closed_1008"] += 1
                state["closed"] += 1
                transport.send_close(frame.get_close_code())
                transport.disconnect()

    class NoticeClient(WSListener):
        def on_ws_frame(self, transport, frame):
            if frame.msg_type == WSMsgType.TEXT:
                counts["notice"] += 1
            elif frame.msg_type == WSMsgType.CLOSE:
                state["closed"] += 1
                transport.disconnect()

    async def main() -> None:
        transports = []
        for _ in range(n_market):
            t, _ = await ws_connect(MarketClient, market_url)
            transports.append(t)
        for _ in range(n_notice):
            t, _ = await ws_connect(NoticeClient, notify_url)
            transports.append(t)
        deadline = time.monotonic() + 60
        while state["acked"] < n_market and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        ready.put(state["acked"])
        loop = asyncio.get_running_loop()
        start_at, seconds = await loop.run_in_executor(None, go.get)
        await asyncio.sleep(max(0.0, start_at - time.time()))
        c0 = dict(counts)
        t0 = time.perf_counter()
        await asyncio.sleep(seconds)
        c1 = dict(counts)
        elapsed = time.perf_counter() - t0
        out.put({"rates": {k: (c1[k] - c0[k]) / elapsed for k in counts}, "totals": c1, **state})
        for t in transports:
            t.disconnect()
        await asyncio.sleep(0.2)

    uvloop.run(main())


# --- phase 1: order load ------------------------------------------------------------------------
def _load(trade_url: str, conns: int, window: int, go: mp.Queue, out: mp.Queue) -> None:
    import asyncio

    import uvloop
    from picows import WSListener, WSMsgType, ws_connect

    payloads = [json.dumps({"biz_type": 11, "exchange": "TEST", "contract": CONTRACT, "price_type": "limit",
                            "entrust_price": "30000", "entrust_vol": "0.001", "entrust_bs": side}).encode()
                for side in ("buy", "sell")]
    done = {"n": 0, "errors": 0}
    stop_at = [0.0]

    class Client(WSListener):
        def __init__(self) -> None:
            self.k = 0
            self.t = None

        def on_ws_connected(self, transport):
            self.t = transport

        def fire(self) -> None:
            self.t.send(WSMsgType.TEXT, payloads[self.k % 2])
            self.k += 1

        def on_ws_frame(self, transport, frame):
            if frame.msg_type != WSMsgType.TEXT:
                return
            if b'"200"' not in frame.get_payload_as_bytes()[:40]:
                done["errors"] += 1
            done["n"] += 1
            if time.time() < stop_at[0]:
                self.fire()

    async def main() -> None:
        clients = []
        for _ in range(conns):
            _, c = await ws_connect(Client, trade_url)
            clients.append(c)
        loop = asyncio.get_running_loop()
        start_at, seconds = await loop.run_in_executor(None, go.get)
        stop_at[0] = start_at + seconds
        await asyncio.sleep(max(0.0, start_at - time.time() - 0.3))  # start a little early: warm
        for c in clients:
            for _ in range(window):
                c.fire()
        await asyncio.sleep(max(0.0, start_at - time.time()))
        n0 = done["n"]
        t0 = time.perf_counter()
        await asyncio.sleep(seconds)
        n1 = done["n"]
        elapsed = time.perf_counter() - t0
        await asyncio.sleep(1.0)
        out.put({"rate": (n1 - n0) / elapsed, "errors": done["errors"]})
        for c in clients:
            c.t.disconnect()

    uvloop.run(main())


# --- phase 2: idle connections --------------------------------------------------------------------
def _idle(market_url: str, n: int, ready: mp.Queue, release: mp.Queue) -> None:
    import asyncio

    import uvloop
    from picows import WSListener, ws_connect

    limit = _raise_fd_limit()
    greeted = [0]

    class Idle(WSListener):
        def on_ws_frame(self, transport, frame):
            greeted[0] += 1

    async def main() -> None:
        transports = []
        error = ""
        sem = asyncio.Semaphore(200)

        async def one() -> None:
            nonlocal error
            async with sem:
                try:
                    t, _ = await ws_connect(Idle, market_url)
                    transports.append(t)
                except OSError as exc:
                    error = error or repr(exc)

        target = min(n, max(0, limit - 100))
        await asyncio.gather(*(one() for _ in range(target)))
        deadline = time.monotonic() + 30
        while greeted[0] < len(transports) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        ready.put({"open": len(transports), "greeted": greeted[0], "client_fd_limit": limit, "error": error})
        await asyncio.get_running_loop().run_in_executor(None, release.get)
        for t in transports:
            t.disconnect()
        await asyncio.sleep(0.5)

    uvloop.run(main())


# --- driver ----------------------------------------------------------------------------------------
def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fd_limit(pid: int) -> str:
    with open(f"/proc/{pid}/limits") as f:
        line = next(line for line in f if line.startswith("Max open files"))
    soft, hard = line.split()[3:5]
    return f"{soft} (hard {hard})"


def fanout(args: argparse.Namespace, tmp: Path) -> None:
    from tests.serverproc import ServerProcess

    from ceres.client import ws_sign

    server = ServerProcess(tmp / "fanout", extra_args=("--no-simulator",),
                           config=f"[market]\npush_interval_ms = {args.push_interval_ms}\n"
                                  "[journal]\nsnapshot_every = 0\n"
                                  "[limits]\nmax_connections_per_ip = 20000\nmax_connections_per_key = 20000\n"
                           ).start()
    procs: list[mp.Process] = []
    try:
        demo = server.demo()
        q = f"?api_key={demo['api_key']}&sign={ws_sign(demo['api_key'], demo['secret'])}"
        market_url = f"ws://127.0.0.1:{server.info['market_ws']}/"
        notify_url = f"ws://127.0.0.1:{server.info['notify_ws']}/{q}"
        trade_url = f"ws://127.0.0.1:{server.info['trade_ws']}/{q}"
        ready, out, go = mp.Queue(), mp.Queue(), mp.Queue()
        per = [args.market_subs // args.client_procs + (1 if i < args.market_subs % args.client_procs else 0)
               for i in range(args.client_procs)]
        notices = [args.notice_subs if i == 0 else 0 for i in range(args.client_procs)]
        for m, nn in zip(per, notices, strict=True):
            p = mp.Process(target=_subscribers, args=(market_url, notify_url, m, nn, ready, go, out))
            p.start()
            procs.append(p)
        acked = sum(ready.get(timeout=120) for _ in procs)
        load_out = mp.Queue()
        loader = mp.Process(target=_load, args=(trade_url, args.load_conns, args.window, go, load_out))
        loader.start()
        procs.append(loader)
        time.sleep(1.0)  # load connections open
        start_at = time.time() + 1.0
        for _ in range(len(procs)):
            go.put((start_at, args.seconds))
        pids = {"server": server.info["pid"], "load": loader.pid,
                "subscribers": [p.pid for p in procs[:args.client_procs]]}
        time.sleep(max(0.0, start_at - time.time()))
        cpu0 = {k: sum(cpu_seconds(x) for x in (v if isinstance(v, list) else [v])) for k, v in pids.items()}
        t0 = time.perf_counter()
        time.sleep(args.seconds)
        cpu1 = {k: sum(cpu_seconds(x) for x in (v if isinstance(v, list) else [v])) for k, v in pids.items()}
        busy = {k: (cpu1[k] - cpu0[k]) / (time.perf_counter() - t0) for k in pids}
        results = [out.get(timeout=args.seconds + 60) for _ in range(args.client_procs)]
        load = load_out.get(timeout=args.seconds + 60)
        rates: dict[str, float] = {}
        for r in results:
            for k, v in r["rates"].items():
                rates[k] = rates.get(k, 0.0) + v
        market_rate = sum(v for k, v in rates.items() if k.startswith("push-"))
        dropped = sum(r["closed_1008"] for r in results)
        closed = sum(r["closed"] for r in results)
        print(f"phase 1: {args.market_subs} market subscribers (depth10+trade+tick of {CONTRACT}, {acked} "
              f"subscribed), {args.notice_subs} notice sockets (demo key); load: {args.load_conns} conns x "
              f"{args.window} in flight, {args.seconds:.0f} s; push_interval_ms {args.push_interval_ms}; fsync on")
        print(f"  order placements/s        {load['rate']:>12,.0f}   (errors {load['errors']})")
        print(f"  trades/s (~placements/2)  {load['rate'] / 2:>12,.0f}")
        print(f"  market pushes/s delivered {market_rate:>12,.0f}   = trade {rates['push-trade']:,.0f} + depth10 "
              f"{rates['push-depth10']:,.0f} + tick {rates['push-tick']:,.0f}")
        print(f"  notices/s delivered       {rates['notice']:>12,.0f}   "
              f"({rates['notice'] / max(1, args.notice_subs):,.0f} per socket)")
        print(f"  subscribers dropped (1008) {dropped}, other closes {closed - dropped}")
        print(f"  CPU busy (cores): server {busy['server']:.2f}, load process {busy['load']:.2f}, "
              f"subscriber processes {busy['subscribers']:.2f} (of {os.cpu_count()})")
        per_cpu = (market_rate + rates["notice"]) / max(busy["server"], 1e-9)
        print(f"  messages delivered per server CPU-second {per_cpu:>12,.0f}   (independent of other load on "
              f"the machine; one WebSocket frame, one send, each)")
        print(f"  server RSS after phase 1  {rss_kb(server.info['pid']) / 1024:>12,.1f} MB")
    finally:
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.terminate()
        server.stop()


def _bare_server(port_q: mp.Queue, read_buffer: int) -> None:
    """A picows server that only greets (same frame and handshake settings as Ceres): the
    floor that the transport itself costs per connection."""
    import asyncio

    import uvloop
    from picows import WSListener, WSMsgType, ws_create_server

    class Greeter(WSListener):
        def on_ws_connected(self, transport):
            transport.send(WSMsgType.TEXT, b'{"info":"bare picows","time":"0"}')

    async def main() -> None:
        server = await ws_create_server(lambda r: Greeter(), "127.0.0.1", 0, max_frame_size=1 << 20,
                                        websocket_handshake_timeout=10, read_buffer_init_size=read_buffer)
        port_q.put(server.sockets[0].getsockname()[1])
        await asyncio.Event().wait()

    _raise_fd_limit()
    uvloop.run(main())


def measure_idle(url: str, pid: int, n: int) -> tuple[dict, int, int]:
    """Open ``n`` idle connections from a client process: (client info, RSS before, after) in KB."""
    # warm-up: connections open and close, so lazy one-time allocations are not counted
    ready, release = mp.Queue(), mp.Queue()
    p = mp.Process(target=_idle, args=(url, 200, ready, release))
    p.start()
    ready.get(timeout=120)
    release.put(None)
    p.join(30)
    time.sleep(0.5)
    before = rss_kb(pid)
    ready, release = mp.Queue(), mp.Queue()
    p = mp.Process(target=_idle, args=(url, n, ready, release))
    p.start()
    info = ready.get(timeout=300)
    time.sleep(1.0)
    after = rss_kb(pid)
    release.put(None)
    p.join(60)
    return info, before, after


def idle_memory(args: argparse.Namespace, tmp: Path) -> None:
    from tests.serverproc import ServerProcess

    # every connection comes from 127.0.0.1: lift the per-address cap (2,000 by default) for the bench
    server = ServerProcess(tmp / "idle", extra_args=("--no-simulator",),
                           config=f"[limits]\nmax_connections_per_ip = {args.idle + 1000}\n").start()
    try:
        pid = server.info["pid"]
        info, before, after = measure_idle(f"ws://127.0.0.1:{server.info['market_ws']}/", pid, args.idle)
        n = info["open"]
        print(f"phase 2: idle connections to 18003: {n:,} open ({info['greeted']:,} greeted); "
              f"client fd limit {info['client_fd_limit']:,}; server fd limit {fd_limit(pid)}"
              + (f"; first connect error {info['error']}" if info["error"] else ""))
        print(f"  server RSS {before / 1024:,.1f} MB -> {after / 1024:,.1f} MB: "
              f"{(after - before) / max(1, n):.1f} KB per idle connection (target <= 20 KB)")
    finally:
        server.stop()
    if not args.floor:
        return
    for read_buffer in (16384, 1024):
        port_q: mp.Queue = mp.Queue()
        bare = mp.Process(target=_bare_server, args=(port_q, read_buffer), daemon=True)
        bare.start()
        try:
            port = port_q.get(timeout=60)
            info, before, after = measure_idle(f"ws://127.0.0.1:{port}/", bare.pid, args.idle)
            print(f"  floor: bare picows server, read_buffer_init_size {read_buffer:>5}: "
                  f"{(after - before) / max(1, info['open']):.1f} KB per idle connection ({info['open']:,} open)")
        finally:
            bare.terminate()
            bare.join(10)


def cpu_parallelism() -> float:
    """How many cores' worth of pure-Python work two processes get at once (1.0 .. 2.0)."""
    def burn_time(procs: int) -> float:
        t0 = time.perf_counter()
        ps = [mp.Process(target=_burn) for _ in range(procs)]
        for p in ps:
            p.start()
        for p in ps:
            p.join()
        return time.perf_counter() - t0

    one = burn_time(1)
    two = burn_time(2)
    return 2 * one / two


def _burn() -> None:
    s = 0
    for i in range(10_000_000):
        s += i


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--market-subs", type=int, default=1000)
    ap.add_argument("--notice-subs", type=int, default=100)
    ap.add_argument("--client-procs", type=int, default=2)
    ap.add_argument("--load-conns", type=int, default=4)
    ap.add_argument("--window", type=int, default=16)
    ap.add_argument("--push-interval-ms", type=int, default=20)
    ap.add_argument("--idle", type=int, default=10000)
    ap.add_argument("--no-floor", dest="floor", action="store_false",
                    help="skip the bare-picows memory floor measurement")
    args = ap.parse_args()
    mp.set_start_method("spawn")
    tmp = Path(tempfile.mkdtemp(prefix="ceres-fanout-"))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores (two busy processes get "
          f"{cpu_parallelism():.2f} cores' worth), Python {platform.python_version()}; data in {tmp}")
    fanout(args, tmp)
    idle_memory(args, tmp)


if __name__ == "__main__":
    main()
