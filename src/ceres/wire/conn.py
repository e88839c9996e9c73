"""One accepted connection, as the transport sees it: a thin protocol in front of the
real one (aiohttp's request handler on REST, picows' protocol on the WebSocket ports).

It holds the connection's place in :class:`~ceres.wire.limits.ConnectionLimits` (its
address, and its API key once one is known) and gives it back when the connection
closes, and it enforces the *head timeout*: the first request head (REST) or the
upgrade request (WebSocket) must arrive within it, else the client gets 408 with the
envelope (code 40022) and the connection closes.

:class:`StreamConn` (REST) hands every byte to aiohttp; the timer is stopped by the
REST layer (``head_received``) when a request reaches the application.
:class:`UpgradeConn` (WebSocket ports) first reads the upgrade head itself, at most
``MAX_UPGRADE_HEAD`` bytes, and checks it with ``check_head``: a head that is too large
answers 431 (40023), a malformed one 400 (40024), both with the envelope, never the
library's plain text. Then it creates the WebSocket protocol and replays the bytes into
it. From then on the real protocol's methods (``data_received``; ``get_buffer`` and
``buffer_updated``; flow control) are bound on this object, so the transport calls them
directly: no extra Python frame per read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from ceres.domain.errors import CeresError, ErrorCode
from ceres.wire.limits import ConnectionLimits, http_error

MAX_UPGRADE_HEAD = 8192
_FIRST_HEAD_BUFFER = 2048
_END = b"\r\n\r\n"


class Conn:
    __slots__ = ("_head_timeout", "_timer", "buffer_updated", "data_received", "eof_received", "get_buffer",
                 "inner", "ip", "key", "limits", "pause_writing", "resume_writing", "transport")

    def __init__(self, limits: ConnectionLimits, ip: str, head_timeout_s: float) -> None:
        self.limits = limits
        self.ip = ip
        self.key: str | None = None
        self.inner: Any = None
        self.transport: Any = None
        self._timer: asyncio.TimerHandle | None = None
        self._head_timeout = head_timeout_s

    def _bind(self, inner: Any) -> None:
        """From now on the transport talks to ``inner`` directly (through these attributes)."""
        self.inner = inner
        for name in ("data_received", "get_buffer", "buffer_updated", "eof_received", "pause_writing",
                     "resume_writing"):
            method = getattr(inner, name, None)
            if method is not None:
                setattr(self, name, method)

    def _start(self, transport: Any) -> None:
        self.transport = transport
        self.limits.open.add(self)
        self._timer = asyncio.get_running_loop().call_later(self._head_timeout, self._timed_out)

    # --- the REST and WebSocket layers ------------------------------------------------------
    def head_received(self) -> None:
        """A request head arrived in time: stop the head timer."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def claim_key(self, api_key: str) -> None:
        """Count this connection against ``api_key`` (once); CeresError 42901 when the key
        already has its maximum of connections."""
        if self.key is None:
            self.limits.check_key(api_key)
            self.limits.bind_key(api_key)
            self.key = api_key

    def refuse(self, err: CeresError) -> None:
        """Answer ``err`` as an HTTP response with the envelope and close."""
        self.head_received()
        self.limits.refused(err.code)
        t = self.transport
        if t is not None and not t.is_closing():
            t.write(http_error(err))
            t.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def _timed_out(self) -> None:
        self._timer = None
        self.refuse(CeresError(ErrorCode.REQUEST_TIMEOUT, f"request head not received within "
                                                          f"{self._head_timeout:g} s"))

    # --- protocol ---------------------------------------------------------------------------
    def connection_lost(self, exc: Exception | None) -> None:
        self.head_received()
        self.limits.open.discard(self)
        self.limits.release(self.ip, self.key)
        if self.inner is not None:
            self.inner.connection_lost(exc)


class StreamConn(Conn, asyncio.Protocol):
    """REST: every byte goes to the request handler made by ``factory``."""

    __slots__ = ()

    def __init__(self, limits: ConnectionLimits, ip: str, head_timeout_s: float,
                 factory: Callable[[], asyncio.Protocol]) -> None:
        super().__init__(limits, ip, head_timeout_s)
        self._bind(factory())

    def connection_made(self, transport: Any) -> None:
        self._start(transport)
        self.inner.connection_made(transport)


class UpgradeConn(Conn, asyncio.BufferedProtocol):
    """WebSocket ports: read and check the upgrade head, then hand over to ``factory``'s
    protocol (a picows protocol)."""

    __slots__ = ("_buf", "_check_head", "_factory", "_filled")

    def __init__(self, limits: ConnectionLimits, ip: str, head_timeout_s: float,
                 factory: Callable[[], asyncio.BufferedProtocol], check_head: Callable[[bytes], None]) -> None:
        super().__init__(limits, ip, head_timeout_s)
        self._factory = factory
        self._check_head = check_head
        self._buf = bytearray(_FIRST_HEAD_BUFFER)
        self._filled = 0
        for name, method in (("get_buffer", self._head_buffer), ("buffer_updated", self._head_updated),
                             ("eof_received", _no_half_close), ("pause_writing", _nothing),
                             ("resume_writing", _nothing)):
            setattr(self, name, method)  # until the hand-over to the WebSocket protocol

    def connection_made(self, transport: Any) -> None:
        self._start(transport)

    def _head_buffer(self, size_hint: int) -> memoryview:
        if self._filled == len(self._buf):  # grow by copying: the old buffer may still be exported
            grown = bytearray(min(2 * len(self._buf), MAX_UPGRADE_HEAD + len(_END)))
            grown[:self._filled] = self._buf
            self._buf = grown
        return memoryview(self._buf)[self._filled:]

    def _head_updated(self, nbytes: int) -> None:
        before, self._filled = self._filled, self._filled + nbytes
        end = self._buf.find(_END, max(0, before - 3), self._filled)
        if end < 0:
            if self._filled >= MAX_UPGRADE_HEAD:
                self.refuse(CeresError(ErrorCode.HEADER_TOO_LARGE,
                                       f"upgrade request head over {MAX_UPGRADE_HEAD} bytes"))
            return
        if end > MAX_UPGRADE_HEAD:
            self.refuse(CeresError(ErrorCode.HEADER_TOO_LARGE, f"upgrade request head over {MAX_UPGRADE_HEAD} bytes"))
            return
        data = bytes(self._buf[:self._filled])
        self._buf = bytearray()
        try:
            self._check_head(data[:end])
        except CeresError as err:
            self.refuse(err)
            return
        self.head_received()
        self._hand_over(data)

    def _hand_over(self, data: bytes) -> None:
        inner: Any = self._factory()
        self._bind(inner)
        t = self.transport
        inner.connection_made(t)
        view = memoryview(data)
        while view and not t.is_closing():
            buf = inner.get_buffer(len(view))
            n = min(len(buf), len(view))
            buf[:n] = view[:n]
            inner.buffer_updated(n)
            view = view[n:]
        t.set_protocol(self)  # transports that cache the protocol's methods pick up the new ones


def _no_half_close() -> bool:
    return False


def _nothing() -> None:
    return None


def conn_of(transport: Any) -> Conn | None:
    """The :class:`Conn` in front of a transport's protocol, if the transport has one."""
    protocol = transport.get_protocol() if transport is not None else None
    return protocol if isinstance(protocol, Conn) else None
