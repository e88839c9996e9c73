"""The ``Origin`` allowlist of the WebSocket ports (``[security] allowed_origins``).

A browser sends ``Origin`` (the page's scheme, host and port) with every WebSocket
upgrade and a script cannot change it; other clients usually send none. When the
allowlist is on, an upgrade whose ``Origin`` is not listed is refused with 403 (code
40302) and the envelope before anything else is looked at (path, key, sign); an upgrade
without ``Origin`` is unaffected. Origins are compared in their serialized form:
lower-case scheme and host, the port only when it is not the scheme's default
(``https://Trade.example.com:443`` is ``https://trade.example.com``); ``null`` (sandboxed
frames, ``file:`` pages) is an origin like any other and is admitted only when listed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from ceres.domain.errors import CeresError, ErrorCode
from ceres.wire.ws_server import refuse

DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_origin(text: str) -> str:
    """``scheme://host[:port]`` as browsers serialize it; ValueError if ``text`` is not an
    http(s) origin (no path, query, fragment or user part)."""
    text = text.strip()
    if text.lower() == "null":
        return "null"
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if (scheme not in DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/") or parts.query
            or parts.fragment or "@" in parts.netloc):
        raise ValueError(f"{text!r} is not an origin like https://host[:port]")
    port = parts.port  # ValueError when not a number in range
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    return f"{scheme}://{host}" + (f":{port}" if port is not None and port != DEFAULT_PORTS[scheme] else "")


class OriginPolicy:
    """The origins allowed to open WebSockets (an empty policy admits no browser at all)."""

    def __init__(self, allowed: Iterable[str]) -> None:
        self.allowed = frozenset(normalize_origin(o) for o in allowed)

    def admits(self, origin: str | None) -> bool:
        if origin is None:  # not a browser
            return True
        try:
            return normalize_origin(origin) in self.allowed
        except ValueError:
            return False


def origin_guard(factory: Callable[[Any], Any], policy: OriginPolicy | None,
                 on_reject: Callable[[str], None] | None = None) -> Callable[[Any], Any]:
    """``factory`` (a picows listener factory) behind the policy; None: no check."""
    if policy is None:
        return factory

    def guarded(request: Any) -> Any:
        origins = request.headers.getall("Origin", [])
        if len(origins) > 1 or not policy.admits(origins[0] if origins else None):
            err = CeresError(ErrorCode.ORIGIN_NOT_ALLOWED)  # never an echo of the client's input
            if on_reject is not None:
                on_reject(err.code)
            return refuse(err)
        return factory(request)

    return guarded
