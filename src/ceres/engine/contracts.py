"""Leveraged contracts on TEST: opening and closing orders, their fills and cancels.
Pure and deterministic like the rest of the engine.

Opening (``future_dir=open``; buy opens a long, sell a short). Admission walks the book
to price the part that would cross at once (exact fill prices), adds the resting part at
the limit price, and freezes in the contract account (type 4, settle currency)
``ceil(notional / lever) + floor(notional x max fee rate)``. Each fill moves
``ceil(cum / lever) - ceil(cum_before / lever)`` of the freeze into the order's position
as margin (``cum`` = notional of the order's fills so far, so margins never exceed the
freeze) and pays its fee; what is left is released when the order finishes. A market
opening order with nothing to match is accepted and cancelled (15).

Closing (``future_dir=close`` or ``trade/close``; sell closes longs, buy shorts). With
``deal_id`` one order closes that position; otherwise ``close_rule`` 1/time (oldest
first) or 2/risk (nearest liquidation first) spreads the volume over the product's
positions on that side, one order per position. Closing more than is open (minus what
other close orders already reserve) is CLOSE_EXCEEDS_POSITION. A closing fill releases
its share of margin and credits ``PnL - fee``; a loss beyond the margin is capped there
and the rest is charged to the venue's insurance fund (isolated margin).

A liquidation (``engine.triggers``) closes like any closing order, except that the
position's remaining margin goes to the insurance fund. Mark price, TP/SL and liquidation
triggers live in ``engine.triggers``; funding and expiry in ``engine.funding``; the
contract state and its snapshot form in ``engine.contract_state``.
"""

from __future__ import annotations

from typing import Any

from ceres.domain.enums import AccountType, FutureDir, OrderStatus, PriceType, Side
from ceres.domain.errors import CeresError, ErrorCode
from ceres.domain.instruments import MAX_PRICE_TICKS, MAX_VOLUME_LOTS, RATE_SCALE, Instrument
from ceres.domain.money import ceil_div
from ceres.engine import spot, triggers
from ceres.engine.orders import Order, OrderEvent, TradeEvent
from ceres.engine.positions import LONG, SHORT, Position, PositionEvent, cost_part, force_price, pnl

BUY, SELL = int(Side.BUY), int(Side.SELL)
LIMIT = int(PriceType.LIMIT)
OPEN, CLOSE = int(FutureDir.OPEN), int(FutureDir.CLOSE)
SUBMITTED, PART_FILLED, FILLED = 3, 4, 5
PART_CANCELED, CANCELED = int(OrderStatus.PART_CANCELED), int(OrderStatus.CANCELED)
CONTRACT = int(AccountType.CONTRACT)



def bind(order: Order) -> None:
    """Point a contract order at its contract-account balance (settle currency)."""
    inst = order.inst
    order.pay = order.recv = order.product.account(inst.exchange, CONTRACT).bal(inst.settle)


def _check_price_and_vol(inst: Instrument, cmd) -> int:
    if cmd.price_type == LIMIT:
        if not inst.min_price_ticks <= cmd.price <= MAX_PRICE_TICKS:
            raise CeresError(ErrorCode.PRICE_OUT_OF_RANGE, f"must be at least min_price {inst.min_price}",
                             "entrust_price")
        price = cmd.price
    else:
        price = 0
    if not inst.min_volume_lots <= cmd.vol <= MAX_VOLUME_LOTS:
        raise CeresError(ErrorCode.VOLUME_OUT_OF_RANGE, f"must be at least min_volume {inst.min_volume}",
                         "entrust_vol")
    return price


def place(eng, cmd, product, inst: Instrument) -> int | list[int]:
    key = (inst.exchange, inst.contract)
    if key in eng.contracts.expired or (inst.expiry_ms and eng.now >= inst.expiry_ms):
        raise CeresError(ErrorCode.INSTRUMENT_NOT_TRADING, f"{inst.contract} has expired", "contract")
    price = _check_price_and_vol(inst, cmd)
    if cmd.future_dir == OPEN:
        oid = _open(eng, cmd, product, inst, price)
        result: int | list[int] = oid
    elif cmd.future_dir == CLOSE:
        result = _close(eng, cmd, product, inst, price)
    else:
        raise CeresError(ErrorCode.INVALID_VALUE, "must be open or close on a contract", "future_dir")
    triggers.check_triggers(eng, inst)
    return result


def _cross_notional(book, inst: Instrument, side: int, limit: int | None, vol: int) -> tuple[int, int]:
    """(notional of what would fill at once, lots left) walking the opposite side."""
    opp = book.asks if side == BUY else book.bids
    total = 0
    left = vol
    for level in opp.iter_levels():
        if left == 0:
            break
        if limit is not None and (level.price > limit if side == BUY else level.price < limit):
            break
        lots = min(left, level.vol)
        total += inst.notional(lots, level.price)
        left -= lots
    return total, left


def _open(eng, cmd, product, inst: Instrument, price: int) -> int:
    lever = cmd.lever
    if not 1 <= lever <= inst.max_lever:
        raise CeresError(ErrorCode.LEVER_OUT_OF_RANGE, f"must be 1..{inst.max_lever}", "lever")
    side = cmd.side
    ref = price or triggers.mark(eng, inst)
    tp, sl = cmd.profit, cmd.stop
    if ref:
        up = side == BUY
        if tp and (tp <= ref if up else tp >= ref):
            raise CeresError(ErrorCode.TPSL_WRONG_SIDE, "take-profit must be above the price for a buy, "
                             "below it for a sell", "profit_value")
        if sl and (sl >= ref if up else sl <= ref):
            raise CeresError(ErrorCode.TPSL_WRONG_SIDE, "stop-loss must be below the price for a buy, "
                             "above it for a sell", "stop_value")
    book = eng.books[inst.exchange, inst.contract]
    limit = price if cmd.price_type == LIMIT else None
    crossing, left = _cross_notional(book, inst, side, limit, cmd.vol)
    notional = crossing + (inst.notional(left, price) if limit is not None and left else 0)
    need = ceil_div(notional, lever) + notional * inst.freeze_rate // RATE_SCALE
    bal = product.balance(inst.exchange, CONTRACT, inst.settle)
    if bal is None or bal.total - bal.frozen < need:
        have = 0 if bal is None else bal.total - bal.frozen
        raise CeresError(ErrorCode.INSUFFICIENT_BALANCE,
                         f"insufficient {inst.settle} in the contract account: need "
                         f"{inst.fmt_settle(need)}, available {inst.fmt_settle(have)}")
    order = Order(eng.ids.next(eng.now), product, inst, side, cmd.price_type, price, cmd.vol,
                  cmd.client_oid, eng.now, OPEN, lever, tp, sl)
    order.pay = order.recv = product.account(inst.exchange, CONTRACT).bal(inst.settle)
    order.pay.frozen += need
    order.frozen = need
    eng.events.append(OrderEvent(order, SUBMITTED, 0, 0, 0, 0, 0, eng.seq))
    _run(eng, order, book)
    return order.oid


def _pending_event(eng, order: Order) -> None:
    """messageType 2 for a resting opening order: its margin and estimated liquidation."""
    inst = order.inst
    rest = order.vol - order.filled
    if order.status > PART_FILLED or not rest:
        margin = force = 0
    else:
        cost = inst.notional(rest, order.price)
        margin = ceil_div(cost, order.lever)
        force = force_price(inst, LONG if order.side == BUY else SHORT, rest, cost, margin)
    eng.events.append(PositionEvent("PENDING", order.product.name, inst, order.oid, 0, force, margin,
                                    order.profit, order.stop, rest, eng.seq))


def _run(eng, order: Order, book) -> None:
    """Match a new contract order, then rest it (limit) or finish it (market)."""
    spot.match(eng, order, book, fill)
    if order.ptype == LIMIT:
        if order.status <= PART_FILLED:
            book.side_of(order.side).add(order, order.vol - order.filled)
            eng.register_open(order)
            if order.fdir == OPEN:
                _pending_event(eng, order)
    else:
        finish_market(eng, order)


def finish_market(eng, order: Order) -> None:
    if order.status == FILLED:
        return
    _release(eng, order)
    order.status = PART_CANCELED if order.filled else CANCELED
    eng.events.append(OrderEvent(order, order.status, order.filled, order.dealt, order.commission,
                                 0, 0, eng.seq))


def _release(eng, order: Order) -> None:
    """Give back what an ending order still holds: its freeze, or its close reservation."""
    if order.fdir == OPEN:
        if order.frozen:
            spot.release(order)
    else:
        pos = eng.contracts.positions.get(order.deal_id)
        if pos is not None:
            pos.closing -= order.vol - order.filled


def _close(eng, cmd, product, inst: Instrument, price: int) -> list[int]:
    cs = eng.contracts
    side = cmd.side
    closes = LONG if side == SELL else SHORT
    vol = cmd.vol
    if cmd.deal_id:
        pos = product.positions.get(cmd.deal_id)
        if pos is None or pos.inst is not inst:
            raise CeresError(ErrorCode.POSITION_NOT_FOUND, f"no open position {cmd.deal_id} on {inst.contract}",
                             "deal_id")
        if pos.side != closes:
            raise CeresError(ErrorCode.INVALID_VALUE, "sell closes a long position, buy a short one",
                             "entrust_bs")
        if vol > pos.vol - pos.closing:
            raise CeresError(ErrorCode.CLOSE_EXCEEDS_POSITION,
                             f"position {pos.deal_id} has {inst.fmt_vol(pos.vol - pos.closing)} to close",
                             "entrust_vol")
        plan = [(pos, vol)]
    elif cmd.close_rule in (1, 2):
        held = cs.holdings.get((product.name, (inst.exchange, inst.contract), closes), {})
        candidates: Any = (p for p in held.values() if p.vol > p.closing)  # in opening order
        if cmd.close_rule == 2:
            candidates = sorted(candidates, key=lambda p: (_risk_key(p), p.deal_id))
        plan = []
        left = vol
        for p in candidates:
            if not left:
                break
            q = min(left, p.vol - p.closing)
            plan.append((p, q))
            left -= q
        if left:
            raise CeresError(ErrorCode.CLOSE_EXCEEDS_POSITION,
                             f"only {inst.fmt_vol(vol - left)} open on that side to close", "entrust_vol")
    else:
        raise CeresError(ErrorCode.CLOSE_TARGET_MISSING, field="deal_id")
    book = eng.books[inst.exchange, inst.contract]
    oids = []
    for pos, q in plan:
        if pos.deal_id not in cs.positions:  # closed by an earlier order of this request
            continue
        q = min(q, pos.vol - pos.closing)
        if q <= 0:
            continue
        order = Order(eng.ids.next(eng.now), product, inst, side, cmd.price_type, price, q,
                      cmd.client_oid, eng.now, CLOSE, pos.lever, 0, 0, pos.deal_id)
        order.pay = order.recv = pos.bal
        pos.closing += q
        eng.events.append(OrderEvent(order, SUBMITTED, 0, 0, 0, 0, 0, eng.seq))
        _run(eng, order, book)
        oids.append(order.oid)
    return oids


def _risk_key(pos: Position) -> int:
    """Smaller = nearer liquidation: distance from the liquidation price in ticks relative to
    it, compared without division (longs with a higher force price are riskier)."""
    if not pos.force:
        return MAX_PRICE_TICKS
    return -pos.force if pos.side == LONG else pos.force


def fill(eng, maker: Order, taker: Order, price: int, lots: int) -> None:
    inst = maker.inst
    n = inst.notional(lots, price)
    fee_m = spot._charge(maker, n, True)
    fee_t = spot._charge(taker, n, False)
    key = (inst.exchange, inst.settle)
    fees = eng.ledger.fees
    fees[key] = fees.get(key, 0) + fee_m + fee_t
    seq = eng.seq
    dealt = price * lots
    for order, fee in ((maker, fee_m), (taker, fee_t)):
        if order.fdir == OPEN:
            _open_fill(eng, order, lots, n, fee)
        else:
            _close_fill(eng, order, lots, price, n, fee)
        order.filled += lots
        order.dealt += dealt
        order.status = FILLED if order.filled == order.vol else PART_FILLED
        if order.status == FILLED and order.fdir == OPEN and order.frozen:
            _release(eng, order)
        eng.events.append(OrderEvent(order, order.status, order.filled, order.dealt, order.commission,
                                     lots, price, seq))
    if maker.fdir == OPEN:
        _pending_event(eng, maker)  # the resting order's remaining margin changed
    eng.contracts.last[inst.exchange, inst.contract] = price
    eng.events.append(TradeEvent(eng.ids.next(eng.now), eng.now, inst, price, lots, taker.side,
                                 maker, taker, fee_m, fee_t, seq))


def _open_fill(eng, order: Order, lots: int, n: int, fee: int) -> None:
    cs = eng.contracts
    pos = cs.positions.get(order.deal_id) if order.deal_id else None
    if pos is None:
        pos = Position(eng.ids.next(eng.now), order.product, order.inst,
                       LONG if order.side == BUY else SHORT, order.lever, order.profit, order.stop,
                       order.oid, eng.now, order.pay)
        order.deal_id = pos.deal_id
        cs.hold(pos)
    before = order.notional
    order.notional = before + n
    margin = ceil_div(order.notional, order.lever) - ceil_div(before, order.lever)
    pos.vol += lots
    pos.cost += n
    pos.margin += margin
    paid = fee if fee > 0 else 0
    order.frozen -= margin + paid
    bal = order.pay
    bal.total -= fee
    bal.frozen -= paid
    position_changed(eng, pos)


def _close_fill(eng, order: Order, lots: int, price: int, n: int, fee: int) -> None:
    cs = eng.contracts
    pos = cs.positions[order.deal_id]
    inst = pos.inst
    cp = cost_part(pos.cost, lots, pos.vol)
    mp = cost_part(pos.margin, lots, pos.vol)
    gain = pnl(inst, pos.side, cp, n)
    pos.vol -= lots
    pos.cost -= cp
    pos.margin -= mp
    pos.closing -= lots
    pos.realized += gain
    bal = pos.bal
    delta = gain - fee
    if order.oid in cs.liquidating or mp + delta < 0:
        cs.add_insurance(inst, mp + delta)  # liquidation: the rest of the margin; else the deficit
        bal.total -= mp
    else:
        bal.total += delta
    bal.frozen -= mp
    if pos.vol == 0:
        remove(eng, pos)
    else:
        position_changed(eng, pos)


def remove(eng, pos: Position) -> None:
    eng.contracts.release(pos)
    pos.force = 0
    eng.events.append(PositionEvent("POSITION", pos.product.name, pos.inst, pos.oid, pos.deal_id, 0, 0,
                                    pos.tp, pos.sl, 0, eng.seq))


def position_changed(eng, pos: Position) -> None:
    new = pos.armed == -1
    pos.force = force_price(pos.inst, pos.side, pos.vol, pos.cost, pos.margin)
    triggers.arm(eng.contracts, pos, everything=new)
    eng.events.append(PositionEvent("POSITION", pos.product.name, pos.inst, pos.oid, pos.deal_id,
                                    pos.force, pos.margin, pos.tp, pos.sl, pos.vol, eng.seq))


def cancel(eng, order: Order) -> None:
    """Cancel a resting contract order like a spot one (book, status 14/15, freeze, event);
    a close order also gives back its reservation, an opening order announces its margin gone."""
    spot.cancel(eng, order)
    if order.fdir == OPEN:
        _pending_event(eng, order)
    else:
        _release(eng, order)

