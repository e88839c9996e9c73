"""Fuzz tests: a real ``ceres serve`` (simulator off) shared by the tests of a module.

Every fuzz test is bounded in cases (fixed seeds, derandomized) and in time (socket
timeouts); the long variants are in ``bench/fuzz.py``.
"""

from __future__ import annotations

import pytest

from tests.fuzz import budget
from tests.serverproc import ServerProcess


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory):
    proc = ServerProcess(tmp_path_factory.mktemp("fuzz") / "data", extra_args=("--no-simulator",)).start()
    yield proc
    proc.stop()


def pytest_sessionfinish(session, exitstatus):
    budget.flush()
