"""The WebSocket base of every picows server (19001, 19003, 18003).

* ``upgrade_query``: path and query parameters of an upgrade request;
* ``refuse``: an HTTP error reply (401 with the envelope) instead of the upgrade;
* :class:`BaseListener`: reassembles fragmented messages up to a size limit, answers
  CLOSE, drops a client whose unsent data passes ``max_buffer`` (a client that stops
  reading), and registers connections per API key so a revoked key loses its sockets.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import parse_qsl

from picows import (
    WSCloseCode,
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
)

from ceres.domain.errors import CeresError, ErrorCode
from ceres.wire import codec

log = logging.getLogger("ceres.ws")
TEXT = WSMsgType.TEXT
BINARY = WSMsgType.BINARY
CONTINUATION = WSMsgType.CONTINUATION
CLOSE = WSMsgType.CLOSE
DEFAULT_MAX_BUFFER = 8 << 20


def text_frame(payload: bytes) -> bytes:
    """A final, unmasked server-to-client text frame (RFC 6455 section 5.2)."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return b"\x81\x7e" + n.to_bytes(2, "big") + payload
    return b"\x81\x7f" + n.to_bytes(8, "big") + payload


def upgrade_query(request: WSUpgradeRequest) -> tuple[str, dict[str, str]]:
    raw = request.path.decode("latin-1")
    path, _, query = raw.partition("?")
    return path, dict(parse_qsl(query, keep_blank_values=True))


def refuse(err: CeresError) -> WSUpgradeResponseWithListener:
    response = WSUpgradeResponse.create_error_response(
        err.error.http_status if err.error.http_status >= 400 else 400, codec.error(err),
        {"Content-Type": "application/json"})
    return WSUpgradeResponseWithListener(response, None)


class Registry:
    """Open connections, by API key (only authenticated sockets register)."""

    def __init__(self) -> None:
        self.by_key: dict[str, set[BaseListener]] = {}
        self.count = 0

    def add(self, api_key: str, listener: BaseListener) -> None:
        self.by_key.setdefault(api_key, set()).add(listener)

    def remove(self, api_key: str, listener: BaseListener) -> None:
        conns = self.by_key.get(api_key)
        if conns is not None:
            conns.discard(listener)
            if not conns:
                del self.by_key[api_key]

    def close_key(self, api_key: str, reason: str = "api_key revoked") -> int:
        conns = list(self.by_key.get(api_key, ()))
        for c in conns:
            c.close(WSCloseCode.POLICY_VIOLATION, reason)
        return len(conns)


class BaseListener(WSListener):
    """Subclasses implement ``on_message(data: bytes, is_text: bool)``."""

    name = "ws"

    def __init__(self, *, max_message: int, max_buffer: int = DEFAULT_MAX_BUFFER,
                 registry: Registry | None = None, api_key: str | None = None) -> None:
        super().__init__()
        self.transport: WSTransport | None = None
        self.max_message = max_message
        self.max_buffer = max_buffer
        self.registry = registry
        self.api_key = api_key
        self.closed = False
        self._parts: list[bytes] | None = None
        self._parts_size = 0
        self._parts_text = True
        self._paused = False
        self._out: list[bytes] | None = None
        self.peer = "?"

    # --- lifecycle -------------------------------------------------------------------
    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        peer = transport.underlying_transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        if self.registry is not None and self.api_key is not None:
            self.registry.add(self.api_key, self)
        if self.registry is not None:
            self.registry.count += 1
        log.info("%s open %s key=%s", self.name, self.peer, self.api_key or "-")
        self.on_open()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.closed = True
        if self.registry is not None:
            self.registry.count -= 1
            if self.api_key is not None:
                self.registry.remove(self.api_key, self)
        log.info("%s close %s key=%s", self.name, self.peer, self.api_key or "-")
        self.on_close()

    def on_open(self) -> None:
        pass

    def on_close(self) -> None:
        pass

    def close(self, code: WSCloseCode = WSCloseCode.OK, reason: str = "") -> None:
        if self.closed or self.transport is None:
            return
        self.flush()  # what was queued before the close frame goes first
        self.closed = True
        self.transport.send_close(code, reason.encode())
        self.transport.disconnect()

    # --- sending ---------------------------------------------------------------------
    def send_text(self, data: bytes) -> None:
        """Queue a text message; everything queued during one loop iteration leaves in one
        write (one system call for a whole batch of replies or pushes)."""
        if self.closed:
            return
        out = self._out
        if out is None:
            self._out = [text_frame(data)]
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:  # no loop running (driven synchronously): write now
                self.flush()
        else:
            out.append(text_frame(data))

    def flush(self) -> None:
        out, self._out = self._out, None
        if not out or self.transport is None:
            return
        ut = self.transport.underlying_transport
        if ut.is_closing():
            return
        ut.write(out[0] if len(out) == 1 else b"".join(out))
        if self._paused and ut.get_write_buffer_size() > self.max_buffer and not self.closed:
            log.warning("%s %s not reading (%d bytes queued); dropping it", self.name, self.peer,
                        ut.get_write_buffer_size())
            self.closed = True
            self.transport.disconnect(graceful=False)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False

    # --- receiving -------------------------------------------------------------------
    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        mt = frame.msg_type
        if mt == CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()
            return
        if mt in (TEXT, BINARY):
            if frame.fin:
                if frame.payload_size > self.max_message:
                    self.too_big()
                    return
                self.on_message(frame.get_payload_as_bytes(), mt == TEXT)
                return
            self._parts = [frame.get_payload_as_bytes()]
            self._parts_size = frame.payload_size
            self._parts_text = mt == TEXT
        elif mt == CONTINUATION and self._parts is not None:
            self._parts.append(frame.get_payload_as_bytes())
            self._parts_size += frame.payload_size
            if self._parts_size > self.max_message:  # the last fragment counts too
                self._parts = None
                self.too_big()
                return
            if frame.fin:
                data = b"".join(self._parts)
                self._parts = None
                self.on_message(data, self._parts_text)
                return
        else:
            return  # PING/PONG are answered by picows
        if self._parts_size > self.max_message:
            self._parts = None
            self.too_big()

    def too_big(self) -> None:
        """A message over the limit is abuse: say why, then close (1009)."""
        self.on_too_big()
        self.close(WSCloseCode.MESSAGE_TOO_BIG, "message over the size limit")

    def on_too_big(self) -> None:
        pass

    def on_message(self, data: bytes, is_text: bool) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


def listener_factory_guard(fn: Any, on_reject: Any = None) -> Any:
    """Wrap an upgrade factory: ``None`` (unknown path) answers 404 and a CeresError its
    status, both with the envelope; a bug answers 500 instead of killing the server."""

    def wrapped(request: WSUpgradeRequest) -> Any:
        try:
            listener = fn(request)
            if listener is None:  # unknown path: 404 with the envelope
                path = request.path.decode("latin-1").partition("?")[0]
                return refuse(CeresError(ErrorCode.NOT_FOUND, f"no such path {path}"))
            return listener
        except CeresError as err:
            if on_reject is not None:
                on_reject(err.code)
            return refuse(err)
        except Exception:
            log.exception("upgrade failed")
            return WSUpgradeResponseWithListener(WSUpgradeResponse.create_error_response(500), None)

    return wrapped
