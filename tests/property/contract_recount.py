"""Independent checks after every command of a contract stream (``contract_streams``).

From the test's own record of deposits and withdrawals and a recount of the engine's
balances, fees, insurance funds and positions:

* no balance or freeze negative, frozen within total; the insurance fund never negative;
* conservation: balances + fees + insurance + open-PnL pool == deposits - withdrawals
  + what the venue covered; the engine's money audit (``engine.audit``) shows exactly
  these figures and says the identity holds;
* force prices as the formula gives, open interest balanced;
* no trigger left undone: no position is left with its liquidation price, TP or SL
  reached at the mark while the book holds orders it could close into, unless those
  orders all lie beyond the position's fund limit (the documented condition, evaluated
  here with exact fractions) and, for a liquidation, no opposite position could take its
  lots by ADL without losing more than its margin.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from ceres.domain import commands as C
from ceres.domain.events import OrderEvent, TradeEvent
from ceres.domain.instruments import RATE_SCALE
from ceres.engine import marks
from ceres.engine.audit import audit
from ceres.engine.core import Engine
from ceres.engine.positions import LONG, Position, bankruptcy_price, close_result, cost_part, force_price, pool_term
from contract_helpers import exact_notional


def within_fund_limit(pos: Position, fund: int, price: int) -> bool:
    """``M + PnL(N(p)) - max(taker, 0) x N(p) >= 2V - F`` with the unrounded notional."""
    inst = pos.inst
    n = exact_notional(inst, pos.vol, price)
    gain = n - pos.cost if (pos.side == LONG) != inst.inverse else pos.cost - n
    fee = Fraction(max(inst.taker_rate, 0), RATE_SCALE) * n
    return pos.margin + gain - fee >= 2 * pos.vol - fund


def adl_possible(eng: Engine, pos: Position) -> bool:
    """Whether some opposite position could take lots of ``pos`` at its bankruptcy price
    without losing more than their margin."""
    inst = pos.inst
    for other in eng.contracts.positions.values():
        if other.inst is not inst or other.side == pos.side or other.vol <= other.closing:
            continue
        q = min(pos.vol, other.vol - other.closing)
        price = bankruptcy_price(inst, pos.side, q, cost_part(pos.cost, q, pos.vol), cost_part(pos.margin, q, pos.vol))
        if close_result(inst, other.side, q, cost_part(other.cost, q, other.vol),
                        cost_part(other.margin, q, other.vol), price) >= 0:
            return True
    return False


class Recount:
    """Call after every command with the command and its result (or error name)."""

    def __init__(self, eng: Engine) -> None:
        self.eng = eng
        self.deposits: dict[str, int] = {}
        self.withdrawals: dict[str, int] = {}
        self.stats = {"trades": 0, "liquidations": 0, "tpsl": 0, "rejects": 0, "funding": 0, "adl": 0,
                      "held back": 0, "venue cover": 0}
        self.last_insurance: dict = {}
        self.excused: set[int] = set()
        self.fund_checked: dict[str, int] = {}  # contract -> the fund when its triggers last ran

    def check_triggers_done(self, cmd: C.Command) -> None:
        """Module docstring. Also excused: a position whose own opening order rests on the
        side its close trades into. With no self-trade prevention the trigger close trades
        against that order, whose fills add the lots straight back, so the position can stay
        open though the close "filled"; such positions are excused from then on."""
        eng = self.eng
        self.excused |= {e.taker_deal for e in eng.events if isinstance(e, TradeEvent)
                         and e.maker.fdir == 1 and e.maker_deal == e.taker_deal}
        for pos in eng.contracts.positions.values():
            if pos.deal_id in self.excused or pos.oid in eng.open_orders:
                continue
            m = marks.mark(eng, pos.inst)
            if m is None:
                continue
            book = eng.books[pos.inst.key]
            if pos.side == LONG:
                liq = bool(pos.force and m <= pos.force)
                due = liq or (pos.tp and m >= pos.tp) or (pos.sl and m <= pos.sl)
                best = book.bids.best()
            else:
                liq = bool(pos.force and m >= pos.force)
                due = liq or (pos.tp and m <= pos.tp) or (pos.sl and m >= pos.sl)
                best = book.asks.best()
            if not due or best is None:
                continue
            fund = self.fund_checked[pos.inst.contract]
            assert not within_fund_limit(pos, fund, best), (cmd, pos, m, pos.tp, pos.sl, best)
            assert not (liq and adl_possible(eng, pos)), (cmd, pos, m)
            self.stats["held back"] += 1

    def note_checked(self, cmd: C.Command, result: Any) -> None:
        """Remember the fund (shared by the contracts settling in one currency) as it was
        when a command last ran a contract's triggers: a place, a cancel, an index on that
        contract, or a Tick (the perpetuals)."""
        eng = self.eng
        if isinstance(result, str):
            return  # refused: changed nothing
        checked: set[str] = set()
        if isinstance(cmd, C.SetIndex) or (isinstance(cmd, C.Place) and eng.events):
            checked.add(cmd.contract)  # (a place answered from its client_oid did nothing)
        elif isinstance(cmd, C.Cancel):
            checked |= {e.spec.inst.contract for e in eng.events if isinstance(e, OrderEvent)}
        elif isinstance(cmd, C.Tick):
            checked |= {i.contract for i in eng.instruments.values() if i.funding_interval_ms}
        for contract in checked:
            inst = eng.instruments["TEST", contract]
            self.fund_checked[contract] = eng.contracts.insurance.get((inst.exchange, inst.settle), 0)

    def check_money(self, cmd: C.Command) -> None:
        eng = self.eng
        held: dict[str, int] = {}
        fees: dict[str, int] = {}
        insurance: dict[str, int] = {}
        pool: dict[str, int] = {}
        for p in eng.products.values():
            for _acc, cur, bal in p.iter_balances():
                assert 0 <= bal.frozen <= bal.total, (cmd, p.name, cur, bal)
                held[cur] = held.get(cur, 0) + bal.total
        for (_, cur), amount in eng.ledger.fees.items():
            fees[cur] = fees.get(cur, 0) + amount
        for (_, cur), amount in eng.contracts.insurance.items():
            assert amount >= 0, (cmd, cur, amount)
            insurance[cur] = insurance.get(cur, 0) + amount
        for pos in eng.contracts.positions.values():
            inst = pos.inst
            pool[inst.settle] = pool.get(inst.settle, 0) + pool_term(inst, pos.side, pos.cost)
        covered = {cur: a for (_, cur), a in eng.ledger.covered.items()}
        self.stats["venue cover"] += sum(covered.values())
        for cur, a in audit(eng).items():
            net = self.deposits.get(cur, 0) - self.withdrawals.get(cur, 0) + covered.get(cur, 0)
            figures = (a.balances, a.fees, a.insurance, a.pnl_pool, a.deposits, a.withdrawals, a.topups, a.carried)
            assert figures == (held.get(cur, 0), fees.get(cur, 0), insurance.get(cur, 0), pool.get(cur, 0),
                               self.deposits.get(cur, 0), self.withdrawals.get(cur, 0), 0, 0), (cmd, a)
            assert a.held == net == a.net_deposits and a.ok, (cmd, a)

    def __call__(self, cmd: C.Command, result: Any) -> None:
        eng = self.eng
        problems = eng.check()
        assert problems == [], (cmd, problems)
        if isinstance(result, str):
            self.stats["rejects"] += 1
        elif isinstance(cmd, C.Deposit):
            self.deposits[cmd.currency] = self.deposits.get(cmd.currency, 0) + cmd.amount
        elif isinstance(cmd, C.Withdraw):
            self.withdrawals[cmd.currency] = self.withdrawals.get(cmd.currency, 0) + cmd.amount
        self.check_money(cmd)
        net: dict[tuple[str, str], int] = {}
        for pos in eng.contracts.positions.values():
            inst = pos.inst
            assert pos.force == force_price(inst, pos.side, pos.vol, pos.cost, pos.margin)
            assert 0 <= pos.closing <= pos.vol and pos.margin >= 0 and pos.cost > 0
            net[inst.key] = net.get(inst.key, 0) + (pos.vol if pos.side == LONG else -pos.vol)
        assert all(v == 0 for v in net.values()), net
        self.note_checked(cmd, result)
        self.check_triggers_done(cmd)
        for e in eng.events:
            if isinstance(e, TradeEvent):
                self.stats["trades"] += 1
            elif isinstance(e, OrderEvent) and e.status == 3 and e.spec.client_oid == "liquidation":
                self.stats["liquidations"] += 1
            elif isinstance(e, OrderEvent) and e.status == 3 and e.spec.client_oid == "adl":
                self.stats["adl"] += 1
            elif isinstance(e, OrderEvent) and e.status == 3 and e.spec.client_oid in ("take-profit", "stop-loss"):
                self.stats["tpsl"] += 1
        if isinstance(cmd, C.Tick) and eng.contracts.insurance != self.last_insurance:
            self.stats["funding"] += 1
        self.last_insurance = dict(eng.contracts.insurance)
        eng.take_events()
