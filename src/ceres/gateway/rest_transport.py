"""The REST port's connections (aiohttp): what cannot reach a route still gets the envelope.

* :class:`EnvelopeRequestHandler`: aiohttp's request handler, answering a request it
  cannot parse with the envelope instead of a plain-text 400 that echoes the input: a
  request line or header over ``max_header_bytes`` 431 (code 40023), anything else that
  is not HTTP/1.1 400 (40024). Each is counted by code (``on_reject``), not logged with
  a traceback, so garbage on the port cannot flood the log. Between requests a
  keep-alive connection may stay idle ``idle_timeout_s``.
* :func:`guard` (the outermost middleware): the request head arrived, so the
  connection's head timeout stops (``ceres.wire.conn``); a body must then arrive within
  ``body_timeout_s`` (408, 40022) and be well-formed (400, 40024); both close the
  connection.
* :func:`rest_conns`: the connection protocol of the port (a ``StreamConn`` in front
  of the handler, counting against the caps of ``ConnectionLimits``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong

from ceres.domain.errors import CeresError, ErrorCode
from ceres.gateway.http import error_response
from ceres.wire import faults
from ceres.wire.conn import StreamConn, conn_of
from ceres.wire.limits import ConnectionLimits

log = logging.getLogger("ceres.http")


def closing_error(err: CeresError) -> web.Response:
    resp = error_response(err)
    resp.force_close()
    return resp


class EnvelopeRequestHandler(web.RequestHandler):
    __slots__ = ("on_reject",)

    def __init__(self, manager: web.Server, *, on_reject: Callable[[str], None], **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self.on_reject = on_reject

    def handle_error(self, request: web.BaseRequest, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if isinstance(exc, LineTooLong):
            err = CeresError(ErrorCode.HEADER_TOO_LARGE, f"request line or a header over {self.max_line_size} bytes")
        elif isinstance(exc, HttpProcessingError):
            err = CeresError(ErrorCode.MALFORMED_REQUEST, f"not a valid HTTP/1.1 request (or more than "
                                                          f"{self.max_headers} headers)")
        else:
            faults.report(exc or RuntimeError(message or f"HTTP {status}"), "REST transport")
            err = CeresError(ErrorCode.INTERNAL)
        self.on_reject(err.code)
        if request.writer.output_size > 0:
            raise ConnectionError("the response had already started")
        return closing_error(err)


def guard(body_timeout_s: float, on_reject: Callable[[str], None]) -> Any:
    """Middleware: stop the head timeout; read the body (if any) within the body timeout."""

    @web.middleware
    async def middleware(request: web.Request,
                         handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        conn = conn_of(request.transport)
        if conn is not None:
            conn.head_received()
        if request.body_exists:
            try:
                async with asyncio.timeout(body_timeout_s):
                    await request.read()  # kept by the request: handlers read it again for free
            except TimeoutError:
                err = CeresError(ErrorCode.REQUEST_TIMEOUT, f"request body not received within {body_timeout_s:g} s")
            except web.HTTPRequestEntityTooLarge:
                err = CeresError(ErrorCode.PAYLOAD_TOO_LARGE)
            except (web.RequestPayloadError, ConnectionError):  # ConnectionError: the client closed mid-body
                err = CeresError(ErrorCode.MALFORMED_REQUEST, "request body malformed or cut short")
            except RuntimeError:  # aiohttp's "Connection closed.": the client went away first
                if request.transport is not None and not request.transport.is_closing():
                    raise
                err = CeresError(ErrorCode.MALFORMED_REQUEST, "connection closed before the body arrived")
            else:
                return await handler(request)
            on_reject(err.code)
            return closing_error(err)
        return await handler(request)

    return middleware


def rest_conns(server: web.Server, limits: ConnectionLimits, *, head_timeout_s: float, idle_timeout_s: float,
               body_timeout_s: float, max_header_bytes: int) -> Callable[[str], StreamConn]:
    """``ip -> StreamConn``: the connection protocol of a REST port served by ``server``
    (an ``AppRunner``'s server)."""
    loop = asyncio.get_running_loop()

    def handler() -> asyncio.Protocol:
        return EnvelopeRequestHandler(server, loop=loop, on_reject=limits.refused, keepalive_timeout=idle_timeout_s,
                                      max_line_size=max_header_bytes, max_field_size=max_header_bytes,
                                      lingering_time=body_timeout_s, access_log=None)

    return lambda ip: StreamConn(limits, ip, head_timeout_s, handler)
