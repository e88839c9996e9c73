"""Helpers for the connection-limit tests: raw sockets (optionally from another loopback
address), reading many sockets at once until the server closes them, a WebSocket client
that can stop reading, HTTP replies and Prometheus lines parsed, the server's RSS.

Every wait is bounded by a deadline.
"""

from __future__ import annotations

import base64
import json
import os
import re
import resource
import selectors
import socket
import struct
import time
import urllib.request
from typing import Any

import pytest

UPGRADE = ("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")


def raise_fd_limit(need: int) -> None:
    """Let this test process hold ``need`` descriptors, or skip saying why it cannot."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < need:
        pytest.skip(f"this test opens about {need} sockets; the hard file-descriptor limit is {hard} "
                    f"(raise it with ulimit -Hn)")
    if soft != resource.RLIM_INFINITY and soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))


def connect(port: int, source: str = "127.0.0.1", rcvbuf: int = 0, timeout: float = 10.0) -> socket.socket:
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.bind((source, 0))
    s.settimeout(timeout)
    s.connect(("127.0.0.1", port))
    return s


def read_until_closed(socks: list[socket.socket], deadline: float,
                      answer_close: bool = False) -> tuple[dict[int, bytes], set[int]]:
    """Read every socket until the server closes it (EOF or reset) or ``deadline``:
    ``({index: bytes read}, {indexes closed by the server})``. With ``answer_close`` a
    WebSocket close frame from the server is answered, as a WebSocket client does."""
    answered: set[int] = set()
    sel = selectors.DefaultSelector()
    got: dict[int, bytes] = dict.fromkeys(range(len(socks)), b"")
    closed: set[int] = set()
    for i, s in enumerate(socks):
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, i)
    try:
        while len(closed) < len(socks) and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=0.2):
                i = key.data
                try:
                    chunk = socks[i].recv(65536)
                except BlockingIOError:
                    continue
                except (ConnectionResetError, BrokenPipeError):
                    chunk = b""
                if chunk:
                    got[i] += chunk
                    if answer_close and i not in answered and close_code(got[i]) is not None:
                        answered.add(i)
                        socks[i].setblocking(True)
                        socks[i].sendall(masked_frame(0x8, struct.pack(">H", 1000)))
                        socks[i].setblocking(False)
                else:
                    closed.add(i)
                    sel.unregister(socks[i])
    finally:
        sel.close()
    return got, closed


def http_reply(raw: bytes) -> tuple[int, dict[str, Any] | None]:
    """``(status, JSON body)`` of a raw HTTP response (status 0 when there is none)."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    m = re.match(rb"HTTP/1\.[01] (\d{3}) ", head)
    if not m or not sep:
        return 0, None
    return int(m.group(1)), json.loads(body) if body else None


def get_json(url: str, timeout: float = 10.0) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def metrics(http_url: str) -> str:
    with urllib.request.urlopen(f"{http_url}/metrics", timeout=10) as resp:
        text: str = resp.read().decode()
    return text


def metric(text: str, name: str) -> float:
    """The value of the Prometheus line ``name`` (labels included in ``name``), 0 if absent."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))


def masked_frame(opcode: int, payload: bytes) -> bytes:
    """A final client-to-server frame (masked, RFC 6455 section 5.3)."""
    mask = os.urandom(4)
    n = len(payload)
    first = 0x80 | opcode
    head = bytes((first, 0x80 | n)) if n < 126 else bytes((first, 0x80 | 126)) + struct.pack(">H", n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class RawWs:
    """A WebSocket client on a plain socket: it reads only when told to."""

    def __init__(self, port: int, target: str = "/", source: str = "127.0.0.1", rcvbuf: int = 0) -> None:
        self.sock = connect(port, source, rcvbuf)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(UPGRADE.format(target=target, key=key).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                break
            head += chunk
        self.status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.1 ") else 0
        self.head = head

    def send(self, obj: Any) -> None:
        self.send_text(json.dumps(obj).encode())

    def send_text(self, payload: bytes) -> None:
        self.sock.sendall(masked_frame(0x1, payload))

    def close(self) -> None:
        self.sock.close()


def ws_frames(data: bytes) -> list[tuple[int, bytes]]:
    """``[(opcode, payload)]`` of the whole frames in ``data`` (server frames: unmasked)."""
    frames = []
    i = 0
    while i + 2 <= len(data):
        op, n = data[i] & 0x0F, data[i + 1] & 0x7F
        i += 2
        width = {126: 2, 127: 8}.get(n, 0)
        if i + width > len(data):
            break
        if width:
            n, i = int.from_bytes(data[i:i + width], "big"), i + width
        if i + n > len(data):
            break
        frames.append((op, data[i:i + n]))
        i += n
    return frames


def close_code(data: bytes) -> int | None:
    """The close code of the last frame in ``data``, if it is a close frame."""
    frames = ws_frames(data)
    if frames and frames[-1][0] == 0x8 and len(frames[-1][1]) >= 2:
        code: int = struct.unpack(">H", frames[-1][1][:2])[0]
        return code
    return None
