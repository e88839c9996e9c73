"""File-descriptor budget (``ceres.wire.fdbudget``): the soft limit is raised to the hard
one at start, and connections get what remains after the descriptors in use and the
reserve for journal, snapshots and SQLite."""

from __future__ import annotations

import resource
import subprocess
import sys

from ceres.wire.fdbudget import FD_RESERVE, MIN_CAPACITY, connection_capacity, open_fds


def test_capacity_is_the_soft_limit_minus_what_is_open_minus_the_reserve():
    assert connection_capacity(soft=1024, in_use=30) == 1024 - 30 - FD_RESERVE
    assert connection_capacity(300, soft=1024, in_use=30) == 300  # a lower setting wins
    assert connection_capacity(5000, soft=1024, in_use=30) == 1024 - 30 - FD_RESERVE  # never above
    assert connection_capacity(soft=80, in_use=60) == MIN_CAPACITY


def test_open_fds_counts_this_process():
    before = open_fds()
    with open(__file__), open(__file__):
        assert open_fds() == before + 2


def test_the_soft_limit_is_raised_to_the_hard_limit():
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    code = ("import resource; from ceres.wire.fdbudget import raise_nofile_limit; "
            "print(*raise_nofile_limit(), resource.getrlimit(resource.RLIMIT_NOFILE)[0])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard)))
    before, after, now = map(int, out.stdout.split())
    assert before == 256
    assert after == now == (hard if hard != resource.RLIM_INFINITY else now)
    assert now > 256 or hard == 256
