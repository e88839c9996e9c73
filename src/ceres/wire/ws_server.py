"""A WebSocket port: the upgrade, and picows' protocol behind
:class:`~ceres.wire.accept.Listener` and :class:`~ceres.wire.conn.UpgradeConn`.

* ``upgrade_query``: path and query parameters of an upgrade request;
* ``refuse``: an HTTP error reply with the envelope (401, 404, 429...) instead of the upgrade;
* ``listener_factory_guard``: the listener factory's refusals in the envelope, the
  upgrade headers checked, the per-key connection cap applied.

picows' ``ws_create_server`` accepts connections itself; Ceres accepts them (caps,
refusals, accept errors) and builds picows' protocol the way ``ws_create_server`` does
(:func:`protocol_factory`), with:

* the handshake timeout (``handshake_timeout_s``; the upgrade head is also timed by
  ``UpgradeConn``, which answers 408 with the envelope);
* pings: after ``ping_interval_s`` without incoming data the server sends a PING; no
  PONG within ``ping_timeout_s`` closes the connection with 1001 (picows' auto-ping;
  WebSocket clients answer PINGs by themselves);
* picows' per-connection INFO lines demoted to DEBUG: Ceres logs one line per
  connection open and close itself.

:func:`check_head` and :func:`check_upgrade` run picows' own parser and upgrade checks
early, so what picows would answer with a plain-text 400 echoing the request gets the
envelope (400, code 40024) instead.

The protocol of one connection is made with the client's address (``make(peer)``); while
the listener factory decides that connection's upgrade, :func:`upgrade_peer` returns it
(a context variable), so a signed handshake can check the key's address allowlist.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any
from urllib.parse import parse_qsl

from picows import WSAutoPingStrategy, WSUpgradeRequest, WSUpgradeResponse, WSUpgradeResponseWithListener
from picows.picows import (  # type: ignore[attr-defined]  # not in picows' stubs
    WSProtocol,
    _parse_http_request,
    _validate_upgrade_request,
)

from ceres.domain.errors import CeresError, ErrorCode
from ceres.wire import codec

try:
    import aiofastnet
except ImportError:  # pragma: no cover - a picows dependency
    aiofastnet = None  # type: ignore[assignment]


class _Demoted(logging.LoggerAdapter):  # type: ignore[type-arg]
    """picows logs every connection at INFO; Ceres keeps those at DEBUG."""

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        super().log(logging.DEBUG if level == logging.INFO else level, msg, *args, **kwargs)


log = logging.getLogger("ceres.ws")
_LOG = _Demoted(logging.getLogger("ceres.ws.picows"), {})
_PEER: ContextVar[str] = ContextVar("ceres_upgrade_peer", default="")


def upgrade_peer() -> str:
    """The client address of the connection whose upgrade is being decided ("" if unknown)."""
    return _PEER.get()


def upgrade_query(request: WSUpgradeRequest) -> tuple[str, dict[str, str]]:
    raw = request.path.decode("latin-1")
    path, _, query = raw.partition("?")
    return path, dict(parse_qsl(query, keep_blank_values=True))


def refuse(err: CeresError) -> WSUpgradeResponseWithListener:
    response = WSUpgradeResponse.create_error_response(
        err.error.http_status if err.error.http_status >= 400 else 400, codec.error(err),
        {"Content-Type": "application/json"})
    return WSUpgradeResponseWithListener(response, None)


def listener_factory_guard(fn: Any, on_reject: Any = None) -> Any:
    """Wrap a listener factory (``fn(request)``: a ``BaseListener``, None for an unknown
    path, or CeresError): an unknown path answers 404, a CeresError its status, a request
    that is not a WebSocket upgrade 400 (40024), a key over its connection cap 429
    (42901), all with the envelope; a bug answers 500 instead of killing the server."""

    def wrapped(request: WSUpgradeRequest) -> Any:
        try:
            listener = fn(request)
            if listener is None:  # unknown path: 404 with the envelope
                path = request.path.decode("latin-1").partition("?")[0]
                return refuse(CeresError(ErrorCode.NOT_FOUND, f"no such path {path}"))
            check_upgrade(request)
            registry = getattr(listener, "registry", None)
            if listener.api_key is not None and registry is not None and registry.limits is not None:
                registry.limits.check_key(listener.api_key)
            return listener
        except CeresError as err:
            if on_reject is not None:
                on_reject(err.code)
            return refuse(err)
        except Exception:
            log.exception("upgrade failed")
            return refuse(CeresError(ErrorCode.INTERNAL))

    return wrapped


def check_head(head: bytes) -> None:
    """The request line and headers of an upgrade request (without the blank line)."""
    try:
        _parse_http_request(head)
    except RuntimeError:
        raise CeresError(ErrorCode.MALFORMED_REQUEST, "a WebSocket upgrade is 'GET /path HTTP/1.1' with valid "
                                                      "headers and no body") from None


def check_upgrade(request: WSUpgradeRequest) -> None:
    try:
        _validate_upgrade_request(request)
    except RuntimeError:
        raise CeresError(ErrorCode.MALFORMED_REQUEST, "not a WebSocket upgrade: send Upgrade: websocket, "
                                                      "Connection: Upgrade, Sec-WebSocket-Key and "
                                                      "Sec-WebSocket-Version: 13") from None


def protocol_factory(listener_factory: Callable[[WSUpgradeRequest], Any], *, handshake_timeout_s: float,
                     ping_interval_s: float, ping_timeout_s: float, max_frame_size: int,
                     read_buffer_init_size: int) -> Callable[[str], asyncio.BufferedProtocol]:
    """picows' server protocol, as ``ws_create_server`` makes it (``ping_interval_s`` 0:
    no pings), for a client at ``peer``."""
    ping = ping_interval_s > 0

    def make(peer: str = "") -> asyncio.BufferedProtocol:
        def decide(request: WSUpgradeRequest) -> Any:
            token = _PEER.set(peer)
            try:
                return listener_factory(request)
            finally:
                _PEER.reset(token)

        protocol: asyncio.BufferedProtocol = WSProtocol(
            host_port=None, ws_path=None, is_client_side=False, ws_listener_factory=decide,
            logger=_LOG, disconnect_on_exception=True, websocket_handshake_timeout=handshake_timeout_s,
            enable_auto_ping=ping, auto_ping_idle_timeout=ping_interval_s if ping else 20,
            auto_ping_reply_timeout=min(ping_timeout_s, ping_interval_s) if ping else 20,
            auto_ping_strategy=WSAutoPingStrategy.PING_WHEN_IDLE, enable_auto_pong=True,
            max_frame_size=max_frame_size, extra_headers=None, read_buffer_init_size=read_buffer_init_size)
        return protocol

    return make


async def connect(factory: Callable[[], Any], sock: socket.socket, **tls: Any) -> Any:
    """The accepted socket in the transport picows itself would use (``tls``: ``ssl`` and
    ``ssl_handshake_timeout``, see :mod:`ceres.wire.tls`)."""
    loop = asyncio.get_running_loop()
    if aiofastnet is not None:
        return await aiofastnet.connect_accepted_socket(loop, factory, sock, **tls)
    return await loop.connect_accepted_socket(factory, sock, **tls)  # pragma: no cover
