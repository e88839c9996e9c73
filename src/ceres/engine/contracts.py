"""Leveraged contracts on the simulated venue: opening and closing orders, their fills
and cancels. Pure and deterministic like the rest of the engine.

Opening (``future_dir=open``; buy opens a long, sell a short). Admission walks the book
to price the part that would cross at once (exact fill prices), adds the resting part at
the limit price, and freezes in the contract account (type 4, settle currency)
``ceil(notional / lever) + floor(notional x max fee rate)``. Each fill moves
``ceil(cum / lever) - ceil(cum_before / lever)`` of the freeze into the order's position
as margin (``cum`` = notional of the order's fills so far, so margins never exceed the
freeze) and pays its fee; what is left is released when the order ends. A market
opening order with nothing to match is accepted and ends at once (15).

Closing (``future_dir=close`` or ``trade/close``; sell closes longs, buy shorts). With
``deal_id`` one order closes that position; otherwise ``close_rule`` TIME (oldest
first) or RISK (nearest liquidation first) spreads the volume over the product's
positions on that side, one order per position. Closing more than is open (minus what
other close orders already reserve) is CLOSE_EXCEEDS_POSITION. A closing fill releases
its share of margin and credits ``PnL - fee``; a loss beyond the margin is capped there
and the rest is charged to the venue's insurance fund (isolated margin), which never goes
negative (``ContractState.add_insurance``).

A liquidation (``engine.liquidation``) closes like any closing order, except that the
position's remaining margin goes to the insurance fund. Mark price and trigger heaps are
in ``engine.marks``, firing them in ``engine.triggers``; funding and expiry in
``engine.funding``. Both ``open_`` and ``close`` decide everything that can refuse the
command before they change anything.
"""

from __future__ import annotations

from collections.abc import Iterable

from ceres.domain import commands as C
from ceres.domain.enums import AccountType, CloseRule, FutureDir, OrderStatus, PriceType, ReportKind, Side
from ceres.domain.errors import CeresError, ErrorCode
from ceres.domain.events import OrderSpec, TradeEvent
from ceres.domain.instruments import MAX_PRICE_TICKS, RATE_SCALE, Instrument
from ceres.domain.money import ceil_div
from ceres.engine import lifetime, marks, matching, spot
from ceres.engine.book import OrderBook
from ceres.engine.ledger import Balance, Product
from ceres.engine.orders import Order
from ceres.engine.positions import LONG, SHORT, Position, cost_part, force_price, pnl
from ceres.engine.state import State

BUY, SELL = int(Side.BUY), int(Side.SELL)
LIMIT = int(PriceType.LIMIT)
OPEN, CLOSE = int(FutureDir.OPEN), int(FutureDir.CLOSE)
PART_FILLED, FILLED = int(OrderStatus.PART_FILLED), int(OrderStatus.FILLED)
CONTRACT = int(AccountType.CONTRACT)
ACCEPTED, FILL = int(ReportKind.ACCEPTED), int(ReportKind.FILL)
BY_TIME, BY_RISK = int(CloseRule.TIME), int(CloseRule.RISK)


def margin_balance(product: Product, inst: Instrument) -> Balance:
    """The contract-account balance (settle currency) a contract order pays from."""
    return product.account(inst.exchange, CONTRACT).bal(inst.settle)


def check_trading(state: State, inst: Instrument) -> None:
    """INSTRUMENT_NOT_TRADING once a dated contract has expired."""
    if (inst.exchange, inst.contract) in state.contracts.expired or (inst.expiry_ms and state.now >= inst.expiry_ms):
        raise CeresError(ErrorCode.INSTRUMENT_NOT_TRADING, f"{inst.contract} has expired", "contract")


def place(state: State, cmd: C.Place, product: Product, inst: Instrument, price: int,
          tif: int) -> int | list[int]:
    """Admit and execute a contract order whose fields ``Engine`` has checked (one
    order, or one per position it closes)."""
    if cmd.future_dir == OPEN:
        return open_(state, cmd, product, inst, price, tif)
    if cmd.future_dir == CLOSE:
        return close(state, cmd, product, inst, price, tif)
    raise CeresError(ErrorCode.INVALID_VALUE, "must be open or close on a contract", "future_dir")


def _cross_notional(book: OrderBook, inst: Instrument, side: int, limit: int | None, vol: int) -> int:
    """Notional of what would fill at once walking the opposite side, plus the rest of
    ``vol`` at the limit price (a limit order rests it there)."""
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
    if limit is not None and left:
        total += inst.notional(left, limit)
    return total


def check_tpsl(side: int, ref: int | None, tp: int, sl: int) -> None:
    """TPSL_WRONG_SIDE unless take-profit and stop-loss lie on their sides of ``ref`` (the
    order's price, or the mark for a market order; nothing to check without one)."""
    if not ref:
        return
    up = side == BUY
    if tp and (tp <= ref if up else tp >= ref):
        raise CeresError(ErrorCode.TPSL_WRONG_SIDE, "take-profit must be above the price for a buy, "
                         "below it for a sell", "profit_value")
    if sl and (sl >= ref if up else sl <= ref):
        raise CeresError(ErrorCode.TPSL_WRONG_SIDE, "stop-loss must be below the price for a buy, "
                         "above it for a sell", "stop_value")


def open_(state: State, cmd: C.Place, product: Product, inst: Instrument, price: int, tif: int) -> int:
    lever = cmd.lever
    if not 1 <= lever <= inst.max_lever:
        raise CeresError(ErrorCode.LEVER_OUT_OF_RANGE, f"must be 1..{inst.max_lever}", "lever")
    side = cmd.side
    tp, sl = cmd.profit, cmd.stop
    check_tpsl(side, price or marks.mark(state, inst), tp, sl)
    book = state.books[inst.exchange, inst.contract]
    notional = _cross_notional(book, inst, side, price if cmd.price_type == LIMIT else None, cmd.vol)
    need = ceil_div(notional, lever) + notional * inst.freeze_rate // RATE_SCALE
    bal = product.balance(inst.exchange, CONTRACT, inst.settle)
    if bal is None or not bal.reserve(need):
        have = 0 if bal is None else bal.total - bal.frozen
        raise CeresError(ErrorCode.INSUFFICIENT_BALANCE,
                         f"insufficient {inst.settle} in the contract account: need "
                         f"{inst.fmt_settle(need)}, available {inst.fmt_settle(have)}")
    # --- decided (and funded): nothing below refuses the order ----------------------------
    oid = state.ids.next(state.now)
    order = Order(OrderSpec(oid, product.name, inst, side, cmd.price_type, price, cmd.vol, cmd.client_oid,
                            state.now, tif, OPEN, lever, tp, sl, 0, cmd.stp), product, bal, bal)
    order.reserved = need
    state.order_event(order, ACCEPTED)
    if matching.execute(state, order, book, fill, left_book):
        pending_event(state, order)
    return oid


def pending_event(state: State, order: Order) -> None:
    """messageType 2 for a resting opening order: its margin and estimated liquidation."""
    spec = order.spec
    inst = spec.inst
    rest = spec.vol - order.filled
    if order.status > PART_FILLED or not rest:
        margin = force = 0
    else:
        cost = inst.notional(rest, spec.price)
        margin = ceil_div(cost, spec.lever)
        force = force_price(inst, LONG if spec.side == BUY else SHORT, rest, cost, margin)
    state.position_event("PENDING", order.product, inst, spec.oid, 0, force, margin, spec.profit, spec.stop,
                         rest)


def close(state: State, cmd: C.Place, product: Product, inst: Instrument, price: int,
          tif: int) -> list[int]:
    cs = state.contracts
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
    elif cmd.close_rule in (BY_TIME, BY_RISK):
        held = cs.holdings.get((product.name, (inst.exchange, inst.contract), closes), {})
        candidates: Iterable[Position] = (p for p in held.values() if p.vol > p.closing)  # opening order
        if cmd.close_rule == BY_RISK:
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
    # --- decided: nothing below refuses the order -----------------------------------------
    book = state.books[inst.exchange, inst.contract]
    oids = []
    for pos, planned in plan:
        if pos.deal_id not in cs.positions:  # closed by an earlier order of this request
            continue
        q = min(planned, pos.vol - pos.closing)
        if q <= 0:
            continue
        order = close_order(state, pos, side, cmd.price_type, price, q, cmd.client_oid, tif, cmd.stp)
        matching.execute(state, order, book, fill, left_book)
        oids.append(order.spec.oid)
    return oids


def close_order(state: State, pos: Position, side: int, ptype: int, price: int, lots: int,
                client_oid: str, tif: int, stp: int = 0) -> Order:
    """A new order closing ``lots`` of ``pos`` (reserved on the position), announced."""
    order = Order(OrderSpec(state.ids.next(state.now), pos.product.name, pos.inst, side, ptype, price, lots,
                            client_oid, state.now, tif, CLOSE, pos.lever, 0, 0, pos.deal_id, stp), pos.product,
                  pos.bal, pos.bal)
    pos.closing += lots
    state.order_event(order, ACCEPTED)
    return order


def _risk_key(pos: Position) -> int:
    """Smaller = nearer liquidation: distance from the liquidation price in ticks relative to
    it, compared without division (longs with a higher force price are riskier)."""
    if not pos.force:
        return MAX_PRICE_TICKS
    return -pos.force if pos.side == LONG else pos.force


def fill(state: State, maker: Order, taker: Order, price: int, lots: int, priced: bool = True) -> None:
    """One fill between two contract orders: fees, both sides' positions and PnL, order
    events, the trade. ``priced`` False: an ADL execution (``engine.liquidation``), with no
    fee and no new last price."""
    mspec, tspec = maker.spec, taker.spec
    inst = mspec.inst
    n = inst.notional(lots, price)
    if priced:
        fee_m = spot.charge(maker, n, True)
        fee_t = spot.charge(taker, n, False)
        state.ledger.collect_fee(inst.exchange, inst.settle, fee_m + fee_t)
    else:
        fee_m = fee_t = 0
    dealt = price * lots
    for order, fee in ((maker, fee_m), (taker, fee_t)):
        opening = order.spec.fdir == OPEN
        if opening:
            _open_fill(state, order, lots, n, fee)
        else:
            _close_fill(state, order, lots, n, fee)
        order.filled += lots
        order.dealt += dealt
        order.status = FILLED if order.filled == order.spec.vol else PART_FILLED
        if order.status == FILLED and opening:
            lifetime.release(state, order)
        state.order_event(order, FILL, lots, price)
    if mspec.fdir == OPEN:
        pending_event(state, maker)  # the resting order's remaining margin changed
    if priced:
        state.contracts.last[inst.exchange, inst.contract] = price
    state.events.append(TradeEvent(state.ids.next(state.now), state.now, inst, price, lots, tspec.side,
                                   mspec, tspec, fee_m, fee_t, state.seq, maker.deal_id, taker.deal_id))


def _open_fill(state: State, order: Order, lots: int, n: int, fee: int) -> None:
    cs = state.contracts
    spec = order.spec
    pos = cs.positions.get(order.deal_id) if order.deal_id else None
    if pos is None:
        pos = Position(state.ids.next(state.now), order.product, spec.inst, LONG if spec.side == BUY else SHORT,
                       spec.lever, spec.profit, spec.stop, spec.oid, state.now, order.pay)
        order.deal_id = pos.deal_id
        cs.hold(pos)
    before = order.notional
    order.notional = before + n
    margin = ceil_div(order.notional, spec.lever) - ceil_div(before, spec.lever)
    pos.vol += lots
    pos.cost += n
    pos.margin += margin
    paid = fee if fee > 0 else 0
    order.reserved -= margin + paid
    order.pay.settle(fee, paid)  # the fee leaves; the margin stays frozen, now the position's
    position_changed(state, pos)


def _close_fill(state: State, order: Order, lots: int, n: int, fee: int) -> None:
    cs = state.contracts
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
    delta = gain - fee
    if order.spec.oid in cs.liquidating or mp + delta < 0:
        cs.add_insurance(inst, mp + delta, state.ledger)  # liquidation: the rest of the margin; else the deficit
        pos.bal.spend(mp)
    else:
        pos.bal.settle(-delta, mp)
    if pos.vol == 0:
        remove(state, pos)
    else:
        position_changed(state, pos)


def remove(state: State, pos: Position) -> None:
    state.contracts.release(pos)
    pos.force = 0
    state.position_event("POSITION", pos.product, pos.inst, pos.oid, pos.deal_id, 0, 0, pos.tp, pos.sl, 0)


def position_changed(state: State, pos: Position) -> None:
    new = pos.armed == -1
    pos.force = force_price(pos.inst, pos.side, pos.vol, pos.cost, pos.margin)
    marks.arm(state.contracts, pos, everything=new)
    state.position_event("POSITION", pos.product, pos.inst, pos.oid, pos.deal_id, pos.force, pos.margin,
                         pos.tp, pos.sl, pos.vol)


def cancel(state: State, order: Order, kind: int, reason: str = "") -> None:
    """Cancel a resting contract order like a spot one (book, status 14/15, freeze or close
    reservation, event); an opening order also announces its margin gone."""
    lifetime.cancel(state, order, kind, reason)
    left_book(state, order)


def left_book(state: State, order: Order) -> None:
    """A resting order has left the book (cancelled, or by self-trade prevention)."""
    if order.spec.fdir == OPEN:
        pending_event(state, order)
