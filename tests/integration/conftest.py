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


@pytest.fixture
def paper(tmp_path):
    """A server with BINANCE in paper mode on the fake Binance's public data (and the fake)."""
    from tests.fakevenue.runner import FakeVenueThread, paper_venue

    fake = FakeVenueThread("binance")
    srv = ServerProcess(tmp_path / "data", config=paper_venue(fake.url), extra_args=("--no-simulator",))
    try:
        srv.start()
    except BaseException:
        fake.stop()
        raise
    yield srv, fake
    srv.stop()
    fake.stop()
