"""Random bytes and half-valid HTTP / WebSocket for every port (seeded, reproducible).

``cases(rng, port_kind, target)`` yields byte strings a client might send on a fresh
connection: pure noise, a request line or upgrade with noise after it, a valid request
with bytes flipped or cut short, oversize lines, bodies shorter than announced, chunked
nonsense, and (after a valid upgrade) frames with random opcodes, reserved bits,
lengths and payloads.
"""

from __future__ import annotations

import json
import os
import random
import struct
from collections.abc import Iterator

from tests.fuzz.wsraw import upgrade_request

HTTP_PATHS = ["/api/v1/trade/input", "/api/v1/trade/order", "/api/v1/market/tick?exchange=TEST&contract=BTC%2FUSDT",
              "/api/v1/query/tick/data", "/health", "/metrics", "/admin/create_key", "/", "/nope", "*"]
METHODS = ["GET", "POST", "DELETE", "PUT", "HEAD", "OPTIONS", "PATCH", "CONNECT", "TRACE", "G\x00T", ""]


def _noise(rng: random.Random, n: int) -> bytes:
    return bytes(rng.getrandbits(8) for _ in range(n))


def _request(rng: random.Random) -> bytes:
    body = json.dumps({"exchange": "TEST", "contract": "BTC/USDT", "x": rng.random()}).encode()
    method = rng.choice(METHODS)
    head = f"{method} {rng.choice(HTTP_PATHS)} HTTP/1.{rng.choice([0, 1, 1, 1])}\r\nHost: 127.0.0.1\r\n"
    if method == "POST":
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return (head + "\r\n").encode() + (body if method == "POST" else b"")


def _client_frame(rng: random.Random) -> bytes:
    """A masked frame with random flags, opcode, length field and payload."""
    b0 = rng.getrandbits(8) if rng.random() < 0.5 else (0x80 | rng.choice([0x0, 0x1, 0x2, 0x8, 0x9, 0xA, 0x3, 0xB]))
    payload = _noise(rng, rng.choice([0, 1, 5, 125, 126, 300]))
    n = len(payload)
    masked = rng.random() < 0.9
    if n < 126:
        head = bytes([b0, (0x80 if masked else 0) | n])
    else:
        head = bytes([b0, (0x80 if masked else 0) | 126]) + struct.pack("!H", n)
    if rng.random() < 0.1:  # a length that promises more than follows
        head = bytes([b0, 0xFF]) + struct.pack("!Q", rng.getrandbits(63))
    mask = os.urandom(4) if masked else b""
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)) if masked else head + payload


def cases(rng: random.Random, ws: bool, target: str = "/") -> Iterator[bytes]:
    """Endless byte strings for one connection to a REST (``ws`` False) or WebSocket port."""
    while True:
        kind = rng.randrange(10)
        base = upgrade_request(target) if ws else _request(rng)
        if kind == 0:
            yield _noise(rng, rng.choice([0, 1, 7, 100, 1500, 9000]))
        elif kind == 1:  # flipped bytes
            data = bytearray(base)
            for _ in range(rng.randint(1, 6)):
                data[rng.randrange(len(data))] = rng.getrandbits(8)
            yield bytes(data)
        elif kind == 2:  # cut short
            yield base[: rng.randrange(len(base))]
        elif kind == 3:  # a valid head, then noise
            yield base + _noise(rng, rng.choice([1, 50, 2000]))
        elif kind == 4:  # an oversize line
            yield b"GET /" + b"a" * rng.choice([8200, 20000]) + b" HTTP/1.1\r\nHost: x\r\n\r\n"
        elif kind == 5:  # an oversize header or too many headers
            many = b"".join(b"X-%d: y\r\n" % i for i in range(rng.choice([10, 200])))
            yield b"GET / HTTP/1.1\r\nHost: x\r\n" + many + b"X-Big: " + b"b" * rng.choice([100, 9000]) + b"\r\n\r\n"
        elif kind == 6:  # a body shorter than announced, or chunked nonsense
            yield rng.choice([b"POST /api/v1/trade/input HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{\"a\"",
                              b"POST /api/v1/trade/input HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                              b"zz\r\n" + _noise(rng, 20),
                              b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"])
        elif kind == 7:  # non-UTF-8 in the request line and the headers
            yield b"GET /api/v1/trade/account?exchange=\xff\xfe HTTP/1.1\r\nHost: x\r\napi_key: \xc3\x28\r\n" \
                  b"sign: \xff\r\n\r\n"
        else:  # a valid upgrade (on a WebSocket port), then frames of noise
            frames = b"".join(_client_frame(rng) for _ in range(rng.randint(1, 4)))
            yield upgrade_request(target) + frames
