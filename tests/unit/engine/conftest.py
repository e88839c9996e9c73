"""Engine test fixtures. Every harness handed to a test is checked when the test ends:
``engine.check()`` must be empty and a snapshot round trip must reproduce the state hash."""

from __future__ import annotations

import pytest

from engine_helpers import Harness, btc_usdt_harness


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
