"""Orders held by the engine and the events it emits about them.

An :class:`Order` lives in the engine while it is open (status 3 or 4) and is dropped
when it reaches a final status; history lives in the projection store. Every change is
reported as an :class:`OrderEvent` carrying a snapshot of the mutable fields, because the
order object keeps changing within a batch while events are consumed after the batch is
durable. A match is reported as one :class:`TradeEvent`.

Units: ``price`` ticks; ``vol`` lots (a spot market buy: quote minor units to spend);
``filled`` lots; ``dealt`` sum of ticks x lots over fills (average price = dealt/filled);
``frozen`` minor units still frozen for the order; ``commission`` minor units of the fee
currency (quote, or base for a spot market buy).
"""

from __future__ import annotations

from typing import Any

import msgspec

from ceres.domain.enums import OrderStatus, PriceType, Side
from ceres.domain.instruments import Instrument


class Order:
    __slots__ = (
        "oid", "product", "inst", "side", "ptype", "price", "vol", "client_oid", "time",
        "fdir", "lever", "profit", "stop", "deal_id",
        "filled", "dealt", "status", "commission", "frozen",
        "fee_basis_taker", "fee_basis_maker", "notional", "pay", "recv",
    )

    def __init__(self, oid: int, product: Any, inst: Instrument, side: int, ptype: int,
                 price: int, vol: int, client_oid: str, time: int, fdir: int = 0,
                 lever: int = 1, profit: int = 0, stop: int = 0, deal_id: int = 0) -> None:
        self.oid = oid
        self.product = product
        self.inst = inst
        self.side = side
        self.ptype = ptype
        self.price = price
        self.vol = vol
        self.client_oid = client_oid
        self.time = time
        self.fdir = fdir
        self.lever = lever
        self.profit = profit
        self.stop = stop
        self.deal_id = deal_id
        self.filled = 0
        self.dealt = 0
        self.status = 3  # OrderStatus.SUBMITTED (plain int on the hot path)
        self.commission = 0
        self.frozen = 0
        self.fee_basis_taker = 0
        self.fee_basis_maker = 0
        self.notional = 0  # contracts: notional of all opening fills so far
        self.pay: Any = None   # Balance the order pays from (its freeze lives there)
        self.recv: Any = None  # Balance its proceeds go to

    def __repr__(self) -> str:
        return (f"Order({self.oid}, {self.product.name}, {self.inst.contract}, "
                f"{Side(self.side).wire}, {PriceType(self.ptype).wire}, price={self.price}, "
                f"vol={self.vol}, filled={self.filled}, status={OrderStatus(self.status).name})")

    # snapshot support ---------------------------------------------------------------
    def to_state(self) -> list:
        return [self.oid, self.product.name, self.inst.exchange, self.inst.contract, self.side,
                self.ptype, self.price, self.vol, self.client_oid, self.time, self.fdir, self.lever,
                self.profit, self.stop, self.deal_id, self.filled, self.dealt, int(self.status),
                self.commission, self.frozen, self.fee_basis_taker, self.fee_basis_maker,
                self.notional]

    @classmethod
    def from_state(cls, row: list, products: dict, instruments: dict) -> "Order":
        (oid, pname, exch, contract, side, ptype, price, vol, coid, time, fdir, lever, profit,
         stop, deal_id, filled, dealt, status, commission, frozen, fbt, fbm, mf) = row
        order = cls(oid, products[pname], instruments[(exch, contract)], side, ptype, price, vol,
                    coid, time, fdir, lever, profit, stop, deal_id)
        order.filled, order.dealt, order.status = filled, dealt, OrderStatus(status)
        order.commission, order.frozen = commission, frozen
        order.fee_basis_taker, order.fee_basis_maker, order.notional = fbt, fbm, mf
        return order


class OrderEvent(msgspec.Struct, gc=False):
    """An order was accepted or changed. ``deal_vol`` is the lots of the fill that caused
    the event (0 for status-only changes); the other fields are the state after it."""

    order: Any
    status: int
    filled: int
    dealt: int
    commission: int
    deal_vol: int = 0
    deal_price: int = 0
    seq: int = 0
    nseq: int = 0  # the product's notice number (Engine.take_events)


class TradeEvent(msgspec.Struct, gc=False):
    """One match: ``lots`` at ``price`` (ticks) between a resting maker and a taker.
    Fees are in each order's fee currency (negative = rebate)."""

    tid: int
    time: int
    inst: Instrument
    price: int
    lots: int
    taker_side: int
    maker: Any
    taker: Any
    maker_fee: int
    taker_fee: int
    seq: int = 0
