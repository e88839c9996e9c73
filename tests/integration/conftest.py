from __future__ import annotations

import pytest

from tests.serverproc import ServerProcess


@pytest.fixture
def server(tmp_path):
    """A fresh server with the demo product (simulator off), stopped after the test."""
    proc = ServerProcess(tmp_path / "data", extra_args=("--no-simulator",)).start()
    yield proc
    proc.stop()


@pytest.fixture
def server_factory(tmp_path):
    """Build servers with custom config/args; all are stopped (or killed) afterwards."""
    made: list[ServerProcess] = []

    def make(name: str = "data", **kw) -> ServerProcess:
        kw.setdefault("extra_args", ("--no-simulator",))
        proc = ServerProcess(tmp_path / name, **kw)
        made.append(proc)
        return proc

    yield make
    for proc in made:
        proc.kill()
