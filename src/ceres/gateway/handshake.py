"""The signed WebSocket handshake of 19001 and 19003 (API.md section 2).

``?api_key=KEY&sign=SIGN`` (plus the optional ``timestamp`` extension) on an upgrade
request to one of the listener's paths; :class:`~ceres.gateway.auth.Authenticator`
checks it.
"""

from __future__ import annotations

from typing import Any

from picows import WSUpgradeRequest

from ceres.wire.ws import upgrade_query


def signed_upgrade(request: WSUpgradeRequest, paths: tuple[str, ...], auth: Any,
                   now_ms: int) -> tuple[Any, dict[str, str]] | None:
    """Path and handshake signature of 19001/19003: ``(key, query)``, None for an unknown
    path; a bad sign raises CeresError (the guard refuses the upgrade with it)."""
    path, query = upgrade_query(request)
    if path not in paths:
        return None
    key = auth.verify_ws(query.get("api_key"), query.get("sign"), query.get("timestamp"), now_ms)
    return key, query
