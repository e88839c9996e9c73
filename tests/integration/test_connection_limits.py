"""Connection caps, timeouts and malformed input at the transport level, over real sockets:
every refusal is an HTTP response with the JSON envelope and a documented code (never
plain text, never an echo of the input), and everyone else keeps being served.

docs/operations.md, "Limits", lists each limit and what a client sees when it hits it.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time

import aiohttp
import pytest

from ceres.client import TradeSocket, ws_sign
from tests.serverproc import ServerProcess

from .api_helpers import add_key, raw_handshake
from .conn_helpers import (
    RawWs,
    close_code,
    connect,
    get_json,
    http_reply,
    metric,
    metrics,
    read_until_closed,
    ws_frames,
)

CONFIG = """[limits]
max_connections_per_ip = 5
max_connections_per_key = 3
header_timeout_ms = 1500
handshake_timeout_ms = 1500
body_timeout_ms = 1500
idle_timeout_ms = 2000
ws_ping_interval_ms = 1000
ws_ping_timeout_ms = 1000
"""
OTHER = "127.0.0.2"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    proc = ServerProcess(tmp_path_factory.mktemp("limits") / "data", extra_args=("--no-simulator",),
                         config=CONFIG).start()
    yield proc
    proc.stop()


def exchange(port: int, data: bytes, source: str = "127.0.0.1", wait: float = 10) -> bytes:
    """Send ``data`` on a new connection and read until the server closes it."""
    s = connect(port, source)
    try:
        s.sendall(data)
        got, closed = read_until_closed([s], time.monotonic() + wait)
        assert closed == {0}, f"still open after {wait} s: {got[0][:200]!r}"
        return got[0]
    finally:
        s.close()


def envelope(raw: bytes) -> tuple[int, str]:
    status, body = http_reply(raw)
    assert body is not None and set(body) == {"code", "data", "message"} and body["data"] is None, raw[:300]
    return status, body["code"]


# --- caps -------------------------------------------------------------------------------------
def test_the_connection_over_the_per_address_cap_is_refused_others_are_served(server):
    held = [connect(server.info["http"], OTHER) for _ in range(5)]
    try:
        time.sleep(0.2)  # accepted and counted
        for port in ("http", "market_ws"):  # the count is per address, across ports
            raw = exchange(server.info[port], b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n", OTHER)
            assert envelope(raw) == (429, "42901")
            assert b"127.0.0.2" not in raw  # nothing of the request echoed
        assert get_json(f"{server.http_url}/health")[0] == 200  # another address is served
    finally:
        held.pop().close()
    time.sleep(0.2)
    raw = exchange(server.info["http"], b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", OTHER)
    assert http_reply(raw)[0] == 200  # a freed place is available again
    for s in held:
        s.close()


async def test_the_connection_over_the_per_key_cap_is_refused_on_every_port(server):
    d = server.demo()
    query = f"/?api_key={d['api_key']}&sign={ws_sign(d['api_key'], d['secret'])}"
    other_key = add_key(server, "demo", "read,trade")
    async with aiohttp.ClientSession() as session:
        socks = [await TradeSocket.connect(session, server.trade_ws_url, d["api_key"], d["secret"])
                 for _ in range(3)]
        status, _, body = await raw_handshake(server.info["trade_ws"], query)
        assert (status, json.loads(body)["code"]) == (429, "42901")
        status, _, body = await raw_handshake(server.info["notify_ws"], query)  # 19003 shares the count
        assert (status, json.loads(body)["code"]) == (429, "42901")
        reply = server.rest().pairs()  # a REST connection with the key counts too
        assert (reply["_status"], reply["code"]) == (429, "42901")
        assert other_key.call("GET", "basic/contracts", {"exchange": "TEST"})[1]["code"] == "200"  # another key
        assert (await socks[0].request(13, exchange="TEST"))["code"] == "200"  # the open ones work
        await socks.pop().close()
        await asyncio.sleep(0.2)
        assert server.rest().pairs()["code"] == "200"
        for s in socks:
            await s.close()


# --- malformed input ----------------------------------------------------------------------------
def test_oversized_or_malformed_requests_get_the_envelope_not_plain_text(server):
    http, ws = server.info["http"], server.info["trade_ws"]
    long_line = b"GET /api/v1/basic/contracts?exchange=" + b"A" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    long_header = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n"
    assert envelope(exchange(http, long_line)) == (431, "40023")
    assert envelope(exchange(http, long_header)) == (431, "40023")
    assert b"AAAA" not in exchange(http, long_line)
    assert envelope(exchange(http, b"\x16\x03\x01garbage\r\n\r\n")) == (400, "40024")
    # the WebSocket ports: the upgrade request is checked before picows answers in plain text
    assert envelope(exchange(ws, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")) == (400, "40024")
    assert envelope(exchange(ws, b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")) == (400, "40024")
    assert envelope(exchange(server.info["market_ws"], b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")) == (400, "40024")
    assert envelope(exchange(ws, b"GET / HTTP/1.1\r\nX-Big: " + b"c" * 9000 + b"\r\n\r\n")) == (431, "40023")
    assert get_json(f"{server.http_url}/health")[0] == 200


# --- timeouts -----------------------------------------------------------------------------------
def test_late_heads_and_bodies_get_408_and_the_connection_closes(server):
    assert envelope(exchange(server.info["http"], b"GET /health HTTP/1.1\r\nHo")) == (408, "40022")
    assert envelope(exchange(server.info["market_ws"], b"GET / HTTP/1.1\r\nUpgr")) == (408, "40022")
    body = b"POST /api/v1/trade/input HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"exch"
    assert envelope(exchange(server.info["http"], body)) == (408, "40022")


def test_an_idle_keep_alive_connection_is_closed(server):
    s = connect(server.info["http"])
    try:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        got, closed = read_until_closed([s], time.monotonic() + 20)
        assert http_reply(got[0])[0] == 200 and closed == {0}  # answered, then closed when idle
        assert got[0].count(b"HTTP/1.") == 1  # silently: idle is not an error
    finally:
        s.close()


async def test_a_websocket_client_that_does_not_answer_pings_is_closed_1001(server):
    silent = RawWs(server.info["market_ws"])  # reads, but never answers a PING
    try:
        assert silent.status == 101
        got, closed = read_until_closed([silent.sock], time.monotonic() + 20)
        frames = ws_frames(got[0])
        assert any(op == 0x9 for op, _ in frames), frames  # it was pinged
        assert close_code(got[0]) == 1001 and closed == {0}
    finally:
        silent.close()
    async with aiohttp.ClientSession() as session:  # a client that answers (aiohttp does) stays
        ws = await session.ws_connect(server.ws_url("market_ws"), autoping=True)
        await ws.receive_json(timeout=10)
        reader = asyncio.ensure_future(ws.receive(timeout=4))
        await asyncio.sleep(3.5)  # several ping intervals
        assert not ws.closed
        reader.cancel()
        await ws.close()


def test_capacity_is_what_the_descriptors_allow(server):
    """The server raised its soft fd limit to the hard one; with ``max_connections = 0`` its
    connection capacity is that limit minus the descriptors open at start minus 64."""
    pid = server.info["pid"]
    with open(f"/proc/{pid}/limits") as f:
        soft, hard = next(line for line in f if line.startswith("Max open files")).split()[3:5]
    assert soft == hard
    text = metrics(server.http_url)
    capacity = metric(text, "ceres_connection_capacity")
    assert int(soft) - 64 - 200 < capacity < int(soft) - 64  # a started server holds a few dozen


def test_refused_sockets_are_not_leaked(server):
    """After all of the above, the server holds no connection but the one asking."""
    s = socket.create_connection(("127.0.0.1", server.info["http"]))
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    got, _ = read_until_closed([s], time.monotonic() + 10)
    s.close()
    line = next(x for x in got[0].decode().splitlines() if x.startswith("ceres_tcp_connections "))
    assert float(line.split()[1]) == 1
