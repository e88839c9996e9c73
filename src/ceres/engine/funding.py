"""Time-driven contract events: funding of perpetuals and expiry of dated contracts.

They happen on the journaled ``Tick`` command (the server submits one when ``next_due``
says something is due), so a replay sees them at the same moment.

Funding: at each ``funding_interval`` boundary, ``notional(vol, mark) x rate`` moves from
the paying side's position margins to the receiving side's (longs pay when the rate is
positive); payers' amounts are floored and capped at their margin; the difference to what
receivers get (floored too) goes to or comes from the insurance fund. When the payers and
the fund together hold less than the receivers are owed, each receiver gets
``floor(amount x available / owed)``, so funding never draws the fund below zero. Several
boundaries missed while the server was down are paid once.

Expiry: resting orders are cancelled and every position is settled at the mark (no fee);
the contract then rejects orders with INSTRUMENT_NOT_TRADING. A position that would lose
more than its margin at the mark is covered by the insurance fund as far as it holds
(positions in deal order); the lots it cannot cover are first auto-deleveraged at their
bankruptcy price (``engine.liquidation``), and only what nobody can take settles at the
mark with the fund (then the venue) covering it.
"""

from __future__ import annotations

from ceres.domain.enums import Kind, ReportKind
from ceres.domain.instruments import RATE_SCALE, Instrument
from ceres.engine import contracts, liquidation, marks, triggers
from ceres.engine.positions import LONG, SHORT, Position, close_result, cost_part, pnl, pool_term
from ceres.engine.state import State

EXPIRED = int(ReportKind.EXPIRED)


def tick(state: State) -> None:
    """Time-driven events due at ``state.now``: funding boundaries and expiries."""
    now = state.now
    for key, inst in state.instruments.items():
        if not inst.is_contract or key in state.contracts.expired:
            continue
        if inst.kind == Kind.DATED and now >= inst.expiry_ms:
            _expire(state, inst)
        elif inst.kind == Kind.PERPETUAL and inst.funding_interval_ms:
            boundary = now // inst.funding_interval_ms * inst.funding_interval_ms
            last = state.contracts.last_funding.get(key)
            state.contracts.last_funding[key] = boundary
            if last is not None and boundary > last:
                _fund(state, inst)
            triggers.check_triggers(state, inst)


def next_due(state: State) -> int | None:
    """The earliest time (ms) at which ``tick`` has something to do, if any."""
    due = None
    for key, inst in state.instruments.items():
        if not inst.is_contract or key in state.contracts.expired:
            continue
        if inst.kind == Kind.DATED:
            t = inst.expiry_ms
        elif inst.funding_interval_ms:
            last = state.contracts.last_funding.get(key)
            t = state.now if last is None else last + inst.funding_interval_ms
        else:
            continue
        due = t if due is None or t < due else due
    return due


def _fund(state: State, inst: Instrument) -> None:
    cs = state.contracts
    key = (inst.exchange, inst.contract)
    m = marks.mark(state, inst)
    rate = cs.funding_rates.get(key, inst.funding_rate_e8)
    if m is None or rate == 0:
        return
    payers_side = LONG if rate > 0 else SHORT
    r = abs(rate)
    due = [(p, inst.notional(p.vol, m) * r // RATE_SCALE)
           for p in sorted((p for p in cs.positions.values() if p.inst is inst), key=lambda p: p.deal_id)]
    collected = sum(min(amount, p.margin) for p, amount in due if p.side == payers_side)
    owed = sum(amount for p, amount in due if p.side != payers_side)
    available = collected + max(cs.insurance.get((inst.exchange, inst.settle), 0), 0)
    paid_out = 0
    for pos, amount in due:
        if pos.side == payers_side:
            amount = min(amount, pos.margin)
        elif owed > available:  # the fund cannot make up the difference: pro rata
            amount = amount * available // owed
        if not amount:
            continue
        if pos.side == payers_side:
            pos.margin -= amount
            pos.bal.spend(amount)
        else:
            pos.margin += amount
            pos.bal.credit_reserved(amount)
            paid_out += amount
        contracts.position_changed(state, pos)
    cs.add_insurance(inst, collected - paid_out, state.ledger)


def _expire(state: State, inst: Instrument) -> None:
    cs = state.contracts
    key = (inst.exchange, inst.contract)
    book = state.books[key]
    m = marks.mark(state, inst)  # the mark at expiry, before cancelling removes the book mid
    for order in list(book.resting()):
        contracts.cancel(state, order, EXPIRED)
    if m:
        _deleverage_shortfalls(state, inst, m)
    before = sum(pool_term(inst, p.side, p.cost) for p in cs.positions.values() if p.inst is inst)
    moved = 0
    for pos in sorted((p for p in cs.positions.values() if p.inst is inst), key=lambda p: p.deal_id):
        gain = pnl(inst, pos.side, pos.cost, inst.notional(pos.vol, m)) if m else 0
        pos.realized += gain
        if pos.margin + gain < 0:
            cs.add_insurance(inst, pos.margin + gain, state.ledger)
            moved += pos.margin + gain
            pos.bal.spend(pos.margin)
            moved -= pos.margin
        else:
            pos.bal.settle(-gain, pos.margin)
            moved += gain
        pos.vol = pos.cost = pos.margin = 0
        contracts.remove(state, pos)
    cs.add_insurance(inst, before - moved, state.ledger)  # rounding of inverse notionals (0 for linear)
    cs.expired.add(key)


def _deleverage_shortfalls(state: State, inst: Instrument, m: int) -> None:
    """Before settling at the mark ``m``: positions whose loss beyond their margin the fund
    cannot cover (in deal order, the fund's remainder going to the earlier ones) are
    auto-deleveraged for the lots it cannot cover (``engine.liquidation``)."""
    cs = state.contracts
    budget = max(cs.insurance.get((inst.exchange, inst.settle), 0), 0)
    for pos in sorted((p for p in cs.positions.values() if p.inst is inst), key=lambda p: p.deal_id):
        while pos.deal_id in cs.positions:
            deficit = -close_result(inst, pos.side, pos.vol, pos.cost, pos.margin, m)
            if deficit <= budget:
                budget -= max(deficit, 0)
                break
            keep = _coverable(inst, pos, m, budget)
            if not liquidation.deleverage(state, pos, pos.vol - keep, m):
                break  # nobody can take the rest: the fund (then the venue) covers it


def _coverable(inst: Instrument, pos: Position, m: int, budget: int) -> int:
    """The most lots of ``pos`` (fewer than all) whose settlement at ``m`` the budget covers."""
    lo, hi = 0, pos.vol  # settling 0 lots costs nothing; all of them costs more than budget
    while hi - lo > 1:
        mid = (lo + hi) // 2
        cp, mp = cost_part(pos.cost, mid, pos.vol), cost_part(pos.margin, mid, pos.vol)
        if -close_result(inst, pos.side, mid, cp, mp, m) <= budget:
            lo = mid
        else:
            hi = mid
    return lo
