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

from ceres.domain.enums import Kind
from ceres.domain.instruments import RATE_SCALE, Instrument
from ceres.engine import contracts, triggers
from ceres.engine.positions import LONG, SHORT, pnl, pool_term


def tick(eng) -> None:
    """Time-driven events due at ``eng.now``: funding boundaries and expiries."""
    now = eng.now
    for key, inst in eng.instruments.items():
        if not inst.is_contract or key in eng.contracts.expired:
            continue
        if inst.kind == Kind.DATED and now >= inst.expiry_ms:
            _expire(eng, inst)
        elif inst.kind == Kind.PERPETUAL and inst.funding_interval_ms:
            boundary = now // inst.funding_interval_ms * inst.funding_interval_ms
            last = eng.contracts.last_funding.get(key)
            eng.contracts.last_funding[key] = boundary
            if last is not None and boundary > last:
                _fund(eng, inst)
            triggers.check_triggers(eng, inst)


def next_due(eng) -> int | None:
    """The earliest time (ms) at which ``tick`` has something to do, if any."""
    due = None
    for key, inst in eng.instruments.items():
        if not inst.is_contract or key in eng.contracts.expired:
            continue
        if inst.kind == Kind.DATED:
            t = inst.expiry_ms
        elif inst.funding_interval_ms:
            last = eng.contracts.last_funding.get(key)
            t = eng.now if last is None else last + inst.funding_interval_ms
        else:
            continue
        due = t if due is None or t < due else due
    return due


def _fund(eng, inst: Instrument) -> None:
    cs = eng.contracts
    key = (inst.exchange, inst.contract)
    m = triggers.mark(eng, inst)
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
            pos.bal.total -= amount
            pos.bal.frozen -= amount
            collected += amount
        else:
            pos.margin += amount
            pos.bal.total += amount
            pos.bal.frozen += amount
            paid_out += amount
        contracts.position_changed(eng, pos)
    cs.add_insurance(inst, collected - paid_out)


def _expire(eng, inst: Instrument) -> None:
    cs = eng.contracts
    key = (inst.exchange, inst.contract)
    book = eng.books[key]
    m = triggers.mark(eng, inst)  # the mark at expiry, before cancelling removes the book mid
    for order in list(book.resting()):
        contracts.cancel(eng, order)
    before = sum(pool_term(inst, p.side, p.cost) for p in cs.positions.values() if p.inst is inst)
    moved = 0
    for pos in sorted((p for p in cs.positions.values() if p.inst is inst), key=lambda p: p.deal_id):
        gain = pnl(inst, pos.side, pos.cost, inst.notional(pos.vol, m)) if m else 0
        pos.realized += gain
        bal = pos.bal
        if pos.margin + gain < 0:
            cs.add_insurance(inst, pos.margin + gain)
            moved += pos.margin + gain
            bal.total -= pos.margin
            moved -= pos.margin
        else:
            bal.total += gain
            moved += gain
        bal.frozen -= pos.margin
        pos.vol = pos.cost = pos.margin = 0
        contracts.remove(eng, pos)
    cs.add_insurance(inst, before - moved)  # rounding of inverse notionals (0 for linear)
    cs.expired.add(key)

