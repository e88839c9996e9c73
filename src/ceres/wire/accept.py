"""The accept loop of every public port: the caps are applied before a connection costs
anything but its socket.

:class:`Listener` owns the listening sockets of one port (every address the host
resolves to) and accepts from them itself (at most ``ACCEPT_BATCH`` per wake-up). Each new socket is admitted by
:class:`~ceres.wire.limits.ConnectionLimits` (total, per address) or refused at once: the
client's pending bytes are drained (so the close is a FIN, not a reset that could
destroy the answer), the HTTP refusal with the envelope is sent, the socket closed.
An admitted socket gets its send buffer (``sndbuf``: small on the WebSocket ports, so a
client that stops reading shows up as back-pressure within a few KiB instead of after
megabytes of kernel buffering) and is handed to the event loop's transport with the
connection protocol made by ``make_conn``.

``connect`` may refuse a socket itself by raising CeresError before it made a transport
(:mod:`ceres.wire.tls`: plain text on a TLS port); the socket is then answered like a
refused one.

When ``accept`` fails (for want of resources: EMFILE, ENFILE, ENOBUFS, ENOMEM) the
listener stops accepting for ``ACCEPT_RETRY_S`` (pending clients wait in the kernel's
backlog), counts the failure and logs at most one line per interval: no busy loop, no
traceback per attempt.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from ceres.domain.errors import CeresError
from ceres.wire.limits import ConnectionLimits, http_error

ACCEPT_BATCH = 64
ACCEPT_RETRY_S = 0.5
BACKLOG = 1024

Connect = Callable[[Callable[[], Any], socket.socket], Awaitable[Any]]


def refuse_socket(sock: socket.socket, err: CeresError) -> None:
    """Answer a just-accepted socket with the refusal and close it."""
    try:
        sock.setblocking(False)
        try:
            for _ in range(4):  # what the client already sent: read it, so close sends a FIN
                if not sock.recv(65536):
                    break
        except OSError:
            pass
        sock.send(http_error(err))
    except OSError:
        pass
    finally:
        sock.close()


class Listener:
    """One listening port; ``make_conn(ip)`` builds the protocol of an admitted connection,
    ``connect(factory, sock)`` wraps the socket in a transport."""

    def __init__(self, limits: ConnectionLimits, make_conn: Callable[[str], Any], connect: Connect, *,
                 name: str, sndbuf: int = 0) -> None:
        self.limits = limits
        self.make_conn = make_conn
        self.connect = connect
        self.name = name
        self.sndbuf = sndbuf
        self.socks: list[socket.socket] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: set[asyncio.Task[None]] = set()
        self._retry: asyncio.TimerHandle | None = None

    def start(self, host: str, port: int) -> int:
        """Bind every address ``host`` resolves to (one port for all), listen and start
        accepting; returns the bound port."""
        self._loop = asyncio.get_running_loop()
        seen = set()
        for family, kind, proto, _, address in socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                                                  flags=socket.AI_PASSIVE):
            if (family, address[0]) in seen:
                continue
            seen.add((family, address[0]))
            try:
                sock = socket.socket(family, kind, proto)
            except OSError as exc:
                if exc.errno == errno.EAFNOSUPPORT:  # e.g. no IPv6 on this machine
                    continue
                raise
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind((address[0], port, *address[2:]))
                sock.listen(BACKLOG)
                sock.setblocking(False)
            except OSError as exc:
                sock.close()
                if exc.errno == errno.EADDRNOTAVAIL:  # a family the machine does not route
                    continue
                self.close()
                raise
            port = sock.getsockname()[1]  # port 0: the others take the one the first got
            self.socks.append(sock)
            self._loop.add_reader(sock.fileno(), self._accept, sock)
        if not self.socks:
            raise OSError(errno.EADDRNOTAVAIL, f"cannot listen on {host!r} port {port}")
        return port

    def close(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        for sock in self.socks:
            if self._loop is not None:
                self._loop.remove_reader(sock.fileno())
            sock.close()
        self.socks.clear()
        for task in list(self._pending):
            task.cancel()

    # --- accepting ------------------------------------------------------------------------
    def _accept(self, lsock: socket.socket) -> None:
        for _ in range(ACCEPT_BATCH):
            try:
                sock, addr = lsock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:
                self._pause(exc)
                return
            self._admit(sock, addr)

    def _pause(self, exc: OSError) -> None:
        """Out of descriptors (or memory): stop accepting for a moment, count, log rarely."""
        self.limits.accept_failed(exc)
        if self._loop is not None and self._retry is None:
            for sock in self.socks:
                self._loop.remove_reader(sock.fileno())
            self._retry = self._loop.call_later(ACCEPT_RETRY_S, self._resume)

    def _resume(self) -> None:
        self._retry = None
        if self._loop is not None:
            for sock in self.socks:
                self._loop.add_reader(sock.fileno(), self._accept, sock)

    def _admit(self, sock: socket.socket, addr: Any) -> None:
        ip = addr[0] if isinstance(addr, tuple) else str(addr)
        refusal = self.limits.admit(ip)
        if refusal is not None:
            self.limits.refused(refusal.code)
            refuse_socket(sock, refusal)
            return
        try:
            sock.setblocking(False)
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if self.sndbuf:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.sndbuf)
            conn = self.make_conn(ip)
        except Exception:
            self.limits.release(ip, None)
            sock.close()
            raise
        task = asyncio.get_running_loop().create_task(self._connect(sock, conn, ip))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _connect(self, sock: socket.socket, conn: Any, ip: str) -> None:
        try:
            await self.connect(lambda: conn, sock)
        except CeresError as err:  # refused before the transport (a plain-text client on a TLS port)
            self.limits.refused(err.code)
            refuse_socket(sock, err)
            self.limits.release(ip, None)
        except BaseException as exc:
            if conn.transport is None:  # never reached connection_made: nothing will release it
                self.limits.release(ip, None)
                sock.close()
            if not isinstance(exc, OSError):
                raise
