"""Spot trading on the TEST venue: admission, freezes, matching and fee settlement.

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
* whatever is still frozen when an order finishes is released.

Fee rounding: fees are charged per (order, liquidity role) on the *cumulative* amount,
``floor(cumulative x rate)``, each fill paying the difference. So an order's total fee is
``floor(total x rate)`` whatever its fills, and a limit buy's freeze always covers every
fill (``floor(a) + floor(b) <= floor(a + b)``). Rebates (negative rates) are floored in
magnitude too: the venue never pays out more than the exact amount.

An order that cannot be funded, or fails any check, raises before anything changes.
"""

from __future__ import annotations

from ceres.domain.enums import AccountType, OrderStatus, PriceType, Side
from ceres.domain.errors import CeresError, ErrorCode
from ceres.domain.instruments import MAX_PRICE_TICKS, MAX_VOLUME_LOTS, RATE_SCALE, Instrument
from ceres.engine.orders import Order, OrderEvent, TradeEvent

# plain ints on the hot path (enum attribute access is several times slower)
BUY = int(Side.BUY)
SELL = int(Side.SELL)
LIMIT = int(PriceType.LIMIT)
SPOT = int(AccountType.SPOT)
SUBMITTED = int(OrderStatus.SUBMITTED)
PART_FILLED = int(OrderStatus.PART_FILLED)
FILLED = int(OrderStatus.FILLED)
PART_CANCELED = int(OrderStatus.PART_CANCELED)
CANCELED = int(OrderStatus.CANCELED)
_LIVE_MAX = PART_FILLED


def buy_freeze(inst: Instrument, price: int, lots: int) -> int:
    """QUOTE frozen by a limit buy of ``lots`` at ``price``: notional plus the largest fee."""
    notional = price * lots * inst.notional_mult
    return notional + notional * inst.freeze_rate // RATE_SCALE


def _buy_keep(order: Order, rest: int) -> int:
    """QUOTE a limit buy keeps frozen for ``rest`` unfilled lots: their notional at the limit
    price plus the fee reserve taken at admission, less the positive fees already paid."""
    inst = order.inst
    per_lot = order.price * inst.notional_mult
    reserve = order.vol * per_lot * inst.freeze_rate // RATE_SCALE
    paid = (order.fee_basis_maker * max(inst.maker_rate, 0) // RATE_SCALE
            + order.fee_basis_taker * max(inst.taker_rate, 0) // RATE_SCALE)
    return rest * per_lot + reserve - paid


def _charge(order: Order, amount: int, maker: bool) -> int:
    """Fee for a fill adding ``amount`` to the order's fee basis in the given role."""
    inst = order.inst
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


def bind(order: Order) -> None:
    """Point a spot order at the balances it pays from and receives into."""
    inst = order.inst
    acc = order.product.account(inst.exchange, SPOT)
    if order.side == BUY:
        order.pay, order.recv = acc.bal(inst.quote), acc.bal(inst.base)
    else:
        order.pay, order.recv = acc.bal(inst.base), acc.bal(inst.quote)


def admit(eng, cmd, product, inst: Instrument) -> Order:
    """Validate and fund a spot order, or raise with nothing changed. Returns the order,
    already frozen and announced, not yet matched."""
    side, ptype, vol, price = cmd.side, cmd.price_type, cmd.vol, cmd.price
    if ptype == LIMIT:
        if not inst.min_price_ticks <= price <= MAX_PRICE_TICKS:
            raise CeresError(ErrorCode.PRICE_OUT_OF_RANGE,
                             f"must be at least min_price {inst.min_price}", "entrust_price")
    else:
        price = 0
    if side == BUY and ptype != LIMIT:
        if vol <= 0:
            raise CeresError(ErrorCode.VOLUME_OUT_OF_RANGE, "must be greater than zero", "entrust_vol")
        need = vol
        pay_cur, recv_cur = inst.quote, inst.base
    else:
        if not inst.min_volume_lots <= vol <= MAX_VOLUME_LOTS:
            raise CeresError(ErrorCode.VOLUME_OUT_OF_RANGE,
                             f"must be at least min_volume {inst.min_volume}", "entrust_vol")
        if side == BUY:
            need = buy_freeze(inst, price, vol)
            pay_cur, recv_cur = inst.quote, inst.base
        else:
            need = vol * inst.base_mult
            pay_cur, recv_cur = inst.base, inst.quote
    acc = product.accounts.get((inst.exchange, SPOT))
    pay = acc.balances.get(pay_cur) if acc is not None else None
    if pay is None or pay.total - pay.frozen < need:
        have = 0 if pay is None else pay.total - pay.frozen
        fmt = inst.fmt_quote if pay_cur == inst.quote else inst.fmt_base
        raise CeresError(ErrorCode.INSUFFICIENT_BALANCE,
                         f"insufficient {pay_cur} in the spot account: "
                         f"need {fmt(need)}, available {fmt(have)}")
    order = Order(eng.ids.next(eng.now), product, inst, side, ptype, price, vol,
                  cmd.client_oid, eng.now)
    order.pay = pay
    order.recv = acc.bal(recv_cur)
    pay.frozen += need
    order.frozen = need
    eng.events.append(OrderEvent(order, SUBMITTED, 0, 0, 0, 0, 0, eng.seq))
    return order


def place(eng, cmd, product, inst: Instrument) -> int:
    order = admit(eng, cmd, product, inst)
    book = eng.books[inst.exchange, inst.contract]
    limit = order.ptype == LIMIT
    if order.side == BUY:
        own, opp = book.bids, book.asks
        crosses = opp.prices and (not limit or opp.prices[0] <= order.price)
    else:
        own, opp = book.asks, book.bids
        crosses = opp.prices and (not limit or opp.prices[-1] >= order.price)
    exhausted = match(eng, order, book) if crosses else True
    if limit:
        if order.status <= _LIVE_MAX:
            own.add(order, order.vol - order.filled)
            eng.register_open(order)
    else:
        finish_market(eng, order, exhausted)
    return order.oid


def match(eng, taker: Order, book, settle=None) -> bool:
    """Cross ``taker`` against the opposite side, settling each fill with ``settle``
    (spot ``fill`` by default; contracts pass theirs). Returns True when the book ran out
    of eligible liquidity before the taker was done (used to classify market orders)."""
    if settle is None:
        settle = fill
    is_buy = taker.side == BUY
    opp = book.asks if is_buy else book.bids
    prices = opp.prices
    levels = opp.levels
    limit = taker.price if taker.ptype == LIMIT else None
    market_buy = limit is None and is_buy and not taker.inst.is_contract
    mult = taker.inst.notional_mult
    while prices:
        best = prices[0] if is_buy else prices[-1]
        if limit is not None and (best > limit if is_buy else best < limit):
            return True
        level = levels[best]
        q = level.orders
        while q:
            maker = q[0]
            if maker.status > _LIVE_MAX:
                q.popleft()
                continue
            lots = maker.vol - maker.filled
            if market_buy:
                afford = taker.frozen // (best * mult)
                if afford == 0:
                    return False
                if afford < lots:
                    lots = afford
            else:
                rest = taker.vol - taker.filled
                if rest < lots:
                    lots = rest
            settle(eng, maker, taker, best, lots)
            level.vol -= lots
            if maker.status == FILLED:
                q.popleft()
                level.live -= 1
                eng.unregister_open(maker)
            if taker.status == FILLED:
                break
        if level.live == 0:
            del levels[best]
            if is_buy:
                del prices[0]
            else:
                prices.pop()
        if taker.status == FILLED:
            return False
    return True


def fill(eng, maker: Order, taker: Order, price: int, lots: int) -> None:
    """Settle ``lots`` at ``price`` between a resting maker and the taker."""
    inst = maker.inst
    notional = price * lots * inst.notional_mult
    base_amt = lots * inst.base_mult
    fees = eng.ledger.fees
    venue = inst.exchange
    if taker.side == BUY:
        buyer, seller, buyer_maker = taker, maker, False
    else:
        buyer, seller, buyer_maker = maker, taker, True
    # seller: BASE out of its freeze, QUOTE proceeds less the fee in
    fee_s = _charge(seller, notional, not buyer_maker)
    pay = seller.pay
    pay.total -= base_amt
    pay.frozen -= base_amt
    seller.frozen -= base_amt
    seller.recv.total += notional - fee_s
    key = (venue, inst.quote)
    fees[key] = fees.get(key, 0) + fee_s
    # buyer
    pay = buyer.pay
    if buyer.ptype == LIMIT:
        fee_b = _charge(buyer, notional, buyer_maker)
        paid = notional + fee_b
        rest = buyer.vol - buyer.filled - lots
        need = _buy_keep(buyer, rest) if rest else 0
        pay.total -= paid
        pay.frozen -= buyer.frozen - need
        buyer.frozen = need
        buyer.recv.total += base_amt
    else:
        fee_b = _charge(buyer, base_amt, False)
        key = (venue, inst.base)
        pay.total -= notional
        pay.frozen -= notional
        buyer.frozen -= notional
        buyer.recv.total += base_amt - fee_b
    fees[key] = fees.get(key, 0) + fee_b
    # order progress and events (a market buy's vol is a budget: finish_market ends it)
    seq = eng.seq
    dealt = price * lots
    events = eng.events
    maker.filled += lots
    maker.dealt += dealt
    maker.status = FILLED if maker.filled == maker.vol else PART_FILLED
    events.append(OrderEvent(maker, maker.status, maker.filled, maker.dealt,
                             maker.commission, lots, price, seq))
    taker.filled += lots
    taker.dealt += dealt
    taker.status = (FILLED if taker.filled == taker.vol and (taker.ptype == LIMIT or taker.side == SELL)
                    else PART_FILLED)
    events.append(OrderEvent(taker, taker.status, taker.filled, taker.dealt,
                             taker.commission, lots, price, seq))
    events.append(TradeEvent(eng.ids.next(eng.now), eng.now, inst, price, lots, taker.side,
                             maker, taker, fee_b if buyer_maker else fee_s,
                             fee_s if buyer_maker else fee_b, seq))


def release(order: Order) -> None:
    """Unfreeze what the order still holds."""
    order.pay.frozen -= order.frozen
    order.frozen = 0


def finish_market(eng, order: Order, exhausted: bool) -> None:
    """Close a market order after matching: release what is left, set the final status."""
    if order.frozen:
        release(order)
    if order.status == FILLED:
        return
    if order.filled == 0:
        status = CANCELED
    elif order.side == BUY and not exhausted:
        status = FILLED  # budget spent down to less than one lot at the best price
    else:
        status = PART_CANCELED
    order.status = status
    eng.events.append(OrderEvent(order, status, order.filled, order.dealt, order.commission,
                                 0, 0, eng.seq))


def cancel(eng, order: Order) -> None:
    """Cancel a resting order: 15 with no fill, 14 with some; frees its freeze."""
    book = eng.books[order.inst.exchange, order.inst.contract]
    book.side_of(order.side).remove(order, order.vol - order.filled)
    order.status = PART_CANCELED if order.filled else CANCELED
    if order.frozen:
        release(order)
    eng.unregister_open(order)
    eng.events.append(OrderEvent(order, order.status, order.filled, order.dealt,
                                 order.commission, 0, 0, eng.seq))
