"""Engine test fixtures. Every harness handed to a test is checked when the test ends:
``engine.check()`` must be empty and a snapshot round trip must reproduce the state hash."""

from __future__ import annotations

import pytest

from ceres.domain import commands as C
from engine_helpers import BINANCE_SPOT, SETTLEMENT, SPOT, USDT, Harness, btc_usdt_harness


@pytest.fixture
def make_harness():
    made: list[Harness] = []

    def make(factory=btc_usdt_harness, **kw) -> Harness:
        h = factory(**kw)
        made.append(h)
        return h

    yield make
    for h in made:
        h.verify()


@pytest.fixture
def h(make_harness) -> Harness:
    """BTC/USDT harness (tick 0.01, lot 0.0001, fees 0.05%) with alice, bob and carol."""
    return make_harness()


@pytest.fixture
def paper(h) -> Harness:
    """``h`` with BINANCE in paper mode (its BTC/USDT market defined) and alice holding 600 USDT
    of her 1000 in her spot account there."""
    h.apply(C.SetPaperVenue("BINANCE", True))
    h.apply(BINANCE_SPOT)
    h.apply(C.Deposit("alice", "USDT", 1000 * USDT))
    h.apply(C.Transfer("alice", "USDT", 600 * USDT, SETTLEMENT, SPOT, "BINANCE"))
    h.eng.take_events()
    return h
