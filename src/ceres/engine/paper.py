"""Paper trading on a live venue's markets (issue 11, item 10): the venue's book, Ceres' money.

A live venue is in paper mode while the journal says so (``SetPaperVenue``; the server
journals it at start from ``[venues.X] mode``). Then:

* its spot accounts (type 3, ``exchange`` = the venue) are ledger accounts as on TEST: money
  comes in and goes back by transfers from and to the product's settlement account (type 2);
* a placement is a :class:`~ceres.engine.orders.LiveOrder` (the same life as a live order:
  2, then 3 and fills from reports) whose money is frozen here: a buy freezes its notional
  at the limit price in the quote, a sell its volume in the base; not enough available ->
  INSUFFICIENT_BALANCE and nothing changes;
* a FILL report (from the paper desk, ``venues.live.paper``, which matches orders against the
  venue's book) is never at a worse price than the limit. The order pays from its freeze
  (a buy filled below its limit releases the difference at once) and receives the other
  currency less the fee: ``floor(received x taker rate)`` of the instrument, in what it
  receives (as Binance charges spot fees), booked to the venue's fee account. The other side
  of every paper trade is the outside market: ``Ledger.trade_outside`` books what left and
  what came in, so the money audit still balances;
* an order's end releases whatever it still holds.

Leaving paper mode cancels the venue's open paper orders (their money released); the paper
balances stay in the ledger and can be transferred back once paper mode is on again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ceres.domain.enums import AccountType, Side
from ceres.domain.errors import CeresError, ErrorCode
from ceres.domain.instruments import RATE_SCALE

if TYPE_CHECKING:
    from ceres.domain.instruments import Instrument
    from ceres.engine.core import Engine
    from ceres.engine.ledger import Balance, Product
    from ceres.engine.orders import LiveOrder

SPOT = int(AccountType.SPOT)


def funds(product: Product, inst: Instrument, side: int, price: int, vol: int) -> tuple[Balance, int]:
    """The balance a new paper order pays from and what it must freeze there; refused (nothing
    created, nothing changed) when that much is not available."""
    if side == Side.BUY:
        currency, need = inst.quote, inst.notional(vol, price)
    else:
        currency, need = inst.base, vol * inst.base_mult
    pay = product.balance(inst.exchange, SPOT, currency)
    if pay is None or pay.available < need:
        raise CeresError(ErrorCode.INSUFFICIENT_BALANCE, f"insufficient available {currency} in the paper "
                                                         f"account at {inst.exchange} (account type 3)")
    return pay, need


def freeze(order: LiveOrder, pay: Balance, need: int) -> None:
    pay.reserve(need)  # available: checked by ``funds``
    order.pay = pay
    order.reserved = need


def check_fill(order: LiveOrder, lots: int, price: int) -> None:
    spec = order.spec
    if (price > spec.price) if spec.side == Side.BUY else (price < spec.price):
        raise CeresError(ErrorCode.INVALID_VALUE, f"a paper fill of order {spec.oid} at {price} ticks is worse than "
                                                  f"its limit {spec.price}", "price")


def settle(engine: Engine, order: LiveOrder, lots: int, price: int) -> int:
    """Settle one paper fill (checked by ``check_fill``); returns the fee charged."""
    spec = order.spec
    inst = spec.inst
    assert order.pay is not None
    account = order.product.account(inst.exchange, SPOT)
    rest = spec.vol - order.filled - lots  # unfilled after this fill
    if spec.side == Side.BUY:
        paid = inst.notional(lots, price)
        keep = inst.notional(rest, spec.price)
        received = lots * inst.base_mult
        pay_cur, recv_cur = inst.quote, inst.base
    else:
        paid = lots * inst.base_mult
        keep = rest * inst.base_mult
        received = inst.notional(lots, price)
        pay_cur, recv_cur = inst.base, inst.quote
    fee = received * max(inst.taker_rate, 0) // RATE_SCALE
    released = order.reserved - keep  # leaves the frozen part: what it paid and any price improvement
    engine.ledger.trade_outside(order.pay, paid, released, account.bal(recv_cur), received, fee, inst.exchange,
                                pay_cur, recv_cur)
    order.reserved = keep
    return fee


def release(order: LiveOrder) -> None:
    """A paper order ended: give back what it still holds."""
    if order.pay is not None and order.reserved:
        order.pay.release(order.reserved)
        order.reserved = 0
