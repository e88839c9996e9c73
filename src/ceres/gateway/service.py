"""The REST port's unsigned routes (``/health``, ``/metrics``, the browser console, the
OpenAPI document at ``/openapi.yaml``) and
the admin endpoint (its own port, 127.0.0.1 only, bearer token).

``/health`` answers 200 while the journal works and 503 once it failed, with the sequence
numbers (applied, durable, projected) and the connection count. The console's static
files are served from the package; ``/console/config.json`` tells it the socket ports.
The admin endpoint runs :class:`~ceres.gateway.admin.AdminOps` by name; revoking a key
also closes its sockets.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from importlib import resources

from aiohttp import web

from ceres.domain.errors import CeresError, ErrorCode
from ceres.gateway.admin import AdminOps
from ceres.gateway.http import envelope_response, error_response
from ceres.gateway.metrics import Metrics
from ceres.pipeline.sequencer import Sequencer
from ceres.wire import codec
from ceres.wire.ws import Registry

Route = Callable[[web.Request], Awaitable[web.Response]]


def _static(name: str, content_type: str) -> Route:
    body = resources.files("ceres").joinpath(f"web/{name}").read_bytes()

    async def handle(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type=content_type)

    return handle


def service_routes(sequencer: Sequencer, metrics: Metrics, registry: Registry,
                   socket_ports: Callable[[], dict[str, int]]) -> list[web.RouteDef]:
    """``/health``, ``/metrics`` and the console (``socket_ports()``: the console's
    WebSocket ports, public information). ``/health`` also shows each live venue
    (``metrics.venue_health``): whether it answers, its last error, its round trip. A venue
    that does not answer leaves the status as it is: the server serves everyone else."""

    async def health(request: web.Request) -> web.Response:
        seq = sequencer
        body: dict[str, object] = {"status": "ok", "seq": seq.seq, "durable_seq": seq.durable_seq,
                                   "journal_lag": seq.seq - seq.durable_seq, "projected_seq": seq.projected_seq,
                                   "connections": registry.count}
        problem = seq.failed or seq.degraded
        if problem is not None:  # degraded: reads serve, commands are refused until the journal writes
            body["status"] = "failed" if seq.failed is not None else "degraded"
            body["reason"] = f"journal: {problem}"
        elif seq.projection_failed is not None:
            body["status"] = "degraded"
            body["reason"] = f"history store: {seq.projection_failed}"
        venues = metrics.venue_health()
        if venues:
            body["venues"] = {name: dict(h) for name, h in sorted(venues.items())}
        return web.json_response(body, status=503 if problem is not None else 200)

    async def render_metrics(request: web.Request) -> web.Response:
        return web.Response(text=metrics.render(), content_type="text/plain")

    async def console_config(request: web.Request) -> web.Response:
        return web.json_response(socket_ports())

    return [web.get("/health", health), web.get("/metrics", render_metrics),
            web.get("/", _static("index.html", "text/html")),
            web.get("/console.js", _static("console.js", "text/javascript")),
            web.get("/openapi.yaml", _static("openapi.yaml", "application/yaml")),
            web.get("/console/config.json", console_config)]


def admin_routes(ops: AdminOps, registry: Registry, token: str) -> list[web.RouteDef]:
    """``POST /admin/{op}`` with ``Authorization: Bearer TOKEN`` and a JSON object of
    arguments; replies in the envelope."""

    async def handle(request: web.Request) -> web.Response:
        if not secrets.compare_digest(request.headers.get("Authorization", ""), f"Bearer {token}"):
            return error_response(CeresError(ErrorCode.AUTH_BAD_SIGN, "bad admin token"))
        try:
            args = codec.decode_json_object(await request.read() or b"{}")
            result = await ops.call(request.match_info["op"], args)
        except CeresError as err:
            return error_response(err)
        if request.match_info["op"] == "revoke_key":
            closed = registry.close_key(args["api_key"])
            result = {**result, "connections_closed": closed}
        return envelope_response(codec.ok(result))

    return [web.post("/admin/{op}", handle)]
