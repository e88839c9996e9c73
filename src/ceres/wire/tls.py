"""TLS on the public ports (``[tls] cert`` and ``key``): https on REST, wss on the
WebSocket ports.

:func:`server_context` loads the certificate chain and key (PEM) into a server-side
``ssl.SSLContext`` (the standard library's defaults for a server, TLS 1.2 at least).
:func:`tls_connect` wraps a port's ``connect(factory, sock)`` (see
:class:`~ceres.wire.accept.Listener`): it waits, at most ``handshake_timeout_s``, for the
client's first byte and looks at it without consuming it. A TLS ClientHello starts with
the handshake record type ``0x16``; anything else is a plain-text client (``http://``,
``ws://``) and is refused with :attr:`~ceres.domain.errors.ErrorCode.TLS_REQUIRED`, which
the listener answers as a plain HTTP 400 with the envelope before closing, so the client
reads why instead of a reset. A client that sends nothing within the timeout, or an
invalid or too-slow TLS handshake, is closed without an answer. The TLS handshake itself
runs in the event loop's transport (``ssl=``, ``ssl_handshake_timeout=``), before the
port's protocol sees the connection.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

from ceres.domain.errors import CeresError, ErrorCode

TLS_HANDSHAKE_RECORD = 0x16
SslConnect = Callable[..., Awaitable[Any]]
"""``connect(factory, sock, *, ssl, ssl_handshake_timeout)``: the transport's TLS wrapping."""


class TlsConfigError(OSError):
    """The certificate or key cannot be loaded (the server refuses to start)."""


def server_context(cert: str, key: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise TlsConfigError(f"tls: cannot load certificate {cert!r} with key {key!r}: {exc}") from None
    return ctx


async def _first_byte(sock: socket.socket, timeout_s: float) -> bytes:
    """The first byte the client sent, left in the socket for the TLS layer to read."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        if not ready.done():
            ready.set_result(None)

    fd = sock.fileno()
    loop.add_reader(fd, readable)
    try:
        await asyncio.wait_for(ready, timeout_s)  # TimeoutError (an OSError): closed quietly
    finally:
        loop.remove_reader(fd)
    first = sock.recv(1, socket.MSG_PEEK)
    if not first:
        raise ConnectionResetError("closed before sending anything")
    return first


def tls_connect(inner: SslConnect, ctx: ssl.SSLContext, handshake_timeout_s: float) -> Callable[..., Awaitable[Any]]:
    """A port's ``connect(factory, sock)`` that speaks TLS, refusing plain-text clients."""

    async def connect(factory: Callable[[], Any], sock: socket.socket) -> Any:
        first = await _first_byte(sock, handshake_timeout_s)
        if first[0] != TLS_HANDSHAKE_RECORD:
            raise CeresError(ErrorCode.TLS_REQUIRED)
        return await inner(factory, sock, ssl=ctx, ssl_handshake_timeout=handshake_timeout_s)

    return connect
