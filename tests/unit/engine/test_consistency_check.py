"""engine.check() finds each kind of corruption it claims to (so 'check() == []' after
every test means something)."""

from __future__ import annotations

import msgspec
import pytest

from engine_helpers import BTC, USDT, btc_usdt_harness

P = 3_000_000


@pytest.fixture
def hh():
    h = btc_usdt_harness()
    h.fund("alice", "USDT", 1000 * USDT)
    h.fund("bob", "BTC", BTC)
    h.buy("alice", P - 1, 10)
    h.sell("bob", P, 10)
    assert h.eng.check() == []
    return h


def _book(h):
    return h.eng.books[("TEST", "BTC/USDT")]


def test_detects_frozen_mismatch(hh) -> None:
    hh.eng.products["alice"].accounts[("TEST", 3)].balances["USDT"].frozen += 1
    assert any("frozen" in p for p in hh.eng.check())


def test_detects_negative_balance_and_broken_conservation(hh) -> None:
    hh.eng.products["bob"].accounts[("TEST", 3)].balances["USDT"].total = -5
    problems = hh.eng.check()
    assert any("bob" in p for p in problems) and any("conservation USDT" in p for p in problems)


def test_detects_fee_leak(hh) -> None:
    hh.eng.ledger.fees[("TEST", "BTC")] = 1
    assert any("conservation BTC" in p for p in hh.eng.check())


def test_detects_crossed_book(hh) -> None:
    bid = next(o for o in hh.eng.open_orders.values() if o.side == 1)
    side = _book(hh).bids
    side.remove(bid, bid.vol)
    bid.spec = msgspec.structs.replace(bid.spec, price=P + 1)
    side.add(bid, bid.vol)
    assert any("crossed" in p for p in hh.eng.check())


def test_detects_level_volume_and_open_order_mismatch(hh) -> None:
    _book(hh).asks.levels[P].vol += 1
    assert any("volume mismatch" in p for p in hh.eng.check())
    _book(hh).asks.levels[P].vol -= 1
    oid = next(iter(hh.eng.open_orders))
    del hh.eng.open_orders[oid]
    assert any("open orders differ" in p for p in hh.eng.check())
