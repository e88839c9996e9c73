"""State-changing commands: the only input the engine accepts, and what the journal stores.

Every command is a tagged, array-like msgspec Struct, so a journal record is a compact
MessagePack array ``[tag, field, ...]``. Amounts are already integers (ticks, lots, minor
units): the edge converted them exactly once. The sequencer stamps each command with a
sequence number and a time (ms); the engine reads no other clock.

Adding a field: append it with a default, so older journals still decode.
Never renumber or rename tags: the journal keeps them forever.
"""

from __future__ import annotations

import msgspec

from ceres.domain.enums import Kind
from ceres.domain.instruments import Instrument
from ceres.domain.secret import StoredSecret


class Command(msgspec.Struct, array_like=True, tag=True, frozen=True, gc=False):
    """Base class; each subclass names its journal tag, which never changes."""


class Place(Command, tag="place", frozen=True):
    """Place an order. ``vol`` is lots, except a spot market buy: quote minor units to spend.

    ``price`` is ticks (0 for market). Contract fields are ignored on spot instruments.
    ``close_rule``: a :class:`~ceres.domain.enums.CloseRule`. ``tif``: a
    :class:`~ceres.domain.enums.TimeInForce` (0: GTC for limit, IOC for market orders).
    """

    product: str
    exchange: str
    contract: str
    side: int
    price_type: int
    price: int
    vol: int
    client_oid: str = ""
    future_dir: int = 0
    lever: int = 1
    profit: int = 0
    stop: int = 0
    deal_id: int = 0
    close_rule: int = 0
    tif: int = 0
    stp: int = 0


class Cancel(Command, tag="cancel", frozen=True):
    """Cancel up to 15 orders of ``product``; each id succeeds or fails on its own.
    ``reason`` (``"CODE text"``): why, when not the owner's request (a closed connection)."""

    product: str
    ids: tuple[int, ...]
    reason: str = ""


class CancelAll(Command, tag="cancelall", frozen=True):
    """Cancel every open order of ``product`` on ``exchange``, ``contract`` and ``side``
    ("" / 0: any) (``engine.controls``)."""

    product: str
    exchange: str = ""
    contract: str = ""
    side: int = 0
    reason: str = ""


class Amend(Command, tag="amend", frozen=True):
    """A resting order's new limit ``price`` (ticks) and/or new total ``vol`` (lots); 0 leaves
    one as it is (``engine.amend``)."""

    product: str
    oid: int
    price: int = 0
    vol: int = 0


class CancelAllAfter(Command, tag="deadman", frozen=True):
    """The dead-man's switch: cancel all of ``product``'s open orders (on ``exchange`` if
    given) unless another of these comes within ``timeout_ms``; 0 switches it off."""

    product: str
    timeout_ms: int
    exchange: str = ""


class CreateProduct(Command, tag="product", frozen=True):
    name: str


class CreateKey(Command, tag="key", frozen=True):
    """``secret`` is generated and sealed outside the engine (randomness, keys) and
    journaled here as a :class:`~ceres.domain.secret.SealedSecret`; journals written
    before sealing hold a plain :class:`~ceres.domain.secret.Secret`."""

    product: str
    api_key: str
    secret: StoredSecret
    permissions: int
    require_timestamp: bool = False
    allow_ips: tuple[str, ...] = ()  # normalized CIDRs (``10.0.0.0/8``, ``127.0.0.2/32``); () = any
    stp: int = 0  # the key's default self-trade prevention (SelfTradePrevention)

    def __repr__(self) -> str:
        return f"CreateKey(product={self.product!r}, api_key={self.api_key!r}, secret=***)"


class RevokeKey(Command, tag="revoke", frozen=True):
    api_key: str


class SetKey(Command, tag="setkey", frozen=True):
    """Change a key's protections; None leaves a setting as it is (``allow_ips=()``: any
    address)."""

    api_key: str
    require_timestamp: bool | None = None
    allow_ips: tuple[str, ...] | None = None
    stp: int | None = None


class ConnectVenue(Command, tag="venuekey", frozen=True):
    """A product's credentials at a live exchange (``ceres venues connect``), replacing
    any it had there. The secret and the passphrase (OKEX) are sealed at the edge, bound
    to the product and exchange; the journal never holds them in plain text."""

    product: str
    exchange: str
    api_key: str
    secret: StoredSecret
    password: StoredSecret | None = None

    def __repr__(self) -> str:
        return f"ConnectVenue(product={self.product!r}, exchange={self.exchange!r}, api_key=***, secret=***)"


class DisconnectVenue(Command, tag="venueoff", frozen=True):
    product: str
    exchange: str


class DefineInstrument(Command, tag="instrument", frozen=True):
    """A live venue's market (spot, or a linear perpetual) as the journal knows it (decision
    0006): journaled before the first order on it, and again when the venue changes its grid,
    so that replay needs no network. Fields as in ``[[instruments]]``; decimals are what the grid needs."""

    exchange: str
    contract: str
    base: str
    quote: str
    tick_size: str
    volume_increment: str
    min_price: str
    min_volume: str
    maker_fee: str
    taker_fee: str
    base_decimals: int
    quote_decimals: int
    # a linear perpetual (kind 3): contract terms as in ``[[instruments]]``
    kind: int = int(Kind.SPOT)
    contract_value: str = "0"
    max_lever: int = 1
    maint_margin: str = "0"
    price_significant: int = 0  # a cap on a price's significant digits (Bitfinex: 5)

    @classmethod
    def of(cls, inst: Instrument) -> DefineInstrument:
        return cls(inst.exchange, inst.contract, inst.base, inst.quote, inst.tick_size, inst.volume_increment,
                   inst.min_price, inst.min_volume, inst.maker_fee, inst.taker_fee, inst.base_decimals,
                   inst.quote_decimals, int(inst.kind), inst.contract_value, inst.max_lever, inst.maint_margin,
                   inst.price_significant)

    def instrument(self) -> Instrument:
        """The instrument it defines; ValueError or CeresError if its grid does not hold."""
        return Instrument(self.exchange, self.contract, Kind(self.kind), self.base, self.quote, self.tick_size,
                          self.volume_increment, self.min_price, self.min_volume, self.maker_fee, self.taker_fee,
                          self.base_decimals, self.quote_decimals, contract_value=self.contract_value,
                          max_lever=self.max_lever, maint_margin=self.maint_margin,
                          price_significant=self.price_significant)


class SetPaperVenue(Command, tag="paper", frozen=True):
    """A live venue in paper mode (``paper``) or not: its spot accounts are Ceres' ledger and its
    orders are filled locally against the venue's book (``engine.paper``). Journaled by the
    server at start when ``[venues.X] mode`` differs from what the journal says."""

    exchange: str
    paper: bool


class VenueReport(Command, tag="report", frozen=True):
    """What a live venue said about one of its orders, journaled (decision 0006).

    ``kind`` a :class:`~ceres.domain.enums.ReportKind`: ACCEPTED (``venue_oid``), FILL
    (``lots`` at ``price`` ticks, ``fee`` in minor units of the order's fee currency, the
    venue's trade id ``venue_tid``: a trade already applied is ignored), CANCELLED,
    EXPIRED, REJECTED (``reason``)."""

    exchange: str
    oid: int
    kind: int
    venue_oid: str = ""
    venue_tid: str = ""
    lots: int = 0
    price: int = 0
    fee: int = 0
    reason: str = ""


class Deposit(Command, tag="deposit", frozen=True):
    """Credit the product's settlement account (type 2). ``topup``: the liquidity simulator
    funding its own product (counted apart from deposits in the money audit)."""

    product: str
    currency: str
    amount: int
    topup: bool = False


class Withdraw(Command, tag="withdraw", frozen=True):
    """Debit the product's settlement account (type 2); fails on insufficient funds."""

    product: str
    currency: str
    amount: int


class Transfer(Command, tag="transfer", frozen=True):
    """Move available funds between two accounts of one product.

    ``exchange`` names the venue of the per-venue account types (3 spot, 4 contract).
    """

    product: str
    currency: str
    amount: int
    from_type: int
    to_type: int
    exchange: str = ""


class SetIndex(Command, tag="index", frozen=True):
    """Set a contract's index price (ticks): its mark price from now on."""

    exchange: str
    contract: str
    price: int


class SetFundingRate(Command, tag="funding", frozen=True):
    """Set a perpetual's funding rate (signed, over 1e8) for the next funding times."""

    exchange: str
    contract: str
    rate: int


class Tick(Command, tag="tick", frozen=True):
    """Let time-driven events due at the command's time happen (funding, expiry). The
    server submits one when the engine reports something due."""


ANY_COMMAND = (Place | Cancel | CancelAll | CancelAllAfter | Amend | CreateProduct | CreateKey | RevokeKey | Deposit
               | Withdraw | Transfer | SetIndex | SetFundingRate | Tick | SetKey | ConnectVenue | DisconnectVenue
               | DefineInstrument | VenueReport | SetPaperVenue)

__all__ = [
    "ANY_COMMAND",
    "Amend",
    "Cancel",
    "CancelAll",
    "CancelAllAfter",
    "Command",
    "ConnectVenue",
    "CreateKey",
    "CreateProduct",
    "DefineInstrument",
    "Deposit",
    "DisconnectVenue",
    "Place",
    "RevokeKey",
    "SetFundingRate",
    "SetIndex",
    "SetKey",
    "SetPaperVenue",
    "Tick",
    "Transfer",
    "VenueReport",
    "Withdraw",
]
