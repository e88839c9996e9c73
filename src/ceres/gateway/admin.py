"""Operator actions on products, keys and funds — every change a journaled command.

:class:`AdminOps` works on a running engine through a ``submit`` function, so the same
code serves the admin endpoint inside the server (127.0.0.1 only, bearer token from the
data directory) and the offline CLI (which opens the data directory itself, locked
against a running server). Amounts are decimal strings converted exactly with the
currency's decimals; secrets appear only in the reply to ``create_key``. A new key's
secret is sealed (``seal``, the data directory's data key) before it becomes a command,
so the journal never holds it in plain text.

A key's protections (docs/security.md): ``require_timestamp`` (None at creation: the
``[auth] require_timestamp_default``) and ``allow_ips`` (addresses or CIDRs; empty: any
address) are set by ``create_key`` and changed by ``set_key``; a change closes the key's
open sockets (``on_key_change``), so every connection is admitted under the new rules.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Awaitable, Callable
from typing import Any

from ceres.domain import commands as C
from ceres.domain.enums import SelfTradePrevention, permission_names, permissions_mask
from ceres.domain.errors import CeresError, ErrorCode
from ceres.domain.money import format_scaled, to_scaled
from ceres.domain.secret import SealedSecret
from ceres.engine.core import Engine
from ceres.engine.key_rules import normalize_networks
from ceres.gateway import venue_admin
from ceres.gateway.money_audit import audit_report
from ceres.gateway.venue_admin import VenueAdmin

ALPHABET = string.ascii_letters + string.digits


def new_credentials() -> tuple[str, str]:
    """A random 16-character api_key and 32-character secret (``secrets``)."""
    return ("".join(secrets.choice(ALPHABET) for _ in range(16)),
            "".join(secrets.choice(ALPHABET) for _ in range(32)))


Seal = Callable[[str, str], SealedSecret]
"""``seal(api_key, secret)``: the secret sealed for that key."""


def _stp(mode: str | None) -> int | None:
    """A self-trade prevention mode by name (``none``, ``cancel_taker``, ...); None: not given."""
    if mode is None:
        return None
    names = {m.wire: int(m) for m in SelfTradePrevention}
    if not isinstance(mode, str) or mode not in names:
        raise CeresError(ErrorCode.INVALID_VALUE, f"must be one of {', '.join(names)}", "stp")
    return names[mode]


def _flag(value: Any, name: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise CeresError(ErrorCode.INVALID_TYPE, "must be true, false or null", name)


def _networks(value: Any) -> tuple[str, ...] | None:
    """``allow_ips`` as given to the admin endpoint: a list, or one comma-separated string."""
    if value is None:
        return None
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CeresError(ErrorCode.INVALID_TYPE, "must be a list of addresses or networks", "allow_ips")
    return normalize_networks(value)


class AdminOps:
    def __init__(self, engine: Engine, submit: Callable[[C.Command], Awaitable[Any]], seal: Seal, *,
                 on_revoke: Callable[[str], None] | None = None,
                 on_key_change: Callable[[str], int] | None = None,
                 require_timestamp_default: bool = False, venues: VenueAdmin | None = None) -> None:
        self.engine = engine
        self.submit = submit
        self.seal = seal
        self.on_revoke = on_revoke
        self.on_key_change = on_key_change
        self.require_timestamp_default = require_timestamp_default
        self.venues = venues

    def _amount(self, currency: str, amount: str) -> int:
        decimals = self.engine.currencies.get(currency)
        if decimals is None:
            raise CeresError(ErrorCode.INVALID_VALUE, f"unknown currency {currency!r}", "currency")
        return to_scaled(amount, decimals, "amount")

    async def create_product(self, name: str) -> dict[str, Any]:
        await self.submit(C.CreateProduct(name))
        return {"product": name}

    async def create_key(self, product: str, permissions: str = "read,trade", require_timestamp: bool | None = None,
                         allow_ips: list[str] | str | None = None, stp: str | None = None) -> dict[str, Any]:
        try:
            mask = permissions_mask([p for p in permissions.split(",") if p.strip()])
        except ValueError as exc:
            raise CeresError(ErrorCode.INVALID_VALUE, str(exc), "permissions") from None
        require = _flag(require_timestamp, "require_timestamp")
        networks = _networks(allow_ips) or ()
        while True:
            api_key, secret = new_credentials()
            if api_key not in self.engine.keys:
                break
        await self.submit(C.CreateKey(product, api_key, self.seal(api_key, secret), mask,
                                      self.require_timestamp_default if require is None else require, networks,
                                      _stp(stp) or 0))
        return {"product": product, "api_key": api_key, "secret": secret,
                "permissions": ",".join(permission_names(mask)), **self._protections(api_key)}

    def _protections(self, api_key: str) -> dict[str, Any]:
        key = self.engine.keys[api_key]
        return {"require_timestamp": key.require_timestamp, "allow_ips": ",".join(key.allow_ips) or "any",
                "stp": SelfTradePrevention(key.stp).wire}

    async def set_key(self, api_key: str, require_timestamp: bool | None = None,
                      allow_ips: list[str] | str | None = None, stp: str | None = None) -> dict[str, Any]:
        """Change a key's protections and its default self-trade prevention (None: unchanged;
        ``allow_ips`` [] or "": any address)."""
        await self.submit(C.SetKey(api_key, _flag(require_timestamp, "require_timestamp"), _networks(allow_ips),
                                   _stp(stp)))
        closed = self.on_key_change(api_key) if self.on_key_change is not None else 0
        return {"api_key": api_key, **self._protections(api_key), "connections_closed": closed}

    async def list_keys(self) -> list[dict[str, Any]]:
        return [{"api_key": k.api_key, "product": k.product.name, "secret": "***",
                 "permissions": ",".join(permission_names(k.permissions)),
                 "revoked": k.revoked, **self._protections(k.api_key)} for _, k in sorted(self.engine.keys.items())]

    async def revoke_key(self, api_key: str) -> dict[str, Any]:
        await self.submit(C.RevokeKey(api_key))
        if self.on_revoke is not None:
            self.on_revoke(api_key)
        return {"api_key": api_key, "revoked": True}

    async def deposit(self, product: str, currency: str, amount: str) -> dict[str, Any]:
        await self.submit(C.Deposit(product, currency, self._amount(currency, amount)))
        return await self.show_accounts(product)

    async def withdraw(self, product: str, currency: str, amount: str) -> dict[str, Any]:
        await self.submit(C.Withdraw(product, currency, self._amount(currency, amount)))
        return await self.show_accounts(product)

    async def transfer(self, product: str, currency: str, amount: str, from_type: int,
                       to_type: int, exchange: str = "") -> dict[str, Any]:
        if self.venues is not None and exchange in self.venues.enabled and exchange not in self.engine.paper_venues:
            raise CeresError(ErrorCode.NOT_ON_LIVE_VENUE, f"{exchange} is a live venue: move money there at "
                             "the venue itself", "exchange")
        await self.submit(C.Transfer(product, currency, self._amount(currency, amount),
                                     int(from_type), int(to_type), exchange))
        return await self.show_accounts(product)

    async def show_accounts(self, product: str) -> dict[str, Any]:
        p = self.engine.product(product)
        rows = []
        for acc, cur, bal in p.iter_balances():
            dec = self.engine.currencies[cur]
            rows.append({"account_type": acc.type, "exchange": acc.venue, "currency": cur,
                         "balance": format_scaled(bal.total, dec),
                         "frozen": format_scaled(bal.frozen, dec),
                         "available": format_scaled(bal.available, dec)})
        return {"product": product, "open_orders": len(p.open_orders), "accounts": rows}

    async def list_products(self) -> list[dict[str, Any]]:
        return [{"product": name, "open_orders": len(p.open_orders),
                 "keys": sum(1 for k in self.engine.keys.values() if k.product is p)}
                for name, p in sorted(self.engine.products.items())]

    async def audit(self) -> dict[str, Any]:
        """The money audit per currency (``gateway.money_audit``)."""
        return audit_report(self.engine)

    async def call(self, op: str, args: dict[str, Any]) -> Any:
        """Dispatch by name (the admin endpoint's and the CLI's single entry point)."""
        if op in venue_admin.OPS and self.venues is not None:
            fn = getattr(self.venues, op)
        else:
            fn = getattr(self, op, None) if op in OPS else None
        if fn is None:
            raise CeresError(ErrorCode.NOT_FOUND, f"unknown admin operation {op!r}")
        try:
            return await fn(**args)
        except TypeError as exc:
            raise CeresError(ErrorCode.BAD_REQUEST, f"{op}: {exc}") from None


OPS = {"create_product", "create_key", "list_keys", "revoke_key", "set_key", "deposit", "withdraw",
       "transfer", "show_accounts", "list_products", "audit"}
