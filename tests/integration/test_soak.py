"""The kill -9 soak in compressed form (a few SIGKILLs under mixed spot and contract load
with the simulator on; see ``tests/soak.py`` for what is checked after every restart).
``bench/soak.py`` runs the same for as long as asked and prints the figures."""

from __future__ import annotations

from tests.soak import soak

CYCLES = 6


def test_repeated_sigkill_under_mixed_load_loses_nothing_acknowledged(tmp_path):
    figures = soak(tmp_path, cycles=CYCLES, seed=20261207)
    print(figures.summary())
    assert figures.kills == CYCLES and figures.lost == 0
    assert figures.acked_orders >= 10 * CYCLES  # the load really ran between the kills
    assert figures.checked >= figures.acked_orders
    assert figures.conservation_checks >= CYCLES and figures.verify_runs == CYCLES + 1
