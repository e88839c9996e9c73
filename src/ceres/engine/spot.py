"""Spot trading on the simulated venue: admission, freezes and fee settlement.

Rules (API.md section 6), with ``rate`` the maker or taker rate of the fill:

* limit buy: freezes ``notional + fee_at(max(maker, taker, 0))`` in QUOTE where
  ``notional = price x vol``; each fill pays ``fill_notional + fee`` out of the freeze at the
  *fill* price. After a fill the order keeps frozen the notional of its remaining volume
  at the limit price plus its fee reserve (the admission fee ``fee_at(freeze rate)`` on the
  whole order, less the positive fees already paid); the rest is released at once (price
  improvement, maker rebates). Re-flooring the fee on the remaining volume alone would
  fall one minor unit short, since ``floor(a + b) - floor(a)`` can exceed ``floor(b)``;
* market buy: ``vol`` is QUOTE to spend, frozen whole; each fill spends its notional and
  the fee is taken inside, from the BASE received;
* sell (limit or market): freezes the BASE volume; the fee comes out of the QUOTE proceeds;
* whatever is still frozen when an order ends is released (``engine.lifetime``).

Fee rounding: fees are charged per (order, liquidity role) on the *cumulative* amount,
``floor(cumulative x rate)``, each fill paying the difference. So an order's total fee is
``floor(total x rate)`` whatever its fills, and a limit buy's freeze always covers every
fill (``floor(a) + floor(b) <= floor(a + b)``). Rebates (negative rates) are floored in
magnitude too: the venue never pays out more than the exact amount.

``place`` decides first (every check that can refuse the order) and only then changes
state; matching and lifetime are ``engine.matching`` and ``engine.lifetime``.
"""

from __future__ import annotations

from ceres.domain import commands as C
from ceres.domain.enums import AccountType, OrderStatus, PriceType, ReportKind, Side
from ceres.domain.errors import CeresError, ErrorCode
from ceres.domain.events import OrderSpec, TradeEvent
from ceres.domain.instruments import RATE_SCALE, Instrument
from ceres.engine import matching
from ceres.engine.ledger import Balance, Product
from ceres.engine.orders import Order
from ceres.engine.state import State

# plain ints on the hot path (enum attribute access is several times slower)
BUY = int(Side.BUY)
SELL = int(Side.SELL)
LIMIT = int(PriceType.LIMIT)
SPOT = int(AccountType.SPOT)
PART_FILLED = int(OrderStatus.PART_FILLED)
FILLED = int(OrderStatus.FILLED)
ACCEPTED = int(ReportKind.ACCEPTED)
FILL = int(ReportKind.FILL)


def buy_keep(order: Order, rest: int, spec: OrderSpec | None = None) -> int:
    """QUOTE a limit buy keeps frozen for ``rest`` unfilled lots: their notional at the limit
    price plus the fee reserve taken at admission, less the positive fees already paid
    (``spec``: under other terms than the order's own, for an amend)."""
    if spec is None:
        spec = order.spec
    inst = spec.inst
    per_lot = spec.price * inst.notional_mult
    reserve = spec.vol * per_lot * inst.freeze_rate // RATE_SCALE
    return rest * per_lot + reserve - fees_paid(order)


def fees_paid(order: Order) -> int:
    """The positive fees the order has paid so far (its rebates not counted)."""
    inst = order.spec.inst
    return (order.fee_basis_maker * max(inst.maker_rate, 0) // RATE_SCALE
            + order.fee_basis_taker * max(inst.taker_rate, 0) // RATE_SCALE)


def charge(order: Order, amount: int, maker: bool) -> int:
    """Fee for a fill adding ``amount`` to the order's fee basis in the given role."""
    inst = order.spec.inst
    if maker:
        before = order.fee_basis_maker
        after = order.fee_basis_maker = before + amount
        rate = inst.maker_rate
    else:
        before = order.fee_basis_taker
        after = order.fee_basis_taker = before + amount
        rate = inst.taker_rate
    if rate >= 0:
        fee = after * rate // RATE_SCALE - before * rate // RATE_SCALE
    else:
        fee = before * -rate // RATE_SCALE - after * -rate // RATE_SCALE
    order.commission += fee
    return fee


def balances(product: Product, inst: Instrument, side: int) -> tuple[Balance, Balance]:
    """The spot balances an order on ``side`` pays from and receives into."""
    acc = product.account(inst.exchange, SPOT)
    if side == BUY:
        return acc.bal(inst.quote), acc.bal(inst.base)
    return acc.bal(inst.base), acc.bal(inst.quote)


def place(state: State, cmd: C.Place, product: Product, inst: Instrument, price: int, tif: int) -> int:
    """Fund, match and rest or end a spot order whose fields ``Engine`` has checked
    (``price`` ticks, 0 for market); returns its id."""
    side, vol = cmd.side, cmd.vol
    if side == BUY:
        if price:  # notional plus the largest fee
            need = price * vol * inst.notional_mult
            need += need * inst.freeze_rate // RATE_SCALE
        else:  # a market buy's vol is its budget
            need = vol
        pay_cur, recv_cur = inst.quote, inst.base
    else:
        need = vol * inst.base_mult
        pay_cur, recv_cur = inst.base, inst.quote
    acc = product.accounts.get((inst.exchange, SPOT))
    pay = acc.balances.get(pay_cur) if acc is not None else None
    if pay is None or acc is None or not pay.reserve(need):
        have = 0 if pay is None else pay.total - pay.frozen
        fmt = inst.fmt_quote if pay_cur == inst.quote else inst.fmt_base
        raise CeresError(ErrorCode.INSUFFICIENT_BALANCE,
                         f"insufficient {pay_cur} in the spot account: "
                         f"need {fmt(need)}, available {fmt(have)}")
    # --- decided (and funded): nothing below refuses the order ----------------------------
    oid = state.ids.next(state.now)
    order = Order(OrderSpec(oid, product.name, inst, side, cmd.price_type, price, vol, cmd.client_oid, state.now,
                            tif, stp=cmd.stp), product, pay, acc.balances.get(recv_cur) or acc.bal(recv_cur))
    order.reserved = need
    state.order_event(order, ACCEPTED)
    matching.execute(state, order, state.books[inst.exchange, inst.contract], fill)
    return oid


def fill(state: State, maker: Order, taker: Order, price: int, lots: int) -> None:
    """Settle ``lots`` at ``price`` between a resting maker and the taker."""
    mspec, tspec = maker.spec, taker.spec
    inst = mspec.inst
    notional = price * lots * inst.notional_mult
    base_amt = lots * inst.base_mult
    ledger = state.ledger
    venue = inst.exchange
    if tspec.side == BUY:
        buyer, seller, buyer_maker, bspec = taker, maker, False, tspec
    else:
        buyer, seller, buyer_maker, bspec = maker, taker, True, mspec
    # seller: BASE out of its freeze, QUOTE proceeds less the fee in
    fee_s = charge(seller, notional, not buyer_maker)
    seller.pay.settle_into(base_amt, base_amt, seller.recv, notional - fee_s)
    seller.reserved -= base_amt
    # buyer
    if bspec.ptype == LIMIT:
        fee_b = charge(buyer, notional, buyer_maker)
        rest = bspec.vol - buyer.filled - lots
        need = buy_keep(buyer, rest) if rest else 0
        buyer.pay.settle_into(notional + fee_b, buyer.reserved - need, buyer.recv, base_amt)
        buyer.reserved = need
        ledger.collect_fee(venue, inst.quote, fee_s + fee_b)
    else:
        fee_b = charge(buyer, base_amt, False)
        buyer.pay.settle_into(notional, notional, buyer.recv, base_amt - fee_b)
        buyer.reserved -= notional
        ledger.collect_fee(venue, inst.quote, fee_s)
        ledger.collect_fee(venue, inst.base, fee_b)
    # order progress and events (a market buy's vol is a budget: lifetime.finish ends it)
    dealt = price * lots
    maker.filled += lots
    maker.dealt += dealt
    maker.status = FILLED if maker.filled == mspec.vol else PART_FILLED
    state.order_event(maker, FILL, lots, price)
    taker.filled += lots
    taker.dealt += dealt
    taker.status = (FILLED if taker.filled == tspec.vol and (tspec.ptype == LIMIT or tspec.side == SELL)
                    else PART_FILLED)
    state.order_event(taker, FILL, lots, price)
    state.events.append(TradeEvent(state.ids.next(state.now), state.now, inst, price, lots, tspec.side,
                                   mspec, tspec, fee_b if buyer_maker else fee_s,
                                   fee_s if buyer_maker else fee_b, state.seq))
