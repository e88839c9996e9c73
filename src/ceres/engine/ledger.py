"""Products, their accounts and balances, and the venue's fee income: the only code that
changes an amount of money.

The ledger key is (product, venue, account type, currency): a :class:`Product` owns
:class:`Account` objects keyed ``(venue, type)`` (venue ``""`` for the settlement account,
type 2), each holding a :class:`Balance` per currency in integer minor units.

``total`` is the balance, ``frozen`` the part reserved by open orders and position margins
(available = total - frozen). Balance objects are created on first use and never replaced,
so open orders and positions hold direct references to the balances they pay from and
receive into. Every change goes through a method of :class:`Balance` or :class:`Ledger`
(freeze, release, spend, settle, credit, debit, fees, deposits); no other module assigns to
a balance or the fee account (a unit test reads the engine's source to keep it so). Callers
check availability first: these methods do not refuse, so a command that fails its checks
has changed nothing.

Totals per currency for the audit (``engine.audit``): deposits, withdrawals, simulator
top-ups (a ``Deposit`` flagged ``topup``) and what the venue paid in to cover a loss the
insurance fund could not (``cover``); ``net_deposits`` is their balance (deposits + top-ups
+ covered - withdrawals, plus whatever a snapshot from before these totals carried).
Conservation (``engine.audit``): for every currency, the sum of all balance totals plus fees
collected, the insurance fund and the open-PnL pool equals ``net_deposits``.
``Ledger.check``: no total or frozen is ever negative and frozen never exceeds total.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ceres.domain.enums import AccountType
from ceres.domain.secret import StoredSecret

if TYPE_CHECKING:
    from ceres.engine.orders import LiveOrder, Order
    from ceres.engine.positions import Position

SETTLEMENT = int(AccountType.SETTLEMENT)


class Balance:
    __slots__ = ("frozen", "total")

    def __init__(self, total: int = 0, frozen: int = 0) -> None:
        self.total = total
        self.frozen = frozen

    @property
    def available(self) -> int:
        return self.total - self.frozen

    def reserve(self, amount: int) -> bool:
        """Freeze ``amount`` if that much is available (for an order); False, and nothing
        changed, if not."""
        frozen = self.frozen + amount
        if frozen > self.total:
            return False
        self.frozen = frozen
        return True

    def release(self, amount: int) -> None:
        """Give back ``amount`` of the reserved part."""
        self.frozen -= amount

    def spend(self, amount: int) -> None:
        """Pay ``amount`` out of the reserved part."""
        self.total -= amount
        self.frozen -= amount

    def settle(self, paid: int, released: int) -> None:
        """Pay ``paid`` (negative: receive) and release ``released`` of the reserved part."""
        self.total -= paid
        self.frozen -= released

    def credit(self, amount: int) -> None:
        self.total += amount

    def debit(self, amount: int) -> None:
        """Take ``amount`` from the available part."""
        self.total -= amount

    def settle_into(self, paid: int, released: int, recv: Balance, received: int) -> None:
        """One side of a trade: pay ``paid`` from here (releasing ``released`` of the
        reserved part) and receive ``received`` into ``recv``."""
        self.total -= paid
        self.frozen -= released
        recv.total += received

    def credit_reserved(self, amount: int) -> None:
        """Receive ``amount`` straight into the reserved part (funding into a margin)."""
        self.total += amount
        self.frozen += amount

    def __repr__(self) -> str:
        return f"Balance(total={self.total}, frozen={self.frozen})"


class Account:
    __slots__ = ("balances", "type", "venue")

    def __init__(self, venue: str, type_: int) -> None:
        self.venue = venue
        self.type = type_
        self.balances: dict[str, Balance] = {}

    def bal(self, currency: str) -> Balance:
        b = self.balances.get(currency)
        if b is None:
            b = self.balances[currency] = Balance()
        return b

    def restore(self, currency: str, total: int, frozen: int) -> None:
        """Load a balance from a snapshot (before any order or position binds to it)."""
        self.balances[currency] = Balance(total, frozen)


class ApiKey:
    """An API key. ``secret`` is sealed (opaque: the authenticator unseals it), or plain
    for keys created before sealing and not sealed since (``ceres keys seal``).
    ``require_timestamp``: every request (and handshake) must carry a signed, fresh
    ``timestamp``; ``allow_ips``: the networks (normalized CIDR text) it may be used from,
    empty = any address; ``stp``: the self-trade prevention of its orders that name none."""

    __slots__ = ("allow_ips", "api_key", "created", "permissions", "product", "require_timestamp", "revoked",
                 "secret", "stp")

    def __init__(self, api_key: str, secret: StoredSecret, product: Product, permissions: int,
                 created: int, revoked: bool = False, require_timestamp: bool = False,
                 allow_ips: tuple[str, ...] = (), stp: int = 0) -> None:
        self.api_key = api_key
        self.secret = secret
        self.product = product
        self.permissions = permissions
        self.created = created
        self.revoked = revoked
        self.require_timestamp = require_timestamp
        self.allow_ips = allow_ips
        self.stp = stp

    def __repr__(self) -> str:
        return f"ApiKey({self.api_key!r}, product={self.product.name!r}, secret=***)"


class VenueKey:
    """One product's credentials at one exchange (``password``: OKEX's passphrase)."""

    __slots__ = ("api_key", "connected", "exchange", "password", "secret")

    def __init__(self, exchange: str, api_key: str, secret: StoredSecret, password: StoredSecret | None,
                 connected: int) -> None:
        self.exchange = exchange
        self.api_key = api_key
        self.secret = secret
        self.password = password
        self.connected = connected

    def __repr__(self) -> str:
        return f"VenueKey({self.exchange!r}, api_key=***, secret=***)"


class Product:
    """A user or fund account: API keys, accounts, open orders and positions."""

    __slots__ = ("accounts", "coids", "created", "live_orders", "name", "notices", "open_orders", "positions",
                 "venue_keys")

    def __init__(self, name: str, created: int) -> None:
        self.name = name
        self.created = created
        self.accounts: dict[tuple[str, int], Account] = {}
        self.open_orders: dict[int, Order] = {}
        self.coids: dict[str, Order | LiveOrder] = {}
        self.live_orders: dict[int, LiveOrder] = {}  # open orders at live venues (engine.live)
        self.positions: dict[int, Position] = {}
        self.notices = 0  # notices issued so far (order and position events), for 19003 ``seq``
        self.venue_keys: dict[str, VenueKey] = {}  # by exchange (live venues)

    def account(self, venue: str, type_: int) -> Account:
        key = ("" if type_ == SETTLEMENT else venue, type_)
        acc = self.accounts.get(key)
        if acc is None:
            acc = self.accounts[key] = Account(key[0], type_)
        return acc

    def balance(self, venue: str, type_: int, currency: str) -> Balance | None:
        """The balance if it exists. Lookups never create accounts or balances, so a
        rejected command leaves no trace in the state."""
        acc = self.accounts.get(("" if type_ == SETTLEMENT else venue, type_))
        return None if acc is None else acc.balances.get(currency)

    def iter_balances(self) -> Iterator[tuple[Account, str, Balance]]:
        for key in sorted(self.accounts):
            acc = self.accounts[key]
            for cur in sorted(acc.balances):
                yield acc, cur, acc.balances[cur]


class Ledger:
    """Cross-product totals: fees collected per (venue, currency), money in and out per
    currency (deposits, withdrawals, simulator top-ups, their net) and the venue's cover of
    insurance shortfalls per (venue, currency), and what paper trades took in from the outside
    market per (venue, currency) (``engine.paper``: the counterparty is the live venue's book)."""

    __slots__ = ("covered", "deposits", "fees", "net_deposits", "outside", "topups", "withdrawals")

    def __init__(self) -> None:
        self.fees: dict[tuple[str, str], int] = {}
        self.net_deposits: dict[str, int] = {}
        self.deposits: dict[str, int] = {}
        self.withdrawals: dict[str, int] = {}
        self.topups: dict[str, int] = {}
        self.covered: dict[tuple[str, str], int] = {}
        self.outside: dict[tuple[str, str], int] = {}

    def collect_fee(self, venue: str, currency: str, amount: int) -> None:
        """Book a fee (negative: a rebate paid out) to the venue's fee account."""
        fees = self.fees
        key = (venue, currency)
        fees[key] = fees.get(key, 0) + amount

    def deposit(self, bal: Balance, currency: str, amount: int, topup: bool = False) -> None:
        """Money in: a deposit, or (``topup``) the liquidity simulator funding itself."""
        bal.credit(amount)
        flow = self.topups if topup else self.deposits
        flow[currency] = flow.get(currency, 0) + amount
        self.net_deposits[currency] = self.net_deposits.get(currency, 0) + amount

    def withdraw(self, bal: Balance, currency: str, amount: int) -> None:
        bal.debit(amount)
        self.withdrawals[currency] = self.withdrawals.get(currency, 0) + amount
        self.net_deposits[currency] = self.net_deposits.get(currency, 0) - amount

    def cover(self, venue: str, currency: str, amount: int) -> None:
        """The venue pays in ``amount`` to cover a loss its insurance fund could not."""
        key = (venue, currency)
        self.covered[key] = self.covered.get(key, 0) + amount
        self.net_deposits[currency] = self.net_deposits.get(currency, 0) + amount

    def trade_outside(self, pay: Balance, paid: int, released: int, recv: Balance, received: int, fee: int,
                      venue: str, pay_currency: str, recv_currency: str) -> None:
        """A paper fill: pay ``paid`` out of ``pay``'s reserved part to the outside market
        (``released`` leaves the reserved part: what was paid and any excess) and receive
        ``received`` from it into ``recv``, less ``fee`` to the venue's fee account."""
        pay.settle_into(paid, released, recv, received - fee)
        self.collect_fee(venue, recv_currency, fee)
        outside, net = self.outside, self.net_deposits
        for cur, amount in ((pay_currency, -paid), (recv_currency, received)):
            outside[(venue, cur)] = outside.get((venue, cur), 0) + amount
            net[cur] = net.get(cur, 0) + amount

    def outside_by_currency(self) -> dict[str, int]:
        return _by_currency(self.outside)

    @staticmethod
    def transfer(src: Balance, dst: Balance, amount: int) -> None:
        src.debit(amount)
        dst.credit(amount)

    def restore(self, fees: dict[tuple[str, str], int], net_deposits: dict[str, int],
                flows: dict[str, tuple[int, int, int]] | None = None,
                covered: dict[tuple[str, str], int] | None = None,
                outside: dict[tuple[str, str], int] | None = None) -> None:
        """Load the totals from a snapshot into a fresh ledger. ``flows``: currency ->
        (deposits, withdrawals, top-ups); absent in snapshots from before they were kept,
        whose net deposits then count as carried forward (``engine.audit``)."""
        self.fees.update(fees)
        self.net_deposits.update(net_deposits)
        for cur, (dep, wd, top) in (flows or {}).items():
            for totals, amount in ((self.deposits, dep), (self.withdrawals, wd), (self.topups, top)):
                if amount:
                    totals[cur] = amount
        self.covered.update(covered or {})
        self.outside.update(outside or {})

    def fees_by_currency(self) -> dict[str, int]:
        return _by_currency(self.fees)

    def covered_by_currency(self) -> dict[str, int]:
        return _by_currency(self.covered)

    @staticmethod
    def check(products: dict[str, Product]) -> list[str]:
        """Balances that are negative or frozen beyond their total."""
        return [f"{product.name} {acc.venue}/{acc.type} {cur}: {bal}"
                for product in products.values() for acc, cur, bal in product.iter_balances()
                if bal.total < 0 or bal.frozen < 0 or bal.frozen > bal.total]


def _by_currency(per_venue: dict[tuple[str, str], int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for (_, cur), amount in per_venue.items():
        out[cur] = out.get(cur, 0) + amount
    return out
