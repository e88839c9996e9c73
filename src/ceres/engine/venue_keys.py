"""A product's credentials at live exchanges (``ConnectVenue`` / ``DisconnectVenue``).

The engine keeps them as it keeps API keys: sealed, opaque (the live venue adapters unseal
them with the data directory's keys), journaled and in snapshots. It checks only their form;
whether an exchange is configured and reachable is the edge's business, so a journal stays
replayable whatever the configuration becomes.
"""

from __future__ import annotations

from ceres.domain import commands as C
from ceres.domain.errors import CeresError, ErrorCode
from ceres.domain.secret import SealedSecret
from ceres.engine.ledger import Product, VenueKey

MAX_API_KEY = 256


def seal_context(product: str, exchange: str, part: str) -> str:
    """What a venue secret is sealed for (associated data): it opens only as this part of
    this product's credentials at this exchange."""
    return f"venue/{product}/{exchange}/{part}"


def connect(product: Product, cmd: C.ConnectVenue, now: int) -> None:
    name = cmd.exchange
    if not (0 < len(name) <= 16 and name.isascii() and name.isalnum() and name.isupper()):
        raise CeresError(ErrorCode.INVALID_VALUE, "an exchange name is 1-16 capital letters or digits", "exchange")
    if not (0 < len(cmd.api_key) <= MAX_API_KEY and cmd.api_key.isascii() and cmd.api_key.isprintable()
            and " " not in cmd.api_key):
        raise CeresError(ErrorCode.INVALID_VALUE, f"api_key must be 1-{MAX_API_KEY} printable characters",
                         "api_key")
    for field, value in (("secret", cmd.secret), ("password", cmd.password)):
        if value is not None and not isinstance(value, SealedSecret):
            raise CeresError(ErrorCode.INVALID_VALUE, "venue credentials are journaled sealed", field)
    product.venue_keys[name] = VenueKey(name, cmd.api_key, cmd.secret, cmd.password, now)


def disconnect(product: Product, cmd: C.DisconnectVenue) -> None:
    if product.venue_keys.pop(cmd.exchange, None) is None:
        raise CeresError(ErrorCode.VENUE_NOT_CONNECTED, f"product {product.name} has no key at {cmd.exchange}",
                         "exchange")
