"""Orders held by the engine.

An :class:`Order` lives in the engine while it is open (status 3 or 4) and is dropped
when it reaches a final status; history lives in the projection store. What the order is
(side, price, volume, ...) is fixed at acceptance: its immutable
:class:`~ceres.domain.events.OrderSpec`, which every event about the order carries
(events never reference the mutable order). The order itself holds only what changes and
the live objects it works with; hot paths read the spec (``order.spec.price``), other code
may use the read-only properties of the same names.

Units: ``price`` ticks; ``vol`` lots (a spot market buy: quote minor units to spend);
``filled`` lots; ``dealt`` sum of ticks x lots over fills (average price = dealt/filled);
``reserved`` minor units still frozen for the order; ``commission`` minor units of the fee
currency (quote, or base for a spot market buy); ``notional`` (contracts) the notional of
the opening fills so far; ``deal_id`` the position it closes, or (an opening order) the
position its first fill opened; ``pay``/``recv`` the balances it pays from and receives into.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ceres.domain.enums import OrderStatus, PriceType, Side, TimeInForce
from ceres.domain.events import OrderSpec
from ceres.domain.instruments import Instrument

if TYPE_CHECKING:
    from ceres.engine.ledger import Balance, Product

StateRow = list[int | str]

SUBMITTED = int(OrderStatus.SUBMITTED)
GTC = int(TimeInForce.GTC)


class Order:
    __slots__ = ("commission", "deal_id", "dealt", "fee_basis_maker", "fee_basis_taker", "filled", "notional",
                 "pay", "product", "recv", "reserved", "spec", "status")

    def __init__(self, spec: OrderSpec, product: Product, pay: Balance, recv: Balance) -> None:
        self.spec = spec
        self.product = product
        self.pay = pay
        self.recv = recv
        self.deal_id = spec.deal_id
        self.filled = 0
        self.dealt = 0
        self.status = SUBMITTED
        self.commission = 0
        self.reserved = 0
        self.fee_basis_taker = 0
        self.fee_basis_maker = 0
        self.notional = 0

    # what the order is (its spec), for code off the hot path ----------------------------
    @property
    def oid(self) -> int:
        return self.spec.oid

    @property
    def inst(self) -> Instrument:
        return self.spec.inst

    @property
    def side(self) -> int:
        return self.spec.side

    @property
    def ptype(self) -> int:
        return self.spec.ptype

    @property
    def price(self) -> int:
        return self.spec.price

    @property
    def vol(self) -> int:
        return self.spec.vol

    @property
    def client_oid(self) -> str:
        return self.spec.client_oid

    @property
    def fdir(self) -> int:
        return self.spec.fdir

    @property
    def lever(self) -> int:
        return self.spec.lever

    @property
    def tif(self) -> int:
        return self.spec.tif

    @property
    def rest(self) -> int:
        """Lots still to fill."""
        return self.spec.vol - self.filled

    def __repr__(self) -> str:
        s = self.spec
        return (f"Order({s.oid}, {s.product}, {s.inst.contract}, {Side(s.side).wire}, "
                f"{PriceType(s.ptype).wire}, price={s.price}, vol={s.vol}, filled={self.filled}, "
                f"status={OrderStatus(self.status).name})")

    # snapshot support ---------------------------------------------------------------
    def to_state(self) -> StateRow:
        s = self.spec
        return [s.oid, s.product, s.inst.exchange, s.inst.contract, s.side, s.ptype, s.price, s.vol,
                s.client_oid, s.time, s.fdir, s.lever, s.profit, s.stop, self.deal_id, self.filled,
                self.dealt, int(self.status), self.commission, self.reserved, self.fee_basis_taker,
                self.fee_basis_maker, self.notional, *([s.tif] if s.tif != GTC else [])]


class LiveOrder:
    """An order at a live venue (decision 0006): Ceres holds what it asked and what the venue
    reported, not the money (that is at the venue), and it never matches. Same reading
    interface as :class:`Order` for the views (``spec``, ``status``, ``filled``, ``dealt``,
    ``commission``). ``venue_oid`` is the venue's id once it accepted the order; ``trades``
    the venue trade ids already applied (a fill reported twice counts once). A paper order
    (``engine.paper``) also holds money here: ``pay``, the balance it pays from, and
    ``reserved``, what it still has frozen there."""

    __slots__ = ("commission", "dealt", "filled", "pay", "product", "reserved", "spec", "status", "trades",
                 "venue_oid")

    def __init__(self, spec: OrderSpec, product: Product, status: int) -> None:
        self.spec = spec
        self.product = product
        self.status = status
        self.filled = 0
        self.dealt = 0
        self.commission = 0
        self.venue_oid = ""
        self.trades: set[str] = set()
        self.pay: Balance | None = None
        self.reserved = 0

    @property
    def oid(self) -> int:
        return self.spec.oid

    @property
    def inst(self) -> Instrument:
        return self.spec.inst
