"""The WebSocket base of every picows server (19001, 19003, 18003).

* :class:`BaseListener`: reassembles fragmented messages up to a size limit, answers
  CLOSE, and registers connections per API key so a revoked key loses its sockets;
* one outbound queue per connection, the same on every port: messages queued in one
  loop iteration leave in one write; while the socket does not drain (picows
  ``pause_writing``: the kernel's small send buffer and the transport's 64 KiB are
  full) they wait in the connection's queue, and once more than ``max_buffer`` bytes
  were produced for it since it stopped draining, the client is dropped: the queue is
  discarded, close 1008 "too slow: not reading" follows what was already sent, and the
  socket is aborted unless the client answers the close within the registry's
  ``drop_timeout``. A connection's outbound memory is therefore at most ``max_buffer``
  + the transport's 64 KiB (+ the messages of the iteration in which it stopped);
* the upgrade itself (``upgrade_query``, ``refuse``, ``listener_factory_guard``) is
  :mod:`ceres.wire.ws_server`'s; the names are importable from here too.
"""

from __future__ import annotations

import asyncio
import logging

from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport

from ceres.wire.conn import Conn
from ceres.wire.limits import ConnectionLimits
from ceres.wire.ws_server import listener_factory_guard as listener_factory_guard
from ceres.wire.ws_server import refuse as refuse
from ceres.wire.ws_server import upgrade_query as upgrade_query

log = logging.getLogger("ceres.ws")
TEXT = WSMsgType.TEXT
BINARY = WSMsgType.BINARY
CONTINUATION = WSMsgType.CONTINUATION
CLOSE = WSMsgType.CLOSE
DEFAULT_MAX_BUFFER = 8 << 20
DEFAULT_DROP_TIMEOUT_S = 5.0
SLOW_CLOSE_REASON = b"too slow: not reading"


def text_frame(payload: bytes) -> bytes:
    """A final, unmasked server-to-client text frame (RFC 6455 section 5.2)."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return b"\x81\x7e" + n.to_bytes(2, "big") + payload
    return b"\x81\x7f" + n.to_bytes(8, "big") + payload


class Registry:
    """Open WebSocket connections, by API key (only authenticated sockets register), and
    the policy they share: the connection caps, how long a dropped client has to take its
    close frame (``drop_timeout``), and how many were dropped for not reading."""

    def __init__(self, limits: ConnectionLimits | None = None, *,
                 drop_timeout: float = DEFAULT_DROP_TIMEOUT_S) -> None:
        self.by_key: dict[str, set[BaseListener]] = {}
        self.count = 0
        self.limits = limits
        self.drop_timeout = drop_timeout
        self.dropped = 0

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
        self._queue: list[bytes] | None = None  # waiting while the socket does not drain
        self._queued = 0
        self.peer = "?"

    # --- lifecycle -------------------------------------------------------------------
    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        peer = transport.underlying_transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        if self.registry is not None and self.api_key is not None:
            self.registry.add(self.api_key, self)
            conn = transport.underlying_transport.get_protocol()
            if isinstance(conn, Conn):
                conn.claim_key(self.api_key)  # checked by the guard just before: cannot fail
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
        self._write_all()  # what was queued before the close frame goes first
        self.closed = True
        self.transport.send_close(code, reason.encode())
        self.transport.disconnect()

    def drop(self) -> None:
        """The client stopped reading and its queue is full: discard the queue, close 1008
        after what it was already sent, abort unless the client answers in time."""
        transport = self.transport
        if self.closed or transport is None:
            return
        log.warning("%s %s not reading; dropping it (%d bytes queued)", self.name, self.peer, self._queued)
        self._out = self._queue = None
        self._queued = 0
        self.closed = True
        timeout = DEFAULT_DROP_TIMEOUT_S
        if self.registry is not None:
            self.registry.dropped += 1
            timeout = self.registry.drop_timeout
        transport.send_close(WSCloseCode.POLICY_VIOLATION, SLOW_CLOSE_REASON)
        # keep reading (and ignoring) until the client answers the close: closing a socket
        # with unread input would reset it, and the reset would destroy the close frame
        asyncio.get_running_loop().call_later(timeout, transport.disconnect, False)

    # --- sending ---------------------------------------------------------------------
    def send_text(self, data: bytes) -> None:
        """Queue a text message; everything queued during one loop iteration leaves in one
        write (one system call for a whole batch of replies or pushes)."""
        if self.closed:
            return
        frame = text_frame(data)
        out = self._out
        if out is None:
            self._out = [frame]
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:  # no loop running (driven synchronously): write now
                self.flush()
        else:
            out.append(frame)
        if self._paused:
            self.waiting(len(frame))

    def flush(self) -> None:
        out, self._out = self._out, None
        if not out or self.transport is None or self.closed:
            return
        if self._paused:  # counted by send_text already
            if self._queue is None:
                self._queue = out
            else:
                self._queue += out
            return
        ut = self.transport.underlying_transport
        if not ut.is_closing():
            ut.write(out[0] if len(out) == 1 else b"".join(out))

    def waiting(self, nbytes: int) -> None:
        """Count ``nbytes`` more produced for this client while its socket does not drain
        (subclasses that coalesce messages count what they replaced too); past
        ``max_buffer`` the client is dropped."""
        self._queued += nbytes
        if self._queued > self.max_buffer:
            self.drop()

    def _write_all(self) -> None:
        """Write the queue and this iteration's messages, drained or not (before a close)."""
        pending = (self._queue or []) + (self._out or [])
        self._queue = self._out = None
        self._queued = 0
        if pending and self.transport is not None and not self.transport.underlying_transport.is_closing():
            self.transport.underlying_transport.write(b"".join(pending))

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        queue, self._queue = self._queue, None
        self._queued = 0
        if queue and not self.closed and self.transport is not None:
            self.transport.underlying_transport.write(b"".join(queue))

    # --- receiving -------------------------------------------------------------------
    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        mt = frame.msg_type
        if mt == CLOSE:
            if not self.closed:  # the client closes; else it answers our close
                transport.send_close(frame.get_close_code())
            transport.disconnect()
            return
        if self.closed:
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
