"""Enumerations with the fixed wire values of the CoinCeres 2019 protocol (API.md).

The integer values are wire values: they are sent to clients and stored in the
journal, so they never change.
"""

from __future__ import annotations

from enum import IntEnum


class OrderStatus(IntEnum):
    """Order status codes (API.md section 3); ``notice`` is the 19003 string."""

    NO_REPORT = 1
    SUBMITTING = 2
    SUBMITTED = 3
    PART_FILLED = 4
    FILLED = 5
    FAILURE = 6
    CANCEL = 11
    CANCELING = 12
    PENDING = 13
    PART_CANCELED = 14
    CANCELED = 15

    @property
    def notice(self) -> str:
        return self.name

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset(
    {OrderStatus.FILLED, OrderStatus.FAILURE, OrderStatus.PART_CANCELED, OrderStatus.CANCELED}
)


class Kind(IntEnum):
    """Instrument kind; sent as a string (``"4"``) on the wire."""

    DATED = 1
    STOCK = 2
    PERPETUAL = 3
    SPOT = 4
    INDEX = 5

    @property
    def is_contract(self) -> bool:
        return self in (Kind.DATED, Kind.PERPETUAL)


class AccountType(IntEnum):
    """Account types (API.md section 3, account row)."""

    COLLECTION = 1
    SETTLEMENT = 2
    SPOT = 3
    CONTRACT = 4

    @property
    def per_venue(self) -> bool:
        return self in (AccountType.SPOT, AccountType.CONTRACT)


class Side(IntEnum):
    """Order side. Wire form is lower case ``buy``/``sell``."""

    BUY = 1
    SELL = 2

    @property
    def wire(self) -> str:
        return "buy" if self is Side.BUY else "sell"

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class PriceType(IntEnum):
    """``limit`` or ``market`` (notice form ``LIMIT``/``MARKET``)."""

    LIMIT = 1
    MARKET = 2

    @property
    def wire(self) -> str:
        return "limit" if self is PriceType.LIMIT else "market"


class FutureDir(IntEnum):
    """Contract direction of an order; NONE on spot orders."""

    NONE = 0
    OPEN = 1
    CLOSE = 2

    @property
    def wire(self) -> str:
        return ("", "open", "close")[self]


class CloseRule(IntEnum):
    """How a closing order without ``deal_id`` spreads its volume over the positions."""

    NONE = 0
    TIME = 1  # oldest position first
    RISK = 2  # nearest liquidation first


class PositionSide(IntEnum):
    """A contract position's direction (same values as the side that opens it)."""

    LONG = 1
    SHORT = 2


class TimeInForce(IntEnum):
    """How long an order lives after it has matched what it could at once.

    ``DEFAULT`` (0, what every command journaled before time in force had) means GTC for
    a limit order and IOC for a market order. See ``ceres.engine.lifetime``.
    """

    DEFAULT = 0
    GTC = 1  # rests until filled or cancelled
    IOC = 2  # fills what it can at once, the rest ends (expired)
    FOK = 3  # fills completely at once, or not at all
    POST_ONLY = 4  # rests like GTC, but refused if it would take liquidity when placed (GTX)


class SelfTradePrevention(IntEnum):
    """What happens when an incoming order would match a resting order of the same product
    (``ceres.engine.matching``); the incoming order's mode decides."""

    NONE = 0  # they trade (as before self-trade prevention existed)
    CANCEL_TAKER = 1  # the incoming order's remainder is cancelled
    CANCEL_MAKER = 2  # the resting order is cancelled, the incoming one goes on matching
    CANCEL_BOTH = 3

    @property
    def wire(self) -> str:
        return self.name.lower()


class ReportKind(IntEnum):
    """What happened to an order: the kind of an order event or execution report."""

    ACCEPTED = 1   # taken by the venue (status 3)
    REJECTED = 2   # refused by the venue after Ceres journaled it (status 6; live venues)
    FILL = 3       # a fill (status 4 or 5)
    CANCELLED = 4  # ended by a cancel request (client, operator, or a trigger making way)
    EXPIRED = 5    # ended by its lifetime: IOC/FOK/market remainder, contract expiry
    WAITING = 6    # a state Ceres set while it waits for a live venue (2 SUBMITTING, 12 CANCELING)
    AMENDED = 7    # a resting order's price or volume changed at its owner's request (engine.amend)


class Permission(IntEnum):
    """API key permissions, a bit set."""

    READ = 1
    TRADE = 2


PERMISSION_NAMES = {"read": Permission.READ, "trade": Permission.TRADE}


def permissions_mask(names: list[str] | tuple[str, ...]) -> int:
    """Turn ``["read", "trade"]`` into a bit mask; unknown names raise ValueError."""
    mask = 0
    for name in names:
        perm = PERMISSION_NAMES.get(name.strip().lower())
        if perm is None:
            raise ValueError(f"unknown permission {name!r} (expected read or trade)")
        mask |= perm
    return mask


def permission_names(mask: int) -> list[str]:
    return [name for name, perm in PERMISSION_NAMES.items() if mask & perm]


SPOT_FILL_FUTURE_DIR = "币币交易，不区分"
"""The literal ``future_dir`` of a spot fill object (the original's value)."""
