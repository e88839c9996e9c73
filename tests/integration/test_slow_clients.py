"""A client that sends requests but stops reading the replies is dropped once its unsent
data passes ``[limits] max_unsent_kib``; everyone else keeps being served."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import time

import aiohttp

from ceres.client import TradeSocket, ws_sign
from tests.serverproc import ServerProcess

REQUEST = b'{"biz_type":13,"exchange":"TEST"}'


def masked_text(payload: bytes) -> bytes:
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes((0x81, 0x80 | len(payload))) + mask + body


def raw_trade_socket(port: int, api_key: str, secret: str) -> socket.socket:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fill the server's send path fast
    s.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET /?api_key={api_key}&sign={ws_sign(api_key, secret)} HTTP/1.1\r\n"
               f"Host: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return s


def closed_by_server(s: socket.socket, timeout: float = 20.0) -> bool:
    """Read (and discard) until the server's end is gone."""
    s.settimeout(timeout)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not s.recv(1 << 16):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False
    return False


async def test_non_reading_trade_client_is_dropped_and_others_are_served(tmp_path):
    server = ServerProcess(tmp_path / "data", extra_args=("--no-simulator",),
                           config="[limits]\nmax_unsent_kib = 64\n").start()
    try:
        demo = server.demo()
        raw = raw_trade_socket(server.info["trade_ws"], demo["api_key"], demo["secret"])
        raw.setblocking(False)
        sent = 0
        deadline = time.monotonic() + 20
        frame = masked_text(REQUEST)
        async with aiohttp.ClientSession() as session:
            other = await TradeSocket.connect(session, server.trade_ws_url, demo["api_key"], demo["secret"])
            # keep sending without ever reading until the server gives up on us
            while sent < 20000 and time.monotonic() < deadline:
                try:
                    raw.send(frame)
                    sent += 1
                except BlockingIOError:
                    await asyncio.sleep(0.01)
                except (ConnectionResetError, BrokenPipeError):
                    break
                if sent % 200 == 0:
                    reply = await other.request(13, exchange="TEST")  # the other client is served
                    assert reply["code"] == "200"
                    if "not reading" in server.logs():
                        break
            assert "not reading" in server.logs(), f"not dropped after {sent} unread requests"
            reply = await other.request(14)
            assert reply["code"] == "200"
            await other.close()
        raw.setblocking(True)
        assert closed_by_server(raw)
        raw.close()
    finally:
        server.stop()


async def test_rate_limit_answers_429_on_both_transports_and_keeps_the_socket(tmp_path):
    server = ServerProcess(tmp_path / "data", extra_args=("--no-simulator",),
                           config="[limits]\nrequests_per_second = 1\nburst = 3\n").start()
    try:
        api = server.rest()
        codes = [api.pairs()["code"] for _ in range(6)]
        assert codes[:3] == ["200"] * 3 and "429" in codes[3:]
        limited = api.pairs()
        assert (limited["code"], limited["_status"]) == ("429", 429)
        demo = server.demo()
        async with aiohttp.ClientSession() as session:
            ws = await TradeSocket.connect(session, server.trade_ws_url, demo["api_key"], demo["secret"])
            replies = [await ws.request(13, exchange="TEST") for _ in range(4)]
            assert "429" in [r["code"] for r in replies]
            await ws.send_raw("ping")
            assert await ws.recv() == "pong"  # still open
            await asyncio.sleep(1.1)
            assert (await ws.request(13, exchange="TEST"))["code"] == "200"  # refilled
            await ws.close()
    finally:
        server.stop()
