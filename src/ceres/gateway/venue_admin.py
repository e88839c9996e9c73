"""Operator actions on a product's keys at live exchanges (``ceres venues ...``).

``connect_venue`` seals the secret (and OKEX's passphrase) for that product and exchange
before it becomes a command, after one read call at the venue (``check``: the balances)
when the venue can be reached: a key the venue refuses is not stored (``VENUE_AUTH_FAILED``);
a venue that cannot be reached does not stop the connect, and the reply says the key was not
checked. ``list_venues`` shows which products have keys where, never a secret;
``disconnect_venue`` removes a product's key. Only exchanges enabled in ``[venues.NAME]``
take keys; a closed one (BITMEX) answers ``VENUE_CLOSED`` with the reason.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from ceres.domain import commands as C
from ceres.domain.errors import CeresError, ErrorCode
from ceres.domain.secret import SealedSecret
from ceres.engine.core import Engine
from ceres.engine.venue_keys import seal_context

KeyCheck = Callable[[str, str, str, str | None], Awaitable[tuple[bool | None, str]]]
"""``check(exchange, api_key, secret, password)``: (True, what was read) if the venue
accepts the key, (False, the venue's reason) if it refuses it, (None, why not) if it could
not be asked."""


def _text(value: Any, name: str, limit: int = 1024) -> str:
    if not isinstance(value, str) or not value or len(value) > limit:
        raise CeresError(ErrorCode.INVALID_VALUE, f"must be a non-empty string of at most {limit} characters", name)
    return value


def mask(api_key: str) -> str:
    """Enough of an api_key to recognise it, not to use it."""
    return api_key[:4] + "…" + api_key[-4:] if len(api_key) > 12 else "***"


class VenueAdmin:
    def __init__(self, engine: Engine, submit: Callable[[C.Command], Awaitable[Any]],
                 seal: Callable[[str, str], SealedSecret], *, enabled: frozenset[str],
                 closed: Mapping[str, str], check: KeyCheck | None = None) -> None:
        self.engine = engine
        self.submit = submit
        self.seal = seal
        self.enabled = enabled
        self.closed = closed
        self.check = check

    def exchange(self, exchange: Any) -> str:
        """``exchange`` if it takes keys here, else the documented refusal."""
        name = _text(exchange, "exchange", 16)
        if name in self.closed:
            raise CeresError(ErrorCode.VENUE_CLOSED, self.closed[name], "exchange")
        if name not in self.enabled:
            raise CeresError(ErrorCode.UNKNOWN_EXCHANGE, f"{name!r} is not a live venue enabled on this server "
                             f"(enabled: {', '.join(sorted(self.enabled)) or 'none'}; see [venues.{name}])",
                             "exchange")
        return name

    async def connect_venue(self, product: str, exchange: str, api_key: str, secret: str,
                            password: str | None = None) -> dict[str, Any]:
        name = self.exchange(exchange)
        self.engine.product(product)  # unknown product: refused before the venue is asked
        api_key, secret = _text(api_key, "api_key", 256), _text(secret, "secret")
        if password is not None:
            password = _text(password, "password")
        works, detail = (None, "no key check available") if self.check is None else \
            await self.check(name, api_key, secret, password)
        if works is False:
            raise CeresError(ErrorCode.VENUE_AUTH_FAILED, f"{name} refused the key: {detail}", "api_key")
        sealed_secret = self.seal(seal_context(product, name, "secret"), secret)
        sealed_password = None if password is None else self.seal(seal_context(product, name, "password"), password)
        await self.submit(C.ConnectVenue(product, name, api_key, sealed_secret, sealed_password))
        return {"product": product, "exchange": name, "api_key": mask(api_key),
                "key_check": "ok: " + detail if works else "not checked: " + detail}

    async def disconnect_venue(self, product: str, exchange: str) -> dict[str, Any]:
        await self.submit(C.DisconnectVenue(product, _text(exchange, "exchange", 16)))
        return {"product": product, "exchange": exchange, "connected": False}

    async def list_venues(self, product: str | None = None) -> list[dict[str, Any]]:
        products = [self.engine.product(product)] if product else \
            [p for _, p in sorted(self.engine.products.items())]
        return [{"product": p.name, "exchange": k.exchange, "api_key": mask(k.api_key),
                 "secret": "***", "password": "***" if k.password is not None else "",
                 "connected": datetime.fromtimestamp(k.connected / 1000, UTC).isoformat(timespec="seconds"),
                 "enabled": k.exchange in self.enabled}
                for p in products for _, k in sorted(p.venue_keys.items())]


OPS = {"connect_venue", "disconnect_venue", "list_venues"}
