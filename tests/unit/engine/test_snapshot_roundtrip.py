"""engine_state / restore_engine and state_hash: equal state, then identical behaviour."""

from __future__ import annotations

import pytest

from ceres.domain import commands as C
from ceres.domain.errors import CeresError, ErrorCode
from ceres.domain.events import OrderEvent, TradeEvent
from ceres.domain.secret import Secret
from ceres.engine.core import Engine
from ceres.engine.snapshot import engine_state, restore_engine
from engine_helpers import BTC, USDT, Harness, restored_copy, spot

P = 3_000_000
INSTS = [spot(maker="-0.0001", taker="0.0007"), spot("ETH/USDT", tick="0.05", lot="0.01", base_dec=8)]
CURS = {"BTC": 8, "USDT": 8, "ETH": 8}


def _busy_harness() -> Harness:
    h = Harness(INSTS, CURS)
    for who in ("alice", "bob", "carol"):
        h.fund(who, "USDT", 100_000 * USDT)
        h.fund(who, "BTC", 3 * BTC)
        h.fund(who, "ETH", 30 * BTC)
    h.apply(C.CreateKey("alice", "bGppXpZqNrzVOptf", Secret("bcBFnn3GbFz1cB73f5TkJa8P5gbrFdgt"), 3))
    h.apply(C.CreateKey("bob", "AAAAAAAAAAAAAAAA", Secret("B" * 32), 1))
    h.apply(C.RevokeKey("AAAAAAAAAAAAAAAA"))
    h.sell("bob", P, 100, client_oid="ask-1")
    h.sell("carol", P, 100)                      # same price, later: behind bob
    h.sell("bob", P + 10, 50)
    h.buy("alice", P, 30)                        # partial fill of bob's ask
    h.buy("alice", P - 5, 70, client_oid="bid-1")
    h.buy("carol", P - 5, 20)
    h.place("alice", 2, 4000, 300, contract="ETH/USDT")
    h.reject(C.Withdraw("carol", "USDT", 1))     # fails: all in spot
    return h


def _trace(eng: Engine, cmds: list) -> list:
    """Results and events of ``cmds`` in comparable plain form."""
    out = []
    for _i, cmd in enumerate(cmds):
        try:
            res = eng.apply(cmd, eng.seq + 1, eng.now + 3)
        except CeresError as exc:
            res = exc.error.name
        evs = []
        for e in eng.take_events():
            if isinstance(e, OrderEvent):
                evs.append(("o", e.spec.oid, e.status, e.filled, e.dealt, e.commission, e.deal_vol))
            elif isinstance(e, TradeEvent):
                evs.append(("t", e.tid, e.price, e.lots, e.maker.oid, e.taker.oid, e.maker_fee, e.taker_fee))
        out.append((res, evs))
    return out


def _further(h: Harness) -> list:
    open_ids = sorted(h.eng.open_orders)
    return [
        C.Place("alice", "TEST", "BTC/USDT", 1, 2, 0, 500 * USDT),     # market buy sweeps asks
        C.Place("bob", "TEST", "BTC/USDT", 1, 1, P - 5, 10, "ask-1"),  # coid now free? (filled)
        C.Place("alice", "TEST", "BTC/USDT", 1, 1, P - 5, 10, "bid-1"),  # idempotent retry
        C.Place("bob", "TEST", "BTC/USDT", 2, 2, 0, 95),               # hits bids by time
        C.Cancel("alice", tuple(open_ids)),
        C.Place("carol", "TEST", "ETH/USDT", 1, 1, 4000, 400),
        C.Transfer("alice", "USDT", 10 * USDT, 3, 2, "TEST"),
        C.Withdraw("alice", "USDT", 10 * USDT),
        C.Withdraw("carol", "USDT", 1),                                # rejected in both
    ]


def test_round_trip_gives_equal_hash_and_identical_behaviour() -> None:
    h = _busy_harness()
    h.eng.take_events()
    twin = restored_copy(h.eng, INSTS, CURS)
    assert twin.state_hash() == h.eng.state_hash()
    assert engine_state(twin) == engine_state(h.eng)
    assert twin.check() == [] and h.eng.check() == []
    cmds = _further(h)
    a, b = _trace(h.eng, cmds), _trace(twin, cmds)
    assert a == b
    assert sum(len(evs) for _, evs in a) > 10
    assert [r for r, _ in a if isinstance(r, str)] == ["INSUFFICIENT_BALANCE"]
    assert twin.state_hash() == h.eng.state_hash()
    assert twin.check() == [] and h.eng.check() == []


def test_restored_keys_and_client_oids() -> None:
    h = _busy_harness()
    twin = restored_copy(h.eng, INSTS, CURS)
    key = twin.keys["bGppXpZqNrzVOptf"]
    assert isinstance(key.secret, Secret) and key.secret.reveal() == "bcBFnn3GbFz1cB73f5TkJa8P5gbrFdgt"
    assert twin.keys["AAAAAAAAAAAAAAAA"].revoked
    assert set(twin.products["alice"].coids) == set(h.eng.products["alice"].coids) == {"bid-1"}


def test_state_hash_is_deterministic_and_sensitive() -> None:
    a, b = _busy_harness(), _busy_harness()
    assert a.eng.state_hash() == b.eng.state_hash()
    assert a.eng.check() == []
    b.apply(C.Deposit("alice", "USDT", 1))
    assert a.eng.state_hash() != b.eng.state_hash()
    c = _busy_harness()
    assert c.eng.state_hash() == a.eng.state_hash()
    c.eng.open_orders[next(iter(c.eng.open_orders))].commission += 1
    assert c.eng.state_hash() != a.eng.state_hash()


def test_restore_rejects_other_versions_and_unknown_instruments() -> None:
    state = engine_state(_busy_harness().eng)
    with pytest.raises(ValueError):
        restore_engine(Engine(INSTS, CURS), {**state, "version": 99})
    with pytest.raises(CeresError) as info:
        restore_engine(Engine(INSTS[:1], CURS), state)
    assert info.value.error is ErrorCode.UNKNOWN_CONTRACT


def test_deposits_are_capped_so_every_amount_fits_int64() -> None:
    """Money is conserved, so capping each currency's net deposits at 2**63-1 keeps every
    balance, fee total and order amount encodable (journal, snapshot, SQLite)."""
    h = Harness(INSTS, CURS)
    assert h.reject(C.Deposit("alice", "USDT", 2**63)).error is ErrorCode.INVALID_VALUE
    h.apply(C.Deposit("alice", "USDT", 2**63 - 2))
    assert h.reject(C.Deposit("alice", "USDT", 2)).error is ErrorCode.INVALID_VALUE
    h.apply(C.Deposit("alice", "USDT", 1))
    h.eng.state_hash()  # encodable at the cap
