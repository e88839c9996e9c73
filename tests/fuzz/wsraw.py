"""A blocking WebSocket client that can send any frame (RFC 6455): text frames that are
not UTF-8, binary frames, fragments with control frames between them. Every read has a
timeout, so a server that stays silent fails the test instead of hanging it.
"""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import struct

TEXT, BINARY, CONTINUATION, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA
TIMEOUT = 10.0


def frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """A masked client frame."""
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    mask = os.urandom(4)
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes((mask * (n // 4 + 1))[:n], "big")).to_bytes(n, "big")
    return head + mask + masked


def upgrade_request(target: str) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()


class RawWs:
    def __init__(self, port: int, target: str = "/") -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.sock.sendall(upgrade_request(target))
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError(f"closed during the upgrade: {head!r}")
            head += chunk
        head, _, self.buf = head.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(f"upgrade refused: {head!r}")

    def send(self, *frames: bytes) -> None:
        self.sock.sendall(b"".join(frames))

    def send_message(self, payload: bytes, opcode: int = TEXT) -> None:
        self.send(frame(opcode, payload))

    def _read(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv_frame(self) -> tuple[int, bytes]:
        """The next data or close frame (PINGs from the server are answered, PONGs skipped)."""
        while True:
            b0, b1 = self._read(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read(8))[0]
            opcode, payload = b0 & 0x0F, self._read(n)
            if opcode == PING:
                self.send(frame(PONG, payload))
            elif opcode != PONG:
                return opcode, payload

    def recv_text(self) -> bytes:
        opcode, payload = self.recv_frame()
        if opcode != TEXT:
            raise AssertionError(f"expected a text frame, got opcode {opcode}: {payload[:200]!r}")
        return payload

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.send(frame(CLOSE, struct.pack("!H", 1000)))
        self.sock.close()
