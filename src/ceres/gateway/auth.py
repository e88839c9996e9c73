"""Request signatures (API.md section 2): pure functions plus the verifier.

REST: ``sign = sha256_hex(k1=v1&k2=v2&...&secret=SECRET)`` over the request's parameters
(GET query values decoded; POST JSON top-level fields with numbers as their literal text
and booleans as ``true``/``false``; DELETE ``system_oid=<path segment>``), pairs with a
null or empty value dropped, sorted by key. With no parameters the string is
``secret=SECRET``. Plain SHA-256, not HMAC. If the check fails, it is retried keeping
empty values (one SDK signs them). Comparison is constant-time.

WebSocket (19001/19003): ``sha256_hex(api_key=KEY&secret=SECRET)``, or with the
``timestamp`` extension ``api_key=KEY&timestamp=T&secret=SECRET``.

``timestamp`` (ms), when present, is signed like any parameter, must lie within the
configured window of server time, and a (key, sign) pair seen inside the window is
refused as a replay. Time is passed in (``now_ms``), never read here.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import OrderedDict
from collections.abc import Iterable

from ceres.domain.errors import CeresError, ErrorCode
from ceres.engine.ledger import ApiKey

Params = Iterable[tuple[str, str | None]]


def sign_payload(params: Params, secret: str, *, keep_empty: bool = False) -> str:
    pairs = sorted((k, v) for k, v in params if v is not None and (keep_empty or v != ""))
    head = "&".join(f"{k}={v}" for k, v in pairs)
    return f"{head}&secret={secret}" if head else f"secret={secret}"


def compute_sign(params: Params, secret: str, *, keep_empty: bool = False) -> str:
    return hashlib.sha256(sign_payload(params, secret, keep_empty=keep_empty).encode()).hexdigest()


def ws_sign(api_key: str, secret: str, timestamp: str | None = None) -> str:
    params = [("api_key", api_key)]
    if timestamp is not None:
        params.append(("timestamp", timestamp))
    return compute_sign(params, secret)


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.lower().encode())


class Authenticator:
    """Looks keys up in the engine's key table (read-only) and checks signs."""

    def __init__(self, keys: dict[str, ApiKey], *, window_ms: int = 5000,
                 require_timestamp: bool = False, replay_capacity: int = 100_000) -> None:
        self.keys = keys
        self.window_ms = window_ms
        self.require_timestamp = require_timestamp
        self.replay_capacity = replay_capacity
        self._seen: OrderedDict[tuple[str, str], int] = OrderedDict()

    def _key(self, api_key: str | None, sign: str | None) -> tuple[ApiKey, str]:
        """The key and its sign, both present; the key known and not revoked."""
        if not api_key or not sign:
            raise CeresError(ErrorCode.AUTH_MISSING)
        key = self.keys.get(api_key)
        if key is None:
            raise CeresError(ErrorCode.AUTH_UNKNOWN_KEY)
        if key.revoked:
            raise CeresError(ErrorCode.AUTH_KEY_REVOKED)
        return key, sign

    def _check_timestamp(self, api_key: str, sign: str, timestamp: str | None, now_ms: int) -> None:
        if timestamp is None or timestamp == "":
            if self.require_timestamp:
                raise CeresError(ErrorCode.AUTH_TIMESTAMP_REQUIRED, field="timestamp")
            return
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 16):
            raise CeresError(ErrorCode.AUTH_TIMESTAMP_WINDOW, "timestamp must be milliseconds", "timestamp")
        if abs(int(timestamp) - now_ms) > self.window_ms:
            raise CeresError(ErrorCode.AUTH_TIMESTAMP_WINDOW,
                             f"timestamp is more than {self.window_ms} ms from server time", "timestamp")
        seen = self._seen
        while seen:
            expiry = next(iter(seen.values()))
            if expiry >= now_ms and len(seen) < self.replay_capacity:
                break
            seen.popitem(last=False)
        pair = (api_key, sign.lower())
        if pair in seen:
            raise CeresError(ErrorCode.AUTH_REPLAY)
        seen[pair] = now_ms + 2 * self.window_ms

    def verify_rest(self, api_key: str | None, sign: str | None,
                    params: list[tuple[str, str | None]], now_ms: int) -> ApiKey:
        key, sign = self._key(api_key, sign)
        secret = key.secret.reveal()
        if not _same(compute_sign(params, secret), sign):
            has_empty = any(v == "" for _, v in params)
            if not (has_empty and _same(compute_sign(params, secret, keep_empty=True), sign)):
                raise CeresError(ErrorCode.AUTH_BAD_SIGN)
        timestamp = next((v for k, v in params if k == "timestamp"), None)
        self._check_timestamp(key.api_key, sign, timestamp, now_ms)
        return key

    def verify_ws(self, api_key: str | None, sign: str | None, timestamp: str | None,
                  now_ms: int) -> ApiKey:
        key, sign = self._key(api_key, sign)
        if not _same(ws_sign(key.api_key, key.secret.reveal(), timestamp or None), sign):
            raise CeresError(ErrorCode.AUTH_BAD_SIGN)
        self._check_timestamp(key.api_key, sign, timestamp, now_ms)
        return key
