"""Clients for the replay, address and Origin tests: each request or upgrade can come
from a chosen loopback address (127.0.0.2 is another client as far as the server is
concerned), carry an ``Origin``, and speak TLS with a given context.

Signing is plain ``hashlib`` (``api_helpers.sign``), independent of ``ceres``. Every wait
is bounded by ``TIMEOUT``.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import ssl
import time
import urllib.parse
from typing import Any

from .api_helpers import API, TIMEOUT, json_text, sha256_hex, sign

HOST = "127.0.0.1"
OTHER = "127.0.0.2"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def rest_call(port: int, api_key: str, secret: str, method: str, path: str, params: dict[str, Any] | None = None, *,
              source: str = HOST, ctx: ssl.SSLContext | None = None,
              raw: tuple[bytes | None, str] | None = None) -> tuple[int, Any, tuple[bytes | None, str]]:
    """A signed REST call from ``source``: ``(status, body, (body_bytes, sign))``; ``raw``
    sends a captured ``(body, sign)`` again verbatim."""
    params = dict(params or {})
    if raw is None:
        if method == "POST":
            body: bytes | None = json.dumps(params).encode()
            pairs = [(k, json_text(v)) for k, v in params.items()]
        else:
            body, pairs = None, [(k, str(v)) for k, v in params.items()]
        raw = (body, sign(pairs, secret))
    query = "" if method == "POST" or not params else "?" + urllib.parse.urlencode(params)
    conn: http.client.HTTPConnection
    if ctx is None:
        conn = http.client.HTTPConnection(HOST, port, timeout=TIMEOUT, source_address=(source, 0))
    else:
        conn = http.client.HTTPSConnection(HOST, port, timeout=TIMEOUT, source_address=(source, 0), context=ctx)
    try:
        conn.request(method, API + path + query, body=raw[0],
                     headers={"api_key": api_key, "sign": raw[1], "Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, json.loads(data) if data else None, raw
    finally:
        conn.close()


def handshake_query(api_key: str, secret: str, timestamp: int | None = None) -> str:
    if timestamp is None:
        return f"api_key={api_key}&sign={sha256_hex(f'api_key={api_key}&secret={secret}')}"
    sign_ = sha256_hex(f"api_key={api_key}&timestamp={timestamp}&secret={secret}")
    return f"api_key={api_key}&timestamp={timestamp}&sign={sign_}"


async def upgrade(port: int, target: str = "/", *, source: str = HOST, origin: str | None = None,
                  ctx: ssl.SSLContext | None = None, then: bytes | None = None) -> tuple[int, bytes]:
    """A WebSocket upgrade from ``source``: ``(status, body)`` of a refusal, or ``(101,
    first frame bytes)`` after sending ``then`` (a masked client frame) when accepted."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(
        HOST, port, local_addr=(source, 0), ssl=ctx, server_hostname=HOST if ctx else None), TIMEOUT)
    try:
        extra = f"Origin: {origin}\r\n" if origin is not None else ""
        writer.write((f"GET {target} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      f"Sec-WebSocket-Version: 13\r\n{extra}\r\n").encode())
        await writer.drain()
        head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)).decode("latin-1")
        status = int(head.split()[1])
        if status != 101:
            length = next(int(line.split(":")[1]) for line in head.split("\r\n")
                          if line.lower().startswith("content-length"))
            return status, await asyncio.wait_for(reader.readexactly(length), TIMEOUT)
        if then is None:
            return status, b""
        writer.write(masked_text(then))
        await writer.drain()
        return status, await read_frame(reader)
    finally:
        writer.close()


def masked_text(payload: bytes) -> bytes:
    """A client text frame (payload < 126 bytes) with a zero mask."""
    assert len(payload) < 126
    return bytes((0x81, 0x80 | len(payload))) + b"\0\0\0\0" + payload


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    """The payload of the next (unmasked, unfragmented) server frame."""
    head = await asyncio.wait_for(reader.readexactly(2), TIMEOUT)
    n = head[1] & 0x7F
    if n == 126:
        n = int.from_bytes(await asyncio.wait_for(reader.readexactly(2), TIMEOUT), "big")
    elif n == 127:
        n = int.from_bytes(await asyncio.wait_for(reader.readexactly(8), TIMEOUT), "big")
    return await asyncio.wait_for(reader.readexactly(n), TIMEOUT)


def code_of(body: bytes) -> str:
    return json.loads(body)["code"]
