"""Slowloris: 1,500 half-sent requests from one address (127.0.0.2) cannot take the
server away from everyone else (127.0.0.1).

The server runs with a connection budget of 1,200 (``max_connections``: what a 1,024-fd
machine would leave after the reserve, set explicitly here) and at most 1,000 per address.
The attacker's first 1,000 connections are admitted and then closed by the server with
408 (40022) once the head timeout passes; the other 500 are refused at once with 429
(42901). Meanwhile ``/health``, a signed REST call and the 19001 and 18003 handshakes
from 127.0.0.1 are answered, and the log grows by a few lines, not one per connection.
"""

from __future__ import annotations

import time

import aiohttp

from ceres.client import TradeSocket
from tests.serverproc import ServerProcess

from .conn_helpers import connect, get_json, http_reply, metric, metrics, raise_fd_limit, read_until_closed

ATTACKER = "127.0.0.2"
N = 1500
PER_IP = 1000
HEAD_TIMEOUT_S = 5
CONFIG = f"""[limits]
header_timeout_ms = {HEAD_TIMEOUT_S * 1000}
max_connections = 1200
max_connections_per_ip = {PER_IP}
"""
LOG_GROWTH_BOUND = 64 << 10  # bytes: aggregated lines only (a line per connection would be ~150 KB)


def half_sent(port: int) -> list:
    socks = []
    for _ in range(N):
        s = connect(port, ATTACKER)
        s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        socks.append(s)
    return socks


async def test_half_sent_requests_from_one_address_do_not_stop_the_others(tmp_path):
    raise_fd_limit(N + 512)
    server = ServerProcess(tmp_path / "data", extra_args=("--no-simulator",), config=CONFIG).start()
    socks: list = []
    try:
        log_before = len(server.logs().encode())
        socks = half_sent(server.info["http"])
        attack_done = time.monotonic()

        # everyone else is served while the attacker's connections hang
        status, health = get_json(f"{server.http_url}/health")
        assert status == 200 and health["status"] == "ok"
        assert server.rest().pairs()["code"] == "200"
        demo = server.demo()
        async with aiohttp.ClientSession() as session:
            trade = await TradeSocket.connect(session, server.trade_ws_url, demo["api_key"], demo["secret"])
            assert (await trade.request(13, exchange="TEST"))["code"] == "200"
            market = await session.ws_connect(server.ws_url("market_ws"))
            assert "info" in (await market.receive_json(timeout=10))
            await trade.close()
            await market.close()

        # every half-sent connection is closed by the server: refused at once, or timed out
        got, closed = read_until_closed(socks, attack_done + HEAD_TIMEOUT_S + 20)
        assert len(closed) == N, f"{N - len(closed)} half-sent connections still open"
        replies = [http_reply(got[i]) for i in range(N)]
        timed_out = [r for r in replies if r[0] == 408]
        refused = [r for r in replies if r[0] == 429]
        assert len(timed_out) + len(refused) == N, {r[0] for r in replies}
        assert all(body == {"code": "40022", "data": None, "message": body["message"]} for _, body in timed_out)
        assert all(body["code"] == "42901" and body["data"] is None for _, body in refused)
        assert len(refused) >= N - PER_IP  # at most PER_IP were ever open at once

        # after the attack: still serving, counted by code, and the log stayed small
        assert get_json(f"{server.http_url}/health")[0] == 200
        text = metrics(server.http_url)
        assert metric(text, 'ceres_rejects_total{code="42901"}') == len(refused)
        assert metric(text, 'ceres_rejects_total{code="40022"}') == len(timed_out)
        assert metric(text, "ceres_tcp_connections") <= 2  # the /metrics request itself
        assert metric(text, "ceres_connection_capacity") == 1200
        growth = len(server.logs().encode()) - log_before
        assert growth < LOG_GROWTH_BOUND, server.logs()[-3000:]
    finally:
        for s in socks:
            s.close()
        server.stop()


async def test_a_full_server_answers_503_and_recovers(tmp_path):
    """Past the total connection budget (here 300, no per-address cap to speak of) a new
    connection is answered 503 with the envelope, from any address; once the head timeout
    clears the stalled ones, the server answers again."""
    raise_fd_limit(600)
    config = "[limits]\nheader_timeout_ms = 3000\nmax_connections = 300\nmax_connections_per_ip = 5000\n"
    server = ServerProcess(tmp_path / "data", extra_args=("--no-simulator",), config=config).start()
    socks: list = []
    try:
        port = server.info["http"]
        for _ in range(300):
            s = connect(port, ATTACKER)
            s.sendall(b"GET / HTTP/1.1\r\n")
            socks.append(s)
        full = connect(port)  # from the other address: the server is full
        full.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        got, closed = read_until_closed([full], time.monotonic() + 10)
        status, body = http_reply(got[0])
        assert (status, body["code"], body["data"]) == (503, "503", None) and closed == {0}
        got, closed = read_until_closed(socks, time.monotonic() + 3 + 20)
        assert len(closed) == len(socks)
        assert {http_reply(raw)[0] for raw in got.values()} == {408}
        assert get_json(f"{server.http_url}/health")[0] == 200
    finally:
        for s in socks:
            s.close()
        server.stop()
