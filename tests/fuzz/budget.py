"""How much fuzzing a run does, and what it counted.

``make test`` runs the defaults (a few hundred cases per test, fixed seeds); the long
variant, ``bench/fuzz.py``, raises them through the environment:

* ``FUZZ_SCALE``: multiplies every case count (default 1);
* ``FUZZ_SEED``: the seed of every generator (default 20191);
* ``FUZZ_REPORT``: a JSON file to which each test adds what it ran
  (``{test: {"cases": n, "failures": n, ...}}``), read by the bench.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

SCALE = max(1, int(os.environ.get("FUZZ_SCALE", "1")))
SEED = int(os.environ.get("FUZZ_SEED", "20191"))
REPORT = os.environ.get("FUZZ_REPORT")


def cases(default: int) -> int:
    return default * SCALE


COUNTS: dict[str, dict[str, int]] = {}


def count(test: str, **counts: int) -> None:
    """Add ``counts`` (e.g. ``cases=1``) to ``test``'s tally of this run."""
    entry = COUNTS.setdefault(test, {})
    for name, n in counts.items():
        entry[name] = entry.get(name, 0) + n


def flush() -> None:
    """Add this run's tallies to the report file, if one was asked for (end of session)."""
    if not REPORT or not COUNTS:
        return
    with open(Path(REPORT), "a+", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.seek(0)
        text = fh.read()
        data = json.loads(text) if text.strip() else {}
        for test, entry in COUNTS.items():
            for name, n in entry.items():
                data.setdefault(test, {})[name] = data.get(test, {}).get(name, 0) + n
        fh.seek(0)
        fh.truncate()
        json.dump(data, fh, indent=1, sort_keys=True)
    COUNTS.clear()
