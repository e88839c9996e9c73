"""Products, their accounts and balances, and the venue's fee income.

The ledger key is (product, venue, account type, currency): a :class:`Product` owns
:class:`Account` objects keyed ``(venue, type)`` (venue ``""`` for the settlement account,
type 2), each holding a :class:`Balance` per currency in integer minor units.

``total`` is the balance, ``frozen`` the part reserved by open orders (available =
total - frozen). Balance objects are created on first use and never replaced, so open
orders can hold direct references to the balances they pay from and receive into.

Conservation (``Ledger.check``): for every currency, the sum of all balance totals plus
fees collected (plus, once contracts exist, margin held in positions and the insurance
fund) equals deposits minus withdrawals. No total or frozen is ever negative and frozen
never exceeds total.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

from ceres.domain.enums import AccountType
from ceres.domain.secret import Secret

if TYPE_CHECKING:
    from ceres.engine.orders import Order


class Balance:
    __slots__ = ("total", "frozen")

    def __init__(self, total: int = 0, frozen: int = 0) -> None:
        self.total = total
        self.frozen = frozen

    @property
    def available(self) -> int:
        return self.total - self.frozen

    def __repr__(self) -> str:
        return f"Balance(total={self.total}, frozen={self.frozen})"


class Account:
    __slots__ = ("venue", "type", "balances")

    def __init__(self, venue: str, type_: int) -> None:
        self.venue = venue
        self.type = type_
        self.balances: dict[str, Balance] = {}

    def bal(self, currency: str) -> Balance:
        b = self.balances.get(currency)
        if b is None:
            b = self.balances[currency] = Balance()
        return b


class ApiKey:
    __slots__ = ("api_key", "secret", "product", "permissions", "revoked", "created")

    def __init__(self, api_key: str, secret: Secret, product: "Product", permissions: int,
                 created: int, revoked: bool = False) -> None:
        self.api_key = api_key
        self.secret = secret
        self.product = product
        self.permissions = permissions
        self.created = created
        self.revoked = revoked

    def __repr__(self) -> str:
        return f"ApiKey({self.api_key!r}, product={self.product.name!r}, secret=***)"


class Product:
    """A user or fund account: API keys, accounts, open orders (and later positions)."""

    __slots__ = ("name", "created", "accounts", "open_orders", "coids", "positions", "notices")

    def __init__(self, name: str, created: int) -> None:
        self.name = name
        self.created = created
        self.accounts: dict[tuple[str, int], Account] = {}
        self.open_orders: dict[int, Order] = {}
        self.coids: dict[str, Order] = {}
        self.positions: dict[int, object] = {}
        self.notices = 0  # notices issued so far (order and position events), for 19003 ``seq``

    def account(self, venue: str, type_: int) -> Account:
        key = ("" if type_ == AccountType.SETTLEMENT else venue, type_)
        acc = self.accounts.get(key)
        if acc is None:
            acc = self.accounts[key] = Account(key[0], type_)
        return acc

    def balance(self, venue: str, type_: int, currency: str) -> Balance | None:
        """The balance if it exists. Lookups never create accounts or balances, so a
        rejected command leaves no trace in the state."""
        acc = self.accounts.get(("" if type_ == AccountType.SETTLEMENT else venue, type_))
        return None if acc is None else acc.balances.get(currency)

    def iter_balances(self) -> Iterator[tuple[Account, str, Balance]]:
        for key in sorted(self.accounts):
            acc = self.accounts[key]
            for cur in sorted(acc.balances):
                yield acc, cur, acc.balances[cur]


class Ledger:
    """Cross-product totals: fees collected per (venue, currency) and net deposits."""

    __slots__ = ("fees", "net_deposits")

    def __init__(self) -> None:
        self.fees: dict[tuple[str, str], int] = {}
        self.net_deposits: dict[str, int] = {}

    def add_fee(self, venue: str, currency: str, amount: int) -> None:
        key = (venue, currency)
        self.fees[key] = self.fees.get(key, 0) + amount

    def fees_by_currency(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for (_, cur), amount in self.fees.items():
            out[cur] = out.get(cur, 0) + amount
        return out

    def check(self, products: dict[str, Product], extra_held: dict[str, int] | None = None) -> list[str]:
        problems = []
        held: dict[str, int] = dict(extra_held or {})
        for product in products.values():
            for acc, cur, bal in product.iter_balances():
                if bal.total < 0 or bal.frozen < 0 or bal.frozen > bal.total:
                    problems.append(f"{product.name} {acc.venue}/{acc.type} {cur}: {bal}")
                held[cur] = held.get(cur, 0) + bal.total
        for cur, amount in self.fees_by_currency().items():
            held[cur] = held.get(cur, 0) + amount
        for cur in set(held) | set(self.net_deposits):
            if held.get(cur, 0) != self.net_deposits.get(cur, 0):
                problems.append(
                    f"conservation {cur}: held {held.get(cur, 0)} != net deposits {self.net_deposits.get(cur, 0)}"
                )
        return problems
