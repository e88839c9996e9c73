"""Garbage-collector policy for the server process (and the benchmarks that model it).

The engine creates many small, acyclic objects (orders, events); CPython's default
generation-0 threshold (700) then runs collections constantly, each walking every young
tracked object. After start-up state is loaded, ``tune_gc`` moves everything alive into
the permanent generation (``gc.freeze``) and raises the thresholds, so collections are
rare and cheap. Reference cycles are still collected, just less often.
"""

from __future__ import annotations

import gc

GEN0_THRESHOLD = 50_000
GEN1_THRESHOLD = 20
GEN2_THRESHOLD = 100


def tune_gc() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(GEN0_THRESHOLD, GEN1_THRESHOLD, GEN2_THRESHOLD)
