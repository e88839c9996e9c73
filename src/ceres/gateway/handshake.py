"""The signed WebSocket handshake of 19001 and 19003 (API.md section 2).

``?api_key=KEY&sign=SIGN`` (2019 clients: ``SIGN`` = sha256 hex of
``api_key=KEY&secret=SECRET``, the same for every connection of the key), or
``?api_key=KEY&timestamp=T&sign=SIGN`` with ``SIGN`` over
``api_key=KEY&timestamp=T&secret=SECRET``: a handshake URL that expires after the
timestamp window and opens one connection only (its sign is remembered as a replay).
The timestamped form is required for keys with ``require_timestamp`` and under
``[auth] require_timestamp`` or the strict profile. The client's address (from the
connection, :func:`~ceres.wire.ws_server.upgrade_peer`) is checked against the key's
allowlist. :class:`~ceres.gateway.auth.Authenticator` does the checks.
"""

from __future__ import annotations

from typing import Any

from picows import WSUpgradeRequest

from ceres.wire.ws_server import upgrade_peer, upgrade_query


def signed_upgrade(request: WSUpgradeRequest, paths: tuple[str, ...], auth: Any,
                   now_ms: int) -> tuple[Any, dict[str, str]] | None:
    """Path and handshake signature of 19001/19003: ``(key, query)``, None for an unknown
    path; a refusal raises CeresError (the guard refuses the upgrade with it)."""
    path, query = upgrade_query(request)
    if path not in paths:
        return None
    key = auth.verify_ws(query.get("api_key"), query.get("sign"), query.get("timestamp"), now_ms,
                         peer=upgrade_peer() or None)
    return key, query
