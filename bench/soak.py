"""Kill -9 soak, long form: ``tests/soak.py`` (the same harness ``make test`` runs compressed)
for ``--minutes`` or ``--cycles``, printing what was checked.

    python bench/soak.py [--minutes 10] [--cycles N] [--traders 2] [--seed 7]
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.soak import soak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--cycles", type=int, default=0, help="kill/restart cycles (default: as many as fit)")
    ap.add_argument("--traders", type=int, default=2)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    # a cycle takes about 4 s at first (run, kill, verify --full, restart, checks) and grows
    # with the journal that verify --full replays: 45 cycles took 308 s on the 2-core machine
    cycles = args.cycles or max(1, int(args.minutes * 60 / 4))
    print(f"machine: {platform.machine()} {platform.python_implementation()} {platform.python_version()}; "
          f"{cycles} cycles, {args.traders} traders, seed {args.seed}")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ceres-soak-") as tmp:
        figures = soak(Path(tmp), cycles=cycles, seed=args.seed, traders=args.traders, log=print)
    print(figures.summary())
    print(f"elapsed {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
