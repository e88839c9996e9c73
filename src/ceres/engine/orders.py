"""Orders held by the engine.

An :class:`Order` lives in the engine while it is open (status 3 or 4) and is dropped
when it reaches a final status; history lives in the projection store. What the order is
(side, price, volume, ...) is fixed at acceptance and kept as an immutable
:class:`~ceres.domain.events.OrderSpec` that every event about the order carries (events
never reference the mutable order); what the matching hot path reads is also copied into
plain attributes.

Units: ``price`` ticks; ``vol`` lots (a spot market buy: quote minor units to spend);
``filled`` lots; ``dealt`` sum of ticks x lots over fills (average price = dealt/filled);
``reserved`` minor units still frozen for the order; ``commission`` minor units of the fee
currency (quote, or base for a spot market buy); ``notional`` (contracts) the notional of
the opening fills so far; ``pay``/``recv`` the balances it pays from and receives into.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ceres.domain.enums import OrderStatus, PriceType, Side
from ceres.domain.events import OrderSpec
from ceres.domain.instruments import Instrument

if TYPE_CHECKING:
    from ceres.engine.ledger import Balance, Product

StateRow = list[int | str]

SUBMITTED = int(OrderStatus.SUBMITTED)


class Order:
    __slots__ = (
        "client_oid",
        "commission",
        "deal_id",
        "dealt",
        "fdir",
        "fee_basis_maker",
        "fee_basis_taker",
        "filled",
        "inst",
        "lever",
        "notional",
        "oid",
        "pay",
        "price",
        "product",
        "ptype",
        "recv",
        "reserved",
        "side",
        "spec",
        "status",
        "tif",
        "vol",
    )

    def __init__(self, oid: int, product: Product, inst: Instrument, side: int, ptype: int,
                 price: int, vol: int, client_oid: str, time: int, pay: Balance, recv: Balance,
                 fdir: int = 0, lever: int = 1, profit: int = 0, stop: int = 0, deal_id: int = 0,
                 tif: int = 0) -> None:
        self.oid = oid
        self.product = product
        self.inst = inst
        self.side = side
        self.ptype = ptype
        self.price = price
        self.vol = vol
        self.client_oid = client_oid
        self.fdir = fdir
        self.lever = lever
        self.tif = tif
        self.deal_id = deal_id
        self.spec = OrderSpec(oid, product.name, inst, side, ptype, price, vol, client_oid, time,
                              fdir, lever, profit, stop, tif, deal_id)
        self.filled = 0
        self.dealt = 0
        self.status = SUBMITTED
        self.commission = 0
        self.reserved = 0
        self.fee_basis_taker = 0
        self.fee_basis_maker = 0
        self.notional = 0
        self.pay = pay
        self.recv = recv

    def __repr__(self) -> str:
        return (f"Order({self.oid}, {self.product.name}, {self.inst.contract}, "
                f"{Side(self.side).wire}, {PriceType(self.ptype).wire}, price={self.price}, "
                f"vol={self.vol}, filled={self.filled}, status={OrderStatus(self.status).name})")

    @property
    def rest(self) -> int:
        """Lots still to fill."""
        return self.vol - self.filled

    # snapshot support ---------------------------------------------------------------
    def to_state(self) -> StateRow:
        spec = self.spec
        return [self.oid, self.product.name, self.inst.exchange, self.inst.contract, self.side,
                self.ptype, self.price, self.vol, self.client_oid, spec.time, self.fdir, self.lever,
                spec.profit, spec.stop, self.deal_id, self.filled, self.dealt, int(self.status),
                self.commission, self.reserved, self.fee_basis_taker, self.fee_basis_maker,
                self.notional]
