"""Fuzzing, long form: the ``tests/fuzz`` suite (schemathesis on every REST operation,
hypothesis on the WebSocket ports, random bytes on every port) at ``--scale`` times the
cases of ``make test``, round after round with a new seed until ``--minutes`` have
passed (or ``--rounds`` are done), printing what ran and what failed.

    python bench/fuzz.py [--scale 20] [--minutes 10] [--rounds N] [--seed 1] [-k EXPR]

Each round is one pytest run (real servers on loopback, as in the tests); a failure
keeps its pytest output in the printed directory.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_round(scale: int, seed: int, select: str | None, out: Path) -> tuple[dict[str, dict[str, int]], list[str]]:
    report, junit = out / f"report-{seed}.json", out / f"junit-{seed}.xml"
    env = {**os.environ, "FUZZ_SCALE": str(scale), "FUZZ_SEED": str(seed), "FUZZ_REPORT": str(report)}
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning",
            f"--junitxml={junit}", "tests/fuzz"] + (["-k", select] if select else [])
    with open(out / f"pytest-{seed}.txt", "w") as log:
        subprocess.run(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, check=False)
    counts = json.loads(report.read_text()) if report.exists() else {}
    cases = ET.parse(junit).getroot().iter("testcase") if junit.exists() else iter(())
    failed = [f"{case.get('classname')}::{case.get('name')}" for case in cases
              if case.find("failure") is not None or case.find("error") is not None]
    if not junit.exists():
        failed.append("pytest did not run (see its output)")
    return counts, failed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=int, default=20, help="cases per test, as a multiple of make test's")
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--rounds", type=int, default=0, help="stop after this many rounds (default: as many as fit)")
    ap.add_argument("--seed", type=int, default=1, help="seed of the first round (then +1 per round)")
    ap.add_argument("-k", dest="select", default=None, help="pytest -k expression (a subset of the fuzz tests)")
    args = ap.parse_args()
    print(f"machine: {platform.machine()} {platform.python_implementation()} {platform.python_version()}; "
          f"scale {args.scale}, first seed {args.seed}")
    out = Path(tempfile.mkdtemp(prefix="ceres-fuzz-"))
    totals: dict[str, dict[str, int]] = {}
    failures: list[str] = []
    started = time.monotonic()
    rounds = 0
    seed = args.seed
    while True:
        t0 = time.monotonic()
        counts, failed = run_round(args.scale, seed, args.select, out)
        rounds += 1
        for test, entry in counts.items():
            for name, n in entry.items():
                totals.setdefault(test, {}).setdefault(name, 0)
                totals[test][name] += n
        failures += [f"seed {seed}: {f}" for f in failed]
        print(f"round {rounds} (seed {seed}): {sum(e.get('cases', 0) for e in counts.values())} cases, "
              f"{len(failed)} failed tests, {time.monotonic() - t0:.0f} s")
        seed += 1
        elapsed = time.monotonic() - started
        if (args.rounds and rounds >= args.rounds) or (not args.rounds and elapsed + elapsed / rounds
                                                        > args.minutes * 60):
            break
    for test, entry in sorted(totals.items()):
        print(f"{test}: {entry.get('cases', 0)} cases")
    print(f"total: {sum(e.get('cases', 0) for e in totals.values())} cases in {rounds} rounds, "
          f"{len(failures)} failed tests, {time.monotonic() - started:.0f} s; output in {out}")
    for failure in failures:
        print("FAILED", failure)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
