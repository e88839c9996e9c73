"""The engine and the naive reference exchange agree on random command streams:
accept/reject per command, every event (fills with prices, lots, maker/taker and fees;
status changes), resting orders, balances and fee income. After each stream the engine is
internally consistent and every currency is conserved."""

from __future__ import annotations

from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, event, given, settings
from naive_exchange import NaiveExchange
from streams import DECIMALS, SPECS, new_engine, run_stream

from ceres.domain import commands as C
from ceres.domain.errors import ErrorCode
from ceres.domain.events import OrderEvent, TradeEvent
from ceres.engine.core import CancelResult, Engine


def engine_balances(eng: Engine) -> dict:
    return {(name, venue, typ, cur): (b.total, b.frozen)
            for name, p in eng.products.items()
            for (venue, typ), acc in p.accounts.items()
            for cur, b in acc.balances.items() if (b.total, b.frozen) != (0, 0)}


class Comparer:
    """Feeds each engine command to the naive exchange and compares the outcomes."""

    def __init__(self, eng: Engine) -> None:
        self.eng = eng
        self.ref = NaiveExchange(SPECS, DECIMALS)
        self.nid: dict[int, int] = {}  # engine order id -> naive order number
        self.last_id = eng.ids.last
        self.deposits: dict[str, int] = {}
        self.trades = 0
        self.rejects = 0

    def naive(self, cmd: C.Command) -> Any:
        ref = self.ref
        if isinstance(cmd, C.Place):
            return ref.place(cmd.product, cmd.contract, cmd.side, cmd.price_type, cmd.price,
                             cmd.vol, cmd.client_oid)
        if isinstance(cmd, C.Cancel):
            ok, failed = ref.cancel(cmd.product, [self.nid.get(i) for i in cmd.ids])
            return [cmd.ids[i] for i in ok], [cmd.ids[i] for i in failed]
        if isinstance(cmd, C.Deposit):
            return ref.deposit(cmd.product, cmd.currency, cmd.amount)
        if isinstance(cmd, C.Withdraw):
            return ref.withdraw(cmd.product, cmd.currency, cmd.amount)
        move = ref.to_spot if cmd.from_type == 2 else ref.to_settle
        return move(cmd.product, cmd.currency, cmd.amount)

    def __call__(self, cmd: C.Command, got: Any) -> None:
        want = self.naive(cmd)
        if isinstance(got, str):
            self.rejects += 1
        if isinstance(want, tuple) and want[0] == "new":
            assert isinstance(got, int) and got > self.last_id, (cmd, got, want)
            self.nid[got] = want[1]
            self.last_id = got
        elif isinstance(want, tuple) and want[0] == "dup":
            assert self.nid.get(got) == want[1], (cmd, got, want)
        elif isinstance(got, CancelResult):
            assert {code for _, code in got.failed} <= {ErrorCode.ORDER_NOT_FOUND}
            assert (got.ok, [oid for oid, _ in got.failed]) == want, cmd
        else:
            assert got == want, (cmd, got, want)
        if isinstance(cmd, (C.Deposit, C.Withdraw)) and isinstance(got, int):
            sign = 1 if isinstance(cmd, C.Deposit) else -1
            self.deposits[cmd.currency] = self.deposits.get(cmd.currency, 0) + sign * cmd.amount
        assert self.events() == self.ref.events, cmd
        self.ref.events.clear()
        self.compare_state()

    def events(self) -> list[tuple]:
        """Engine events in the naive form; trade ids must keep increasing."""
        out = []
        last = self.last_id
        for e in self.eng.take_events():
            if isinstance(e, OrderEvent):
                out.append(("o", self.nid[e.spec.oid], e.status, e.filled, e.dealt, e.commission,
                            e.deal_vol, e.deal_price))
            else:
                assert isinstance(e, TradeEvent) and e.tid > last
                last = e.tid
                self.trades += 1
                out.append(("t", e.price, e.lots, self.nid[e.maker.oid], self.nid[e.taker.oid],
                            e.maker_fee, e.taker_fee, e.taker_side))
        assert last <= self.eng.ids.last
        self.last_id = self.eng.ids.last
        return out

    def compare_state(self) -> None:
        assert engine_balances(self.eng) == self.ref.balances()
        for spec in SPECS:
            book = self.eng.books[("TEST", spec.contract)]
            got = [(self.nid[o.oid], o.vol - o.filled) for o in book.resting()]
            assert got == self.ref.book(spec.contract), spec.contract
        fees = {c: a for c, a in self.eng.ledger.fees_by_currency().items() if a}
        assert fees == {c: a for c, a in self.ref.fees.items() if a}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_engine_matches_naive_reference(data: st.DataObject) -> None:
    eng = new_engine()
    cmp = Comparer(eng)
    run_stream(data, eng, cmp)
    event(f"trades: {cmp.trades}")
    event(f"rejects: {'some' if cmp.rejects else 'none'}")
    assert eng.check() == []
    # conservation, from the test's own record of deposits and withdrawals
    held: dict[str, int] = {}
    for (_, _, _, cur), (total, _) in engine_balances(eng).items():
        held[cur] = held.get(cur, 0) + total
    for cur, fee in eng.ledger.fees_by_currency().items():
        held[cur] = held.get(cur, 0) + fee
    assert {c: a for c, a in held.items() if a} == {c: a for c, a in cmp.deposits.items() if a}
