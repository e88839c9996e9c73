"""REST transport on port 19000 (aiohttp): ``/api/v1/...``, ``/health``, ``/metrics``.

Routing, parameter extraction for signing, and mapping to HTTP: business errors are HTTP
200 with an error ``code`` (the Java SDK drops non-2xx bodies); authentication 401;
unknown path 404; body over the limit 413; a key over its connection cap 429 (the
connection closes); internal 500 — each with the envelope. Transport-level failures
(timeouts, unparsable requests, caps) are ``rest_transport``'s.
Market-data routes (public, bare objects) are added by ``ceres.market``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from ceres.domain.errors import CeresError, ErrorCode
from ceres.gateway import protocol as P
from ceres.gateway.auth import Authenticator
from ceres.gateway.handlers import Handlers
from ceres.gateway.operations import OPERATIONS, authorize, bind
from ceres.gateway.ratelimit import RateLimiter
from ceres.pipeline.clock import wall_ms
from ceres.wire import codec, faults
from ceres.wire.conn import conn_of

log = logging.getLogger("ceres.http")


def envelope_response(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type="application/json")


def error_response(err: CeresError) -> web.Response:
    return envelope_response(codec.error(err), err.error.http_status)


class RestApi:
    """The trading routes of the operations table, signed and in the envelope."""

    def __init__(self, handlers: Handlers, auth: Authenticator, *, max_body: int = 65536,
                 on_reject: Callable[[str], None] | None = None, limiter: RateLimiter | None = None) -> None:
        self.handlers = handlers
        self.auth = auth
        self.max_body = max_body
        self.ops = bind(handlers)
        self.on_reject = on_reject or (lambda code: None)
        self.limiter = limiter or RateLimiter(0, 0)

    def routes(self) -> list[web.RouteDef]:
        return [web.route(method, path, self._op(op.name)) for op in OPERATIONS for method, path, _ in op.routes]

    async def _params(self, request: web.Request) -> tuple[dict[str, Any], list[tuple[str, str | None]]]:
        """The request's parameters as a dict (for validation) and as signed pairs."""
        P.check_query_text(request.rel_url.raw_query_string)
        query = dict(request.query)
        if request.method == "POST":
            body = await request.read()
            obj = codec.decode_json_object(body) if body.strip() else {}
            merged = {**query, **obj}
            return merged, P.sign_params(obj) + [(k, v) for k, v in query.items() if k not in obj]
        if request.method == "DELETE" and "ids" in request.match_info:
            query["system_oid"] = request.match_info["ids"]
        return query, list(query.items())

    def _op(self, name: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        op, handler = self.ops[name]

        async def route(request: web.Request) -> web.Response:
            try:
                if request.content_length is not None and request.content_length > self.max_body:
                    raise CeresError(ErrorCode.PAYLOAD_TOO_LARGE)
                obj, signed = await self._params(request)
                conn = conn_of(request.transport)
                key = self.auth.verify_rest(request.headers.get("api_key"), request.headers.get("sign"),
                                            signed, wall_ms(), peer=request.remote if conn is None else conn.ip)
                if conn is not None:
                    conn.claim_key(key.api_key)  # the connection counts against the key's cap
                self.limiter.check(key.api_key, time.monotonic())
                req = P.parse_request(op.request, obj)
                authorize(key, op)
                data = await handler(key, req)
            except CeresError as err:
                self.on_reject(err.code)
                resp = error_response(err)
                if err.error is ErrorCode.TOO_MANY_CONNECTIONS:
                    resp.force_close()
                return resp
            except web.HTTPRequestEntityTooLarge:
                self.on_reject(ErrorCode.PAYLOAD_TOO_LARGE.code)
                return error_response(CeresError(ErrorCode.PAYLOAD_TOO_LARGE))
            return envelope_response(codec.ok(data))

        return route


@web.middleware
async def envelope_errors(request: web.Request,
                          handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """Unknown paths, wrong methods and crashes get the envelope too."""
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return error_response(CeresError(ErrorCode.NOT_FOUND, f"no such path {request.path}"))
    except web.HTTPMethodNotAllowed:
        return error_response(CeresError(ErrorCode.NOT_FOUND, f"{request.method} not allowed on {request.path}"))
    except web.HTTPRequestEntityTooLarge:
        return error_response(CeresError(ErrorCode.PAYLOAD_TOO_LARGE))
    except web.HTTPException:
        raise
    except Exception as exc:
        faults.report(exc, f"REST {request.method} {request.path}")
        return error_response(CeresError(ErrorCode.INTERNAL))


def make_app(max_body: int, guard: Any = None) -> web.Application:
    """The REST application; ``guard`` (``rest_transport.guard``) goes outermost."""
    middlewares = [envelope_errors] if guard is None else [guard, envelope_errors]
    return web.Application(middlewares=middlewares, client_max_size=max_body)
