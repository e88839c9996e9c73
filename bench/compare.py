"""Compare a bench script of the working tree against an older commit, interleaved in one run.

The machines are noisy, so a figure is only meaningful as a ratio to a baseline measured
alongside it. This exports ``--ref`` with ``git archive`` into a temp dir (no worktree, no
checkout) and runs ``bench/<script>`` from both trees ``--rounds`` times, alternating which
side goes first (ABBA: base, current, current, base, ...). Each run is a fresh interpreter
with ``PYTHONPATH=<side>/src:<side>``, so ``import ceres`` (and any ``ceres serve`` the bench
starts) uses that side's code; this is checked once before the first run.

    python bench/compare.py [--ref aeedbd2] [--rounds 3] [--current REF] [--same-script] SCRIPT [-- ARGS...]
    python bench/compare.py --ref aeedbd2 --rounds 3 engine.py -- --mix contracts --n 300000

Every number followed by a ``.../s`` unit (``208,000 commands/s``, ``9,876 durable
commands/s``) is a figure, keyed by its line's text before the first digit, its unit and its
index on the line; so is a number right-aligned under a table header's ``.../s`` column
(bench/ws_orders.py). Prints each run's raw output, then per figure the baseline and current
medians, their ratio (current/baseline) and the per-round ratios. ``--current REF`` measures
a second exported commit instead of the working tree. Exits non-zero if any run failed.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NUM = r"(?<![\w.,])(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
UNIT = r"(?:[A-Za-z]+ )?[A-Za-z_]+/s\b"  # one optional word before it: "durable commands/s"
FIGURE = re.compile(NUM + " (" + UNIT + ")")
Key = tuple[str, str, int]


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()


def export(ref: str, into: Path) -> Path:
    into.mkdir()
    archive = subprocess.Popen(["git", "archive", ref], cwd=ROOT, stdout=subprocess.PIPE)
    assert archive.stdout is not None
    tar = subprocess.run(["tar", "-x", "-C", str(into)], stdin=archive.stdout, check=False)
    archive.stdout.close()
    if archive.wait() or tar.returncode:
        raise SystemExit(f"compare: git archive {ref} | tar -x failed")
    return into


def side_env(root: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": f"{root}/src:{root}"}


def check_import(root: Path) -> None:
    """``import ceres`` must come from this side's src/, not from the editable install."""
    out = subprocess.run([sys.executable, "-c", "import ceres,sys;print(ceres.__file__)"], cwd=root,
                         env=side_env(root), capture_output=True, text=True, check=False)
    path = Path(out.stdout.strip() or "?").resolve()
    print(f"  import ceres -> {path}")
    if out.returncode or not path.is_relative_to(root.resolve() / "src"):
        raise SystemExit(f"!!! compare: with PYTHONPATH={root}/src, 'import ceres' does not resolve under "
                         f"{root}/src (got {path}; {out.stderr.strip()[-300:]}). The editable install or a "
                         f"meta-path finder wins over PYTHONPATH: the comparison would be meaningless.")


def run_bench(cmd: list[str], root: Path, timeout: float) -> tuple[int | str, str, str]:
    """Run in its own session, so a timeout or Ctrl-C also ends the bench's children (servers)."""
    proc = subprocess.Popen(cmd, cwd=root, env=side_env(root), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        return proc.returncode, out, err
    except subprocess.TimeoutExpired:
        kill_group(proc)
        out, err = proc.communicate()
        return f"timeout after {timeout:.0f} s", out, err
    finally:
        if proc.poll() is None:
            kill_group(proc)


def kill_group(proc: subprocess.Popen) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            continue
        except ProcessLookupError:
            return


def figures(stdout: str) -> dict[Key, float]:
    """``<number> <unit>/s`` anywhere, plus right-aligned numbers under a table header's ``/s`` column."""
    out: dict[Key, float] = {}
    columns: list[tuple[int, str]] = []  # (end offset, name) of the last table header's "/s" columns
    header = ""  # that header's first word ("conns"), which with a row's first cell labels the row

    def put(key: Key, value: str) -> None:
        while key in out:  # the same label twice in one output: keep both
            key = (key[0] + "'", key[1], key[2])
        out[key] = float(value.replace(",", ""))

    for line in stdout.splitlines():
        found = list(FIGURE.finditer(line))
        if not found and columns and line.strip()[:1].isdigit():  # a row of that table
            at = {m.end(): m.group(1) for m in re.finditer(NUM, line)}
            for i, (end, name) in enumerate(columns):
                if end in at:
                    put((f"{header} {line.split()[0]}", name, i), at[end])
            continue
        columns = [] if found else [(m.end(), m.group()) for m in re.finditer(UNIT, line)]
        header = line.split()[0] if columns else ""
        first = re.search(r"\d", line)
        label = line[:first.start()].strip() if first else ""
        for i, m in enumerate(found):
            put((label, m.group(2), i), m.group(1))
    return out


def main() -> int:
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("script", help="a script in bench/, e.g. engine.py")
    ap.add_argument("--ref", default="aeedbd2", help="baseline commit (default aeedbd2)")
    ap.add_argument("--current", metavar="REF", help="measure this commit instead of the working tree")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per run")
    ap.add_argument("--same-script", action="store_true",
                    help="run the current side's bench/SCRIPT on both sides (when the bench changed but "
                         "the API it uses did not: both sides then measure the same work)")
    args = ap.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    script = Path(args.script).name
    script += "" if script.endswith(".py") else ".py"
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the temp dir is removed

    tmp = Path(tempfile.mkdtemp(prefix="ceres-bench-compare-"))
    try:
        sides = {"baseline": export(args.ref, tmp / "baseline"),
                 "current": export(args.current, tmp / "current") if args.current else ROOT}
        ref_hash = git("rev-parse", "--verify", args.ref + "^{commit}")
        if args.current:
            cur = f"{git('rev-parse', '--verify', args.current + '^{commit}')} ({args.current}, exported)"
        else:
            cur = f"working tree at HEAD {git('rev-parse', 'HEAD')}, " + \
                  ("DIRTY (uncommitted changes)" if git("status", "--porcelain") else "clean")
        print(f"date:     {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}")
        print(f"machine:  {platform.machine()}  {platform.python_implementation()} {platform.python_version()}"
              f"  cpus {os.cpu_count()}  ({sys.executable})")
        print(f"baseline: {ref_hash} ({args.ref})")
        print(f"current:  {cur}")
        cmds: dict[str, list[str]] = {}
        for side, root in sides.items():
            if not (root / "bench" / script).is_file():
                raise SystemExit(f"compare: {side} has no bench/{script}")
            check_import(root)
            script_root = sides["current"] if args.same_script else root
            cmds[side] = [sys.executable, str(script_root / "bench" / script), *extra]
            print(f"{side + ':':<9} cd {root} && PYTHONPATH={root}/src:{root} {shlex.join(cmds[side])}")

        runs: dict[str, list[dict[Key, float] | None]] = {s: [] for s in sides}
        failed = False
        for rnd in range(args.rounds):
            order = ["baseline", "current"] if rnd % 2 == 0 else ["current", "baseline"]
            for side in order:
                print(f"\n=== round {rnd + 1}/{args.rounds}: {side}", flush=True)
                rc, out, err = run_bench(cmds[side], sides[side], args.timeout)
                for line in (out or "").rstrip().splitlines():
                    print("    " + line)
                if rc != 0:
                    failed = True
                    print(f"!!! {side} run failed ({rc}); stderr tail:")
                    for line in (err or "").rstrip().splitlines()[-25:]:
                        print("    " + line)
                runs[side].append(figures(out or "") if rc == 0 else None)

        print(f"\n=== summary: {script} {shlex.join(extra)}  ({args.rounds} rounds, ratio = current/baseline)")
        keys = list(dict.fromkeys(k for side in ("baseline", "current") for r in runs[side] if r for k in r))
        width = max([len(f"{k[0]} [{k[1]} #{k[2]}]") for k in keys] + [6])
        print(f"{'figure':<{width}} {'baseline':>12} {'current':>12} {'ratio':>6}  per round")
        for k in keys:
            vals = {s: [r[k] for r in runs[s] if r and k in r] for s in sides}
            med = {s: statistics.median(v) if v else None for s, v in vals.items()}
            ratio = f"{med['current'] / med['baseline']:.2f}" if med["baseline"] and med["current"] else "-"
            per = [f"{c[k] / b[k]:.2f}" if b and c and b.get(k) and k in c else "-"
                   for b, c in zip(runs["baseline"], runs["current"], strict=False)]
            fmt = {s: "-" if m is None else f"{m:,.0f}" if m >= 100 else f"{m:.3g}" for s, m in med.items()}
            print(f"{f'{k[0]} [{k[1]} #{k[2]}]':<{width}} {fmt['baseline']:>12} {fmt['current']:>12}"
                  f" {ratio:>6}  {' '.join(per)}")
        if not keys:
            print("(no figures found)")
        if failed:
            print("!!! some runs failed (see above)")
        return 1 if failed else 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit("\ncompare: interrupted (bench processes stopped, temp dir removed)")
