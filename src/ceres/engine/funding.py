"""Time-driven contract events: funding of perpetuals and expiry of dated contracts.

They happen on the journaled ``Tick`` command (the server submits one when ``next_due``
says something is due), so a replay sees them at the same moment.

Funding: at each ``funding_interval`` boundary, ``notional(vol, mark) x rate`` moves from
the paying side's position margins to the receiving side's (longs pay when the rate is
positive); payers' amounts are floored and capped at their margin; the difference to what
receivers get (floored too) goes to or comes from the insurance fund. Several boundaries
missed while the server was down are paid once.

Expiry: resting orders are cancelled and every position is settled at the mark (no fee);
the contract then rejects orders with INSTRUMENT_NOT_TRADING.
"""

from __future__ import annotations

from ceres.domain.enums import Kind, ReportKind
from ceres.domain.instruments import RATE_SCALE, Instrument
from ceres.engine import contracts, marks, triggers
from ceres.engine.positions import LONG, SHORT, pnl, pool_term
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
    collected = paid_out = 0
    for pos in sorted((p for p in cs.positions.values() if p.inst is inst), key=lambda p: p.deal_id):
        amount = inst.notional(pos.vol, m) * r // RATE_SCALE
        if not amount:
            continue
        if pos.side == payers_side:
            amount = min(amount, pos.margin)
            pos.margin -= amount
            pos.bal.spend(amount)
            collected += amount
        else:
            pos.margin += amount
            pos.bal.credit_reserved(amount)
            paid_out += amount
        contracts.position_changed(state, pos)
    cs.add_insurance(inst, collected - paid_out)


def _expire(state: State, inst: Instrument) -> None:
    cs = state.contracts
    key = (inst.exchange, inst.contract)
    book = state.books[key]
    m = marks.mark(state, inst)  # the mark at expiry, before cancelling removes the book mid
    for order in list(book.resting()):
        contracts.cancel(state, order, EXPIRED)
    before = sum(pool_term(inst, p.side, p.cost) for p in cs.positions.values() if p.inst is inst)
    moved = 0
    for pos in sorted((p for p in cs.positions.values() if p.inst is inst), key=lambda p: p.deal_id):
        gain = pnl(inst, pos.side, pos.cost, inst.notional(pos.vol, m)) if m else 0
        pos.realized += gain
        if pos.margin + gain < 0:
            cs.add_insurance(inst, pos.margin + gain)
            moved += pos.margin + gain
            pos.bal.spend(pos.margin)
            moved -= pos.margin
        else:
            pos.bal.settle(-gain, pos.margin)
            moved += gain
        pos.vol = pos.cost = pos.margin = 0
        contracts.remove(state, pos)
    cs.add_insurance(inst, before - moved)  # rounding of inverse notionals (0 for linear)
    cs.expired.add(key)

