"""Clients that stop reading are dropped with close 1008 once their outbound queue is full,
on every WebSocket port, and the server's memory stays bounded; everyone else is served.

Settings (and why they keep the tests short): ``max_unsent_kib = 64`` (the queue) and
``ws_send_buffer_kib = 16`` (the kernel doubles it), and the non-reading clients shrink
their own receive buffer to 8 KiB. What a stalled client can hold is then about
8 + 32 KiB in the kernels, the transport's 64 KiB and the 64 KiB queue: at the ~16 KiB/s
the simulator pushes to a subscriber of every market topic, a drop comes after ~10 s
(with the defaults, 1 MiB queue and 64 KiB buffers, it takes proportionally longer;
the mechanism is the same). ``drop_timeout_ms`` is raised so that the test can read each
dropped client's stream to its close frame after all of them were dropped.
"""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp

from ceres.client import TradeSocket, ws_sign
from tests.serverproc import ServerProcess

from .conn_helpers import RawWs, close_code, metric, metrics, read_until_closed, rss_kb, ws_frames

CONTRACTS = ("BTC/USDT", "ETH/USDT", "ETH/BTC", "ADA_BTC", "BTCUSDT_PERP", "BTCUSDT_2703", "XBTUSD")
SUBSCRIBERS = 200
STALLED_S = 30  # seconds the simulator runs on after the stalled subscribers connect, RSS watched
QUEUE_KIB = 64
TRANSPORT_KIB = 64  # the transport's high-water mark: written but not yet taken by the kernel
SLACK_KIB = 32      # one loop iteration's output, held states (28 topics), parser and listener objects
HEAP_SLACK_MIB = 16  # allocator and heap growth unrelated to the stalled clients
CONFIG = f"""[limits]
max_unsent_kib = {QUEUE_KIB}
ws_send_buffer_kib = 16
drop_timeout_ms = 120000
"""


def every_topic() -> list[dict]:
    subs = []
    for c in CONTRACTS:
        subs += [{"msg_type": f"subscribe-{k}", "exchange": "TEST", "contract": c}
                 for k in ("tick", "trade", "depth10")]
        subs.append({"msg_type": "subscribe-candle", "exchange": "TEST", "contract": c, "duration": "1m"})
    return subs


async def wait_dropped(server: ServerProcess, n: int, seconds: float, pid: int | None = None) -> int:
    """Poll until ``n`` clients were dropped for not reading; returns the peak RSS seen (KB)."""
    deadline = time.monotonic() + seconds
    peak = 0
    while time.monotonic() < deadline:
        if pid is not None:
            peak = max(peak, rss_kb(pid))
        if metric(metrics(server.http_url), "ceres_ws_slow_dropped_total") >= n:
            return peak
        await asyncio.sleep(0.5)
    raise AssertionError(f"fewer than {n} slow clients dropped after {seconds} s")


def assert_closed_with_1008(clients: list[RawWs]) -> list[bytes]:
    got, closed = read_until_closed([c.sock for c in clients], time.monotonic() + 30, answer_close=True)
    assert len(closed) == len(clients)
    assert [close_code(got[i]) for i in range(len(clients))] == [1008] * len(clients)
    return [got[i] for i in range(len(clients))]


async def test_200_non_reading_market_subscribers_are_dropped_and_memory_stays_bounded(tmp_path):
    server = ServerProcess(tmp_path / "data", extra_args=(), config=CONFIG).start()
    slow: list[RawWs] = []
    try:
        pid = server.info["pid"]
        port = server.info["market_ws"]
        async with aiohttp.ClientSession() as session:
            normal = await session.ws_connect(server.ws_url("market_ws"))
            await normal.send_str(json.dumps(every_topic()))
            await asyncio.sleep(2)  # the simulator and the normal subscriber warm up
            baseline = rss_kb(pid)
            stalled_at = time.monotonic()
            for _ in range(SUBSCRIBERS):
                c = RawWs(port, rcvbuf=8192)
                assert c.status == 101
                c.send(every_topic())
                slow.append(c)
            received = 0

            async def read_normal() -> None:
                nonlocal received
                async for _ in normal:
                    received += 1

            reader = asyncio.create_task(read_normal())
            peak = await wait_dropped(server, SUBSCRIBERS, 60, pid)
            while time.monotonic() < stalled_at + STALLED_S:  # the simulator runs on: memory stays flat
                peak = max(peak, rss_kb(pid))
                await asyncio.sleep(0.5)
            before = received
            await asyncio.sleep(2)
            assert received > before and not normal.closed  # the reading subscriber is still served
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            await normal.close()
        bound_kb = baseline + SUBSCRIBERS * (QUEUE_KIB + TRANSPORT_KIB + SLACK_KIB) + HEAP_SLACK_MIB * 1024
        print(f"RSS baseline {baseline} KB, peak {peak} KB, bound {bound_kb} KB")
        assert peak <= bound_kb
        streams = assert_closed_with_1008(slow)
        pushes = [json.loads(p) for raw in streams for op, p in ws_frames(raw) if op == 0x1]
        assert any(p.get("msg_type") == "push-depth10" for p in pushes if isinstance(p, dict))
    finally:
        for c in slow:
            c.close()
        server.stop()


async def test_a_client_flooding_19001_without_reading_is_dropped_others_are_served(tmp_path):
    server = ServerProcess(tmp_path / "data", extra_args=("--no-simulator",), config=CONFIG).start()
    flood = None
    try:
        d = server.demo()
        flood = RawWs(server.info["trade_ws"], f"/?api_key={d['api_key']}&sign={ws_sign(d['api_key'], d['secret'])}",
                      rcvbuf=8192)
        assert flood.status == 101
        request = json.dumps({"biz_type": 13, "exchange": "TEST"}).encode()
        async with aiohttp.ClientSession() as session:
            other = await TradeSocket.connect(session, server.trade_ws_url, d["api_key"], d["secret"])
            sent = 0  # requests, never a reply read; the server keeps reading them
            while sent < 5000 and metric(metrics(server.http_url), "ceres_ws_slow_dropped_total") < 1:
                for _ in range(50):
                    flood.send_text(request)
                sent += 50
                assert (await other.request(13, exchange="TEST"))["code"] == "200"
            await wait_dropped(server, 1, 10)
            assert (await other.request(14))["code"] == "200"
            await other.close()
        flood.sock.settimeout(10)
        (stream,) = assert_closed_with_1008([flood])
        replies = [json.loads(p) for op, p in ws_frames(stream) if op == 0x1]
        assert replies and all(r["code"] == "200" and r["biz_type"] == 13 for r in replies)
        assert len(replies) < sent
    finally:
        if flood is not None:
            flood.close()
        server.stop()


async def test_a_non_reading_notice_subscriber_is_dropped_others_get_every_notice(tmp_path):
    server = ServerProcess(tmp_path / "data", extra_args=("--no-simulator",), config=CONFIG).start()
    slow = None
    try:
        d = server.demo()
        query = f"/?api_key={d['api_key']}&sign={ws_sign(d['api_key'], d['secret'])}"
        slow = RawWs(server.info["notify_ws"], query, rcvbuf=8192)
        assert slow.status == 101
        async with aiohttp.ClientSession() as session:
            reader_ws = await session.ws_connect(f"{server.ws_url('notify_ws')}{query[1:]}")
            trade = await TradeSocket.connect(session, server.trade_ws_url, d["api_key"], d["secret"])
            seqs: list[int] = []

            async def read_notices() -> None:
                async for msg in reader_ws:  # appended as they come: the test polls the list
                    seqs.append(json.loads(msg.data)["seq"])  # noqa: PERF401

            reader = asyncio.create_task(read_notices())
            order = {"exchange": "TEST", "contract": "BTC/USDT", "price_type": "limit", "entrust_bs": "buy",
                     "entrust_price": "100", "entrust_vol": "0.001"}
            for _ in range(200):  # bounded: 200 rounds of 20 placements and their cancels
                placed = await asyncio.gather(*(trade.request(11, **order) for _ in range(20)))
                ids = ",".join(p["data"]["system_oid"] for p in placed[:15])
                await trade.request(12, system_oid=ids)
                if metric(metrics(server.http_url), "ceres_ws_slow_dropped_total") >= 1:
                    break
            await wait_dropped(server, 1, 10)
            await asyncio.sleep(1)
            assert seqs and seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # every notice, in order
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            await trade.close()
            await reader_ws.close()
        (stream,) = assert_closed_with_1008([slow])
        got = [json.loads(p)["seq"] for op, p in ws_frames(stream) if op == 0x1]
        assert got and got == seqs[:len(got)] and len(got) < len(seqs)  # a prefix, then the close
    finally:
        if slow is not None:
            slow.close()
        server.stop()
