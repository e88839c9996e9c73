"""The money audit (``engine.audit``): every figure of the conservation identity per
currency, deposits apart from simulator top-ups, the venue's cover, snapshots that keep the
flows, and snapshots from before them (their net deposits shown as carried)."""

from __future__ import annotations

import msgspec

from ceres.domain import commands as C
from ceres.domain.secret import secret_enc_hook
from ceres.engine.audit import audit
from ceres.engine.core import Engine
from ceres.engine.snapshot import engine_state, restore_engine
from contract_helpers import CHarness, perp
from engine_helpers import SETTLEMENT, USDT, restored_copy

CURRENCIES = {"USDT": 8, "BTC": 8}
CONTRACT = 4


def harness() -> CHarness:
    return CHarness([perp()], CURRENCIES, ("alice", "bob", "simulator"))


def test_flows_and_holdings_per_currency(make_harness):
    h = make_harness(harness)
    h.apply(C.Deposit("alice", "USDT", 1000 * USDT))
    h.apply(C.Deposit("bob", "USDT", 1000 * USDT))
    h.apply(C.Deposit("simulator", "USDT", 500 * USDT, topup=True))
    h.apply(C.Deposit("simulator", "BTC", 2 * USDT, topup=True))
    h.apply(C.Withdraw("bob", "USDT", 100 * USDT))
    for who in ("alice", "bob"):
        h.apply(C.Transfer(who, "USDT", 900 * USDT, SETTLEMENT, CONTRACT, "TEST"))
    h.open_short("bob", 300_000, 10, lever=5)                  # maker rebate 7_500_000
    h.open_long("alice", 300_000, 10, lever=10)                # taker fee 22_500_000
    usdt, btc = audit(h.eng)["USDT"], audit(h.eng)["BTC"]
    assert (usdt.deposits, usdt.withdrawals, usdt.topups, usdt.covered) == (2000 * USDT, 100 * USDT, 500 * USDT, 0)
    assert (btc.deposits, btc.withdrawals, btc.topups) == (0, 0, 2 * USDT)
    assert usdt.fees == 22_500_000 - 7_500_000
    assert usdt.margins == 3_000_000_000 + 6_000_000_000
    assert usdt.frozen == usdt.margins                          # no open orders left
    assert usdt.balances == 2400 * USDT - usdt.fees
    assert usdt.pnl_pool == 30_000_000_000 - 30_000_000_000     # short cost - long cost
    assert usdt.net_deposits == 2400 * USDT and usdt.carried == 0
    assert usdt.held == usdt.net_deposits and usdt.ok and btc.ok
    assert sorted(audit(h.eng)) == ["BTC", "USDT"]              # every configured currency


def test_the_venues_cover_counts_as_money_in(make_harness):
    h = make_harness(harness)
    for who in ("alice", "bob", "simulator"):
        h.fund_c(who, "USDT", 1000 * USDT)
    h.open_short("bob", 300_000, 10, lever=5)
    deal = h.deal_of(h.open_long("alice", 300_000, 10, lever=10))
    h.open_long("simulator", 260_000, 10, lever=1)
    h.close_long("alice", 0, 10, deal_id=deal)                 # 1_019_500_000 beyond her margin
    a = audit(h.eng)["USDT"]
    assert (a.insurance, a.covered) == (0, 1_019_500_000)
    assert a.net_deposits == 3000 * USDT + 1_019_500_000 and a.ok


def test_check_reports_a_broken_identity(make_harness):
    h = make_harness(harness)
    h.apply(C.Deposit("alice", "USDT", 10 * USDT))
    h.eng.ledger.net_deposits["USDT"] += 1                      # money that is nowhere
    assert not audit(h.eng)["USDT"].ok
    assert h.eng.check() == [f"conservation USDT: held {10 * USDT} != net deposits {10 * USDT + 1}"]
    h.eng.ledger.net_deposits["USDT"] -= 1


def test_snapshots_keep_the_flows(make_harness):
    h = make_harness(harness)
    h.apply(C.Deposit("alice", "USDT", 7 * USDT))
    h.apply(C.Deposit("simulator", "USDT", 3 * USDT, topup=True))
    h.apply(C.Withdraw("alice", "USDT", 2 * USDT))
    twin = restored_copy(h.eng, h.instruments, h.currencies)
    assert audit(twin) == audit(h.eng)
    assert twin.state_hash() == h.eng.state_hash()


def test_a_snapshot_from_before_the_flows_loads_with_its_net_deposits_carried(make_harness):
    h = make_harness(harness)
    h.apply(C.Deposit("alice", "USDT", 7 * USDT))
    h.apply(C.Withdraw("alice", "USDT", 2 * USDT))
    state = engine_state(h.eng)
    del state["flows"], state["covered"]                       # as written before them
    old = msgspec.msgpack.decode(msgspec.msgpack.encode(state, enc_hook=secret_enc_hook))
    eng = Engine(h.instruments, h.currencies)
    restore_engine(eng, old)
    a = audit(eng)["USDT"]
    assert (a.deposits, a.withdrawals, a.carried, a.net_deposits) == (0, 0, 5 * USDT, 5 * USDT)
    assert a.ok and eng.check() == []
    eng.apply(C.Deposit("alice", "USDT", 1 * USDT), h.seq + 1, h.now + 1)
    a = audit(eng)["USDT"]
    assert (a.deposits, a.carried, a.net_deposits) == (1 * USDT, 5 * USDT, 6 * USDT)


def test_a_deposit_journaled_before_the_topup_flag_decodes_as_a_deposit():
    old = msgspec.msgpack.encode(["deposit", "alice", "USDT", 5])     # three fields, no flag
    cmd = msgspec.msgpack.decode(old, type=C.ANY_COMMAND)  # as the journal decodes
    assert cmd == C.Deposit("alice", "USDT", 5) and cmd.topup is False
