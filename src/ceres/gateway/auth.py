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
refused as a replay. It is required for every key when the server says so
(``require_timestamp``: ``[auth] require_timestamp`` or the strict profile) and for a key
whose own ``require_timestamp`` is on. The seen pairs are kept for twice the window, at
most ``replay_capacity``: when full, the oldest is forgotten, or with ``strict_replay``
the request is refused (429) rather than forget a pair still inside the window. Time is
passed in (``now_ms``), never read here.

Order of the checks: key present, known, not revoked; then the client's address against
the key's allowlist (``ApiKey.allow_ips``; refused with 40108 before the sign is even
computed); then the sign; then the timestamp.

Secrets are sealed at rest (``ApiKey.secret`` is a ``SealedSecret``): the authenticator
unseals them with the ``unseal`` function it is given and keeps the plain text in memory
only, for the ``cache_size`` keys used most recently; :meth:`Authenticator.forget` drops
a key's (on revoke). Keys created before sealing still hold a plain ``Secret``.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable

from ceres.domain.errors import CeresError, ErrorCode
from ceres.domain.secret import SealedSecret, Secret
from ceres.engine.ledger import ApiKey

log = logging.getLogger("ceres.auth")
Params = Iterable[tuple[str, str | None]]
Unseal = Callable[[str, SealedSecret], Secret]
"""``unseal(api_key, sealed)``: the plain secret; ValueError if it does not open."""


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
    if not b.isascii():  # e.g. a header byte that is not UTF-8: never a hex digest
        return False
    return hmac.compare_digest(a.encode(), b.lower().encode())


Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = tuple[int, int, int]
"""(IP version, netmask, network address) as integers: ``addr & mask == network``."""


def peer_address(peer: str | None) -> Address | None:
    """The client's address (an IPv4-mapped IPv6 address as IPv4); None if unknown."""
    if not peer:
        return None
    try:
        addr = ipaddress.ip_address(peer)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


@functools.lru_cache(maxsize=4096)
def _peer_int(peer: str | None) -> tuple[int, int] | None:
    addr = peer_address(peer)
    return None if addr is None else (addr.version, int(addr))


def _network(text: str) -> Network:
    net = ipaddress.ip_network(text)
    return net.version, int(net.netmask), int(net.network_address)


class Authenticator:
    """Looks keys up in the engine's key table (read-only) and checks signs."""

    def __init__(self, keys: dict[str, ApiKey], *, unseal: Unseal | None = None, window_ms: int = 5000,
                 require_timestamp: bool = False, replay_capacity: int = 100_000,
                 cache_size: int = 10_000, strict_replay: bool = False) -> None:
        self.keys = keys
        self.unseal = unseal
        self.window_ms = window_ms
        self.require_timestamp = require_timestamp
        self.replay_capacity = replay_capacity
        self.cache_size = cache_size
        self.strict_replay = strict_replay
        self._seen: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._plain: OrderedDict[str, tuple[SealedSecret, Secret]] = OrderedDict()
        self._networks: dict[str, tuple[tuple[str, ...], list[Network]]] = {}

    def _secret(self, key: ApiKey) -> str:
        """The key's secret in plain text: unsealed once, then from the cache (a key whose
        sealed value changed is unsealed again)."""
        stored = key.secret
        if isinstance(stored, Secret):
            return stored.reveal()
        cache = self._plain
        hit = cache.get(key.api_key)
        if hit is not None and hit[0] is stored:
            cache.move_to_end(key.api_key)
            return hit[1].reveal()
        if not isinstance(stored, SealedSecret) or self.unseal is None:
            raise CeresError(ErrorCode.INTERNAL, "the key's secret cannot be opened here")
        try:
            plain = self.unseal(key.api_key, stored)
        except ValueError as exc:  # wrong data key or damaged value: the server's fault
            log.error("cannot unseal the secret of api_key %s: %s", key.api_key, exc)
            raise CeresError(ErrorCode.INTERNAL) from None
        cache[key.api_key] = (stored, plain)
        if len(cache) > self.cache_size:
            cache.popitem(last=False)
        return plain.reveal()

    def forget(self, api_key: str) -> None:
        """Drop the key's plain secret from memory (it was revoked)."""
        self._plain.pop(api_key, None)

    def _key(self, api_key: str | None, sign: str | None, peer: str | None) -> tuple[ApiKey, str]:
        """The key and its sign, both present; the key known, not revoked, and used from
        an address its allowlist admits (``peer``: the client's address, None if unknown)."""
        if not api_key or not sign:
            raise CeresError(ErrorCode.AUTH_MISSING)
        key = self.keys.get(api_key)
        if key is None:
            raise CeresError(ErrorCode.AUTH_UNKNOWN_KEY)
        if key.revoked:
            self.forget(api_key)
            raise CeresError(ErrorCode.AUTH_KEY_REVOKED)
        if key.allow_ips and not self._admits(key, peer):
            raise CeresError(ErrorCode.AUTH_ADDRESS_NOT_ALLOWED,
                             f"this api_key may not be used from {peer or 'an unknown address'}")
        return key, sign

    def _admits(self, key: ApiKey, peer: str | None) -> bool:
        addr = _peer_int(peer)
        if addr is None:
            return False
        hit = self._networks.get(key.api_key)
        if hit is None or hit[0] is not key.allow_ips:  # parsed once per allowlist
            hit = self._networks[key.api_key] = (key.allow_ips, [_network(n) for n in key.allow_ips])
        version, value = addr
        return any(v == version and value & mask == network for v, mask, network in hit[1])

    def _check_timestamp(self, key: ApiKey, sign: str, timestamp: str | None, now_ms: int) -> None:
        if timestamp is None or timestamp == "":
            if self.require_timestamp:
                raise CeresError(ErrorCode.AUTH_TIMESTAMP_REQUIRED, field="timestamp")
            if key.require_timestamp:
                raise CeresError(ErrorCode.AUTH_TIMESTAMP_REQUIRED, "timestamp is required for this api_key",
                                 "timestamp")
            return
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 16):
            raise CeresError(ErrorCode.AUTH_TIMESTAMP_WINDOW, "timestamp must be milliseconds", "timestamp")
        if abs(int(timestamp) - now_ms) > self.window_ms:
            raise CeresError(ErrorCode.AUTH_TIMESTAMP_WINDOW,
                             f"timestamp is more than {self.window_ms} ms from server time", "timestamp")
        seen = self._seen
        while seen and next(iter(seen.values())) < now_ms:  # expired
            seen.popitem(last=False)
        pair = (key.api_key, sign.lower())
        if pair in seen:
            raise CeresError(ErrorCode.AUTH_REPLAY)
        if len(seen) >= self.replay_capacity:
            if self.strict_replay:
                raise CeresError(ErrorCode.RATE_LIMITED, "too many signed requests inside the replay window; "
                                                         "retry in a moment")
            seen.popitem(last=False)
        seen[pair] = now_ms + 2 * self.window_ms

    def verify_rest(self, api_key: str | None, sign: str | None,
                    params: list[tuple[str, str | None]], now_ms: int, peer: str | None = None) -> ApiKey:
        key, sign = self._key(api_key, sign, peer)
        secret = self._secret(key)
        if not _same(compute_sign(params, secret), sign):
            has_empty = any(v == "" for _, v in params)
            if not (has_empty and _same(compute_sign(params, secret, keep_empty=True), sign)):
                raise CeresError(ErrorCode.AUTH_BAD_SIGN)
        timestamp = next((v for k, v in params if k == "timestamp"), None)
        self._check_timestamp(key, sign, timestamp, now_ms)
        return key

    def verify_ws(self, api_key: str | None, sign: str | None, timestamp: str | None,
                  now_ms: int, peer: str | None = None) -> ApiKey:
        key, sign = self._key(api_key, sign, peer)
        if not _same(ws_sign(key.api_key, self._secret(key), timestamp or None), sign):
            raise CeresError(ErrorCode.AUTH_BAD_SIGN)
        self._check_timestamp(key, sign, timestamp, now_ms)
        return key
