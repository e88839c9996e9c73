"""Public market-data WebSocket on 18003 (API.md section 5) against a real server: the
greeting, array subscriptions and their acks (200 / 201 already / 400 bad request / 500
invalid command, ``subscribe-depth`` as depth10, null duration), snapshot-first
subscriptions, ``push-trade`` per trade, coalesced ``push-depth10`` / ``push-tick`` (with
``change_rate``) / ``push-candle``, JSON ping/pong, ``unsubscribe-*`` (extension) and
back-pressure: a subscriber that stops reading while trades print is dropped with close
code 1008 while a normal subscriber on the same topic receives every trade; a client that
floods requests without reading is disconnected before its replies take unbounded memory.

Each test works on its own instrument, with orders of its own (simulator off), and every
expected value is computed from those orders. Waits are bounded in count and time.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import struct
import time
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import aiohttp
import pytest

from ceres.client import RestClient, ws_sign
from tests.integration.api_helpers import new_spot_product
from tests.serverproc import ServerProcess

X = "TEST"
TIMEOUT = 5.0
ACK_KEYS = {"msg_type", "exchange", "contract", "duration", "code", "message"}
TICK_KEYS = {"msg_type", "exchange", "contract", "time", "open", "high", "low", "last", "volume", "change",
             "change_rate"}
CANDLE_KEYS = {"msg_type", "exchange", "contract", "duration", "time", "open", "high", "low", "close", "volume"}
TRADE_KEYS = {"msg_type", "exchange", "contract", "time", "price", "volume", "side"}


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    proc = ServerProcess(tmp_path_factory.mktemp("mws") / "data", extra_args=("--no-simulator",),
                         config="[market]\npush_interval_ms = 20\n").start()
    yield proc
    proc.stop()


# --- helpers ----------------------------------------------------------------------------------
def now_ms() -> int:
    return time.time_ns() // 1_000_000


def sub(kind: str, contract: str, duration: Any = None, verb: str = "subscribe", **extra: Any) -> dict:
    return {"msg_type": f"{verb}-{kind}", "exchange": X, "contract": contract, "duration": duration, **extra}


class Market:
    """An 18003 client on aiohttp; ``next`` returns the next decoded message."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, greeting: dict) -> None:
        self.ws = ws
        self.greeting = greeting

    @classmethod
    async def connect(cls, session: aiohttp.ClientSession, srv: ServerProcess, path: str = "/") -> Market:
        ws = await asyncio.wait_for(session.ws_connect(f"http://127.0.0.1:{srv.info['market_ws']}{path}"), TIMEOUT)
        msg = await asyncio.wait_for(ws.receive(), TIMEOUT)
        return cls(ws, json.loads(msg.data))

    async def send(self, obj: Any) -> None:
        await self.ws.send_str(obj if isinstance(obj, str) else json.dumps(obj))

    async def next(self, timeout: float = TIMEOUT) -> Any:
        msg = await asyncio.wait_for(self.ws.receive(), timeout)
        assert msg.type == aiohttp.WSMsgType.TEXT, (msg.type, msg.data, msg.extra)
        return json.loads(msg.data)

    async def acks(self, requests: Any) -> list[dict]:
        await self.send(requests)
        acks = await self.next()
        assert isinstance(acks, list), acks
        for a in acks:
            assert set(a) == ACK_KEYS and type(a["code"]) is int and isinstance(a["message"], str), a
        return acks

    async def until(self, pred: Callable[[Any], bool], timeout: float = TIMEOUT) -> Any:
        """Skip messages until one satisfies ``pred`` (bounded by ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, "timed out waiting for a message"
            m = await self.next(left)
            if pred(m):
                return m

    async def quiet(self, seconds: float = 0.3, ignore: Callable[[Any], bool] = lambda m: False) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                msg = await asyncio.wait_for(self.ws.receive(), left)
            except TimeoutError:
                return
            m = json.loads(msg.data) if msg.type == aiohttp.WSMsgType.TEXT else msg
            assert ignore(m), f"unexpected message {m!r}"

    async def close(self) -> None:
        await self.ws.close()


def ack(kind: str, contract: Any, duration: Any, code: int, exchange: Any = X, verb: str = "subscribed") -> tuple:
    return (f"{verb}-{kind}", exchange, contract, duration, code)


def short(acks: list[dict]) -> list[tuple]:
    return [(a["msg_type"], a["exchange"], a["contract"], a["duration"], a["code"]) for a in acks]


def place(rest: RestClient, contract: str, side: str, price: str, vol: str) -> str:
    return rest.place(exchange=X, contract=contract, price_type="limit", entrust_bs=side, entrust_price=price,
                      entrust_vol=vol)["data"]["system_oid"]


def rest_get(srv: ServerProcess, name: str, **params: Any) -> dict:
    reply = RestClient(srv.http_url).call("GET", f"market/{name}", exchange=X, **params)
    assert reply.pop("_status") == 200, reply
    return reply


def push_of(kind: str, contract: str) -> Callable[[Any], bool]:
    return lambda m: isinstance(m, dict) and m.get("msg_type") == f"push-{kind}" and m.get("contract") == contract


# --- greeting, acks, ping -------------------------------------------------------------------
async def test_greeting_on_both_paths_and_unknown_path_refused(srv):
    async with aiohttp.ClientSession() as session:
        for path in ("/", "/ws/market"):
            before = now_ms()
            m = await Market.connect(session, srv, path)
            assert set(m.greeting) == {"info", "time"} and isinstance(m.greeting["info"], str), m.greeting
            assert m.greeting["time"].isdigit() and before - 1000 <= int(m.greeting["time"]) <= now_ms() + 1000
            await m.close()
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await session.ws_connect(f"http://127.0.0.1:{srv.info['market_ws']}/ws/nope")
        assert info.value.status >= 400


async def test_subscription_acks(srv):
    async with aiohttp.ClientSession() as session:
        m = await Market.connect(session, srv)
        C = "BTCUSDT_2703"  # never traded in this module: no snapshot for candles
        acks = await m.acks([
            sub("tick", C),                               # 200, duration null
            sub("trade", C, "1m"),                        # 200, duration ignored (null in the ack)
            sub("depth", C),                              # the alias: subscribed-depth10
            sub("depth10", C),                            # the same topic: 201 already
            sub("candle", C, "5m"),                       # 200
            sub("candle", C, "5m"),                       # 201
            sub("candle", C, "2m"),                       # 400 bad duration
            sub("candle", C, None),                       # 400: candles need a duration
            sub("tick", "NOPE"),                          # 400 bad contract
            {"msg_type": "subscribe-tick", "exchange": "NOPE", "contract": C, "duration": None},  # 400
            {"msg_type": "subscribe-tick", "duration": None},                                     # 400
            {"msg_type": "subscribe-news", "exchange": X, "contract": C, "duration": None},       # 500
            {"msg_type": "hello", "exchange": X, "contract": C},                                  # 500
            {"exchange": X, "contract": C},                                                       # 500
            42,                                                                                   # 500
        ])
        got = short(acks)
        assert got[:4] == [ack("tick", C, None, 200), ack("trade", C, None, 200), ack("depth10", C, None, 200),
                           ack("depth10", C, None, 201)]
        assert got[4:8] == [ack("candle", C, "5m", 200), ack("candle", C, "5m", 201), ack("candle", C, "2m", 400),
                            ack("candle", C, None, 400)]
        assert got[8:11] == [ack("tick", "NOPE", None, 400), ack("tick", C, None, 400, exchange="NOPE"),
                             ack("tick", None, None, 400, exchange=None)]
        assert [a["code"] for a in acks[11:]] == [500, 500, 500, 500]
        assert all(a["msg_type"].startswith("subscribed-") for a in acks)
        # snapshots follow the acks: depth (empty book) and tick (no trade yet); no candle yet
        snaps = [await m.next(), await m.next()]
        assert sorted(s["msg_type"] for s in snaps) == ["push-depth10", "push-tick"]
        depth = next(s for s in snaps if s["msg_type"] == "push-depth10")
        assert depth == {"msg_type": "push-depth10", "exchange": X, "contract": C, "asks": [], "bids": []}
        tick = next(s for s in snaps if s["msg_type"] == "push-tick")
        assert set(tick) == TICK_KEYS and (tick["last"], tick["change_rate"]) == ("0", "0")
        await m.quiet(0.2)
        # a later request: already subscribed -> 201, without a second snapshot
        assert short(await m.acks([sub("tick", C), sub("depth", C)])) == [ack("tick", C, None, 201),
                                                                           ack("depth10", C, None, 201)]
        await m.quiet(0.2)
        # not an array of objects: one array with a 500 ack
        for text in ("hello", "[1", '"subscribe-tick"', "17"):
            acks = await m.acks(text)
            assert len(acks) == 1 and acks[0]["code"] == 500, acks
        # ping: JSON and text, answered with a JSON pong carrying the time
        for ping in ({"msg_type": "ping"}, "ping"):
            before = now_ms()
            await m.send(ping)
            pong = await m.next()
            assert set(pong) == {"msg_type", "time"} and pong["msg_type"] == "pong", pong
            assert before - 1000 <= int(pong["time"]) <= now_ms() + 1000
        # a single object instead of an array is answered like a one-item array
        assert short(await m.acks(sub("tick", C))) == [ack("tick", C, None, 201)]
        # the socket still works after all of that
        assert short(await m.acks([sub("trade", C)])) == [ack("trade", C, None, 201)]
        await m.close()


# --- depth ------------------------------------------------------------------------------------
async def test_depth_snapshot_first_then_latest_state(srv):
    C = "ETH/BTC"
    a = new_spot_product(srv, "mw-depth", {"ETH": "1000", "BTC": "100"})
    for i in range(3):
        place(a, C, "sell", f"0.0{660 + i}", "1.5")
        place(a, C, "buy", f"0.0{650 - i}", "2")
    async with aiohttp.ClientSession() as session:
        m = await Market.connect(session, srv)
        assert short(await m.acks([sub("depth", C)])) == [ack("depth10", C, None, 200)]
        snap = await m.next()
        book = rest_get(srv, "depth10", contract=C)
        assert snap == {"msg_type": "push-depth10", **book}
        assert [lv["price"] for lv in snap["asks"]] == ["0.066", "0.0661", "0.0662"]
        assert [lv["price"] for lv in snap["bids"]] == ["0.065", "0.0649", "0.0648"]
        # one change: a push with the new book (possibly after one repeat of the snapshot:
        # the orders above marked the book changed before this subscription existed)
        place(a, C, "sell", "0.0655", "0.25")
        new = {"msg_type": "push-depth10", **rest_get(srv, "depth10", contract=C)}
        assert new["asks"][0] == {"price": "0.0655", "volume": "0.25"}
        upd = await m.until(push_of("depth10", C))
        if upd != new:
            assert upd == snap
            upd = await m.until(push_of("depth10", C))
        assert upd == new
        # a burst of changes is coalesced: the pushes end at the latest state
        oids = [place(a, C, "buy", f"0.064{i}", "0.001") for i in range(8)]
        for oid in oids[:5]:
            a.cancel(oid)
        final = {"msg_type": "push-depth10", **rest_get(srv, "depth10", contract=C)}
        seen = [await m.until(push_of("depth10", C))]
        while seen[-1] != final:
            seen.append(await m.until(push_of("depth10", C)))
        assert len(seen) <= 13  # never more pushes than changes
        await m.quiet(0.2)      # and nothing once the book stops changing
        await m.close()


# --- trades, ticks, candles, unsubscribe ----------------------------------------------------------
async def test_trade_tick_candle_pushes_and_unsubscribe(srv):
    C = "BTC/USDT"
    a = new_spot_product(srv, "mw-a", {"BTC": "100", "USDT": "10000000"})
    b = new_spot_product(srv, "mw-b", {"BTC": "100", "USDT": "10000000"})
    async with aiohttp.ClientSession() as session:
        m = await Market.connect(session, srv)
        acks = await m.acks([sub("trade", C), sub("tick", C), sub("candle", C, "1m")])
        assert short(acks) == [ack("trade", C, None, 200), ack("tick", C, None, 200), ack("candle", C, "1m", 200)]
        first_tick = await m.next()  # the tick snapshot (nothing traded yet); no trade or candle snapshot
        assert first_tick["msg_type"] == "push-tick" and set(first_tick) == TICK_KEYS
        assert {k: first_tick[k] for k in ("open", "last", "volume", "change", "change_rate")} == \
            {"open": "0", "last": "0", "volume": "0", "change": "0", "change_rate": "0"}
        await m.quiet(0.15)
        # prints: 100 (taker sell), 103.5 (taker buy), then one taker buy sweeping two makers
        place(a, C, "buy", "100", "0.5")
        place(b, C, "sell", "100", "0.5")
        place(a, C, "sell", "103.5", "0.25")
        place(b, C, "buy", "103.5", "0.25")
        place(a, C, "sell", "101", "0.1")
        place(a, C, "sell", "102", "0.2")
        place(b, C, "buy", "102", "0.3")
        expect = [("100", "0.5", "s"), ("103.5", "0.25", "b"), ("101", "0.1", "b"), ("102", "0.2", "b")]
        trades = [await m.until(lambda x: x.get("msg_type") == "push-trade") for _ in expect]
        rest_trades = rest_get(srv, "trade", contract=C)["detail"]
        assert [(t["price"], t["volume"], t["side"]) for t in trades] == expect
        for t, r in zip(trades, rest_trades, strict=True):
            assert set(t) == TRADE_KEYS and t == {"msg_type": "push-trade", "exchange": X, "contract": C, **r}
        # tick: the pushes end at open 100, last 102 (change 2, change_rate 0.02)
        tick = await m.until(lambda x: x.get("msg_type") == "push-tick" and x["last"] == "102")
        assert set(tick) == TICK_KEYS
        assert {k: tick[k] for k in ("open", "high", "low", "last", "volume", "change", "change_rate")} == {
            "open": "100", "high": "103.5", "low": "100", "last": "102", "volume": "1.05", "change": "2",
            "change_rate": "0.02"}
        # candle 1m: the current bar, as the REST candle reports it
        bar = rest_get(srv, "candle", contract=C, duration="1m")["detail"][-1]
        candle = await m.until(lambda x: x.get("msg_type") == "push-candle" and x["close"] == "102")
        assert set(candle) == CANDLE_KEYS and candle == {"msg_type": "push-candle", "exchange": X, "contract": C,
                                                         "duration": "1m", **bar}
        # a new candle subscription starts with the current bar of its duration
        assert short(await m.acks([sub("candle", C, "5m")])) == [ack("candle", C, "5m", 200)]
        snap = await m.until(lambda x: x.get("msg_type") == "push-candle")
        assert snap == {"msg_type": "push-candle", "exchange": X, "contract": C, "duration": "5m",
                        **rest_get(srv, "candle", contract=C, duration="5m")["detail"][-1]}
        # unsubscribe trade (and a repeat: 400 not subscribed); tick and candles keep coming
        await m.quiet(0.15, ignore=lambda x: x.get("msg_type") in ("push-tick", "push-candle"))
        acks = await m.acks([sub("trade", C, verb="unsubscribe"), sub("trade", C, verb="unsubscribe"),
                             sub("depth", C, verb="unsubscribe")])
        assert short(acks) == [ack("trade", C, None, 200, verb="unsubscribed"),
                               ack("trade", C, None, 400, verb="unsubscribed"),
                               ack("depth10", C, None, 400, verb="unsubscribed")]
        place(a, C, "sell", "99.5", "0.01")
        place(b, C, "buy", "99.5", "0.01")
        change = Decimal("99.5") - Decimal("100")
        rate = (change / Decimal("100")).quantize(Decimal("0.0001"), ROUND_HALF_UP)  # -0.005
        tick = await m.until(lambda x: x.get("msg_type") == "push-tick" and x["last"] == "99.5")
        assert rate == Decimal("-0.005") and (tick["change"], tick["change_rate"]) == ("-0.5", "-0.005")
        await m.quiet(0.2, ignore=lambda x: x.get("msg_type") in ("push-tick", "push-candle"))  # no push-trade
        # unsubscribing everything stops every push
        acks = await m.acks([sub("tick", C, verb="unsubscribe"), sub("candle", C, "1m", verb="unsubscribe"),
                             sub("candle", C, "5m", verb="unsubscribe")])
        assert [x["code"] for x in acks] == [200, 200, 200]
        place(a, C, "sell", "99", "0.01")
        place(b, C, "buy", "99", "0.01")
        await m.quiet(0.3)
        await m.close()


async def test_change_rate_rounding_on_push_tick(srv):
    C = "ADA_BTC"
    a = new_spot_product(srv, "mw-ada", {"ADA": "1000000", "BTC": "10"})
    async with aiohttp.ClientSession() as session:
        m = await Market.connect(session, srv)
        await m.acks([sub("tick", C)])
        await m.until(push_of("tick", C))  # snapshot
        for price in ("0.000011", "0.00001051"):  # change -0.00000049 / 0.000011 = -0.044545... -> -0.0445
            place(a, C, "sell", price, "10")
            place(a, C, "buy", price, "10")
        tick = await m.until(lambda x: x.get("msg_type") == "push-tick" and x["last"] == "0.00001051")
        assert (tick["open"], tick["change"], tick["change_rate"]) == ("0.000011", "-0.00000049", "-0.0445")
        await m.close()


# --- back-pressure ------------------------------------------------------------------------------
class RawWs:
    """A WebSocket client on a plain socket with a small receive buffer, so that it can stop
    reading and let the server's buffers fill."""

    def __init__(self, port: int, rcvbuf: int = 4096) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(TIMEOUT)
        self.sock.connect(("127.0.0.1", port))
        self.sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            assert chunk, "closed during the handshake"
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head

    def send(self, obj: Any) -> None:
        data = json.dumps(obj).encode()
        mask = os.urandom(4)
        n = len(data)
        header = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n))
        self.sock.sendall(header + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(data)))

    def read_all(self, timeout: float = 10.0) -> list[tuple[int, bytes]]:
        """Read until the server closes the connection: ``[(opcode, payload)]``."""
        deadline = time.monotonic() + timeout
        data = bytearray(self.buf)
        while time.monotonic() < deadline:
            try:
                chunk = self.sock.recv(1 << 20)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            data += chunk
        frames = []
        i = 0
        while i + 2 <= len(data):
            op, n = data[i] & 0x0F, data[i + 1] & 0x7F
            i += 2
            if n == 126:
                n, i = struct.unpack(">H", data[i:i + 2])[0], i + 2
            elif n == 127:
                n, i = struct.unpack(">Q", data[i:i + 8])[0], i + 8
            if i + n > len(data):
                break
            frames.append((op, bytes(data[i:i + n])))
            i += n
        return frames

    def close(self) -> None:
        self.sock.close()


async def test_slow_subscriber_dropped_with_1008_normal_one_keeps_everything(tmp_path):
    """The slow client stops reading; trades print in rounds (5000 resting asks swept by one
    market buy) until the server drops it. The normal client reads every trade."""
    proc = ServerProcess(tmp_path / "data", extra_args=("--no-simulator",),
                         config="[market]\npush_interval_ms = 20\n").start()
    C = "BTC/USDT"
    slow = None
    try:
        d = proc.demo()
        slow = RawWs(proc.info["market_ws"])
        slow.send([sub("trade", C), sub("depth10", C)])
        async with aiohttp.ClientSession() as session:
            normal = await Market.connect(session, proc)
            await normal.acks([sub("trade", C)])
            received: list[dict] = []

            async def read_normal() -> None:
                async for msg in normal.ws:  # appended as they come: the test polls the list
                    received.append(json.loads(msg.data))  # noqa: PERF401

            reader = asyncio.create_task(read_normal())
            trade_ws = await session.ws_connect(f"{proc.trade_ws_url}?api_key={d['api_key']}"
                                                f"&sign={ws_sign(d['api_key'], d['secret'])}")
            per_round, printed, dropped = 5000, 0, False
            ask = json.dumps({"biz_type": 11, "exchange": X, "contract": C, "price_type": "limit",
                              "entrust_bs": "sell", "entrust_price": "100", "entrust_vol": "0.0001"})
            sweep = json.dumps({"biz_type": 11, "exchange": X, "contract": C, "price_type": "market",
                                "entrust_bs": "buy", "entrust_vol": "60"})
            for _ in range(12):  # bounded: 60,000 trades at most
                for _ in range(per_round):
                    await trade_ws.send_str(ask)
                await trade_ws.send_str(sweep)
                for _ in range(per_round + 1):  # replies come in request order
                    reply = json.loads((await asyncio.wait_for(trade_ws.receive(), 30)).data)
                    assert reply["code"] == "200", reply
                printed += per_round
                await asyncio.sleep(0.2)
                if "not reading; dropping it" in proc.logs():
                    dropped = True
                    break
            assert dropped, "the slow subscriber was never dropped"
            # the normal subscriber receives every trade, in order, and stays connected
            deadline = time.monotonic() + 20
            while sum(1 for r in received if r.get("msg_type") == "push-trade") < printed:
                assert time.monotonic() < deadline, "normal subscriber fell behind"
                await asyncio.sleep(0.05)
            assert sum(1 for r in received if r.get("msg_type") == "push-trade") == printed
            assert not normal.ws.closed
            # the slow one, reading again: some of the trades, then a close frame with 1008
            frames = slow.read_all()
            assert frames and frames[-1][0] == 0x8, frames[-1:]
            code = struct.unpack(">H", frames[-1][1][:2])[0]
            assert code == 1008, frames[-1]
            got = [json.loads(p) for op, p in frames if op == 0x1]
            slow_trades = [g for g in got if isinstance(g, dict) and g.get("msg_type") == "push-trade"]
            assert 0 < len(slow_trades) < printed
            # what it did get is a prefix of the tape (nothing reordered)
            normal_trades = [r for r in received if r.get("msg_type") == "push-trade"]
            assert slow_trades == normal_trades[:len(slow_trades)]
            # later trades still reach the normal subscriber
            place(proc.rest(raise_for_code=True), C, "sell", "100", "0.0001")
            place(proc.rest(raise_for_code=True), C, "buy", "100", "0.0001")
            deadline = time.monotonic() + TIMEOUT
            while sum(1 for r in received if r.get("msg_type") == "push-trade") < printed + 1:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.02)
            await trade_ws.close()
            await normal.close()
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
    finally:
        if slow is not None:
            slow.close()
        proc.stop()


async def test_request_flood_without_reading_is_disconnected(srv):
    """Replies are not held back like pushes: a client sending requests but never reading is
    cut off once its unsent replies pass the limit, and the server's memory stays bounded."""
    pid = srv.info["pid"]

    def rss_kb() -> int:
        with open(f"/proc/{pid}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))

    before = rss_kb()
    raw = RawWs(srv.info["market_ws"])
    request = [sub("trade", "ETH/USDT")] * 200  # 200 acks (~26 KB) per message
    sent = 0
    cut = False
    try:
        for _ in range(3000):  # ~45 MB of requests, ~75 MB of acks if all were kept
            raw.send(request)
            sent += 1
    except (TimeoutError, ConnectionResetError, BrokenPipeError):
        cut = True
    if not cut:
        raw.read_all(timeout=2.0)  # the server has closed it: reading ends
        with pytest.raises(OSError):
            for _ in range(100):
                raw.send(request)
                time.sleep(0.01)  # noqa: ASYNC251 - a blocking raw socket; the server is another process
    raw.close()
    assert rss_kb() - before < 40_000, (before, rss_kb())
    # the server is fine
    async with aiohttp.ClientSession() as session:
        m = await Market.connect(session, srv)
        await m.send({"msg_type": "ping"})
        assert (await m.next())["msg_type"] == "pong"
        await m.close()
