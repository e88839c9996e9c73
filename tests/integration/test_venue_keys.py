"""A product's keys at live exchanges, as an operator manages them (issue 11, item 2):
``ceres venues connect | list | disconnect`` through the running server and on a stopped
data directory, against a fake Binance on loopback that checks signatures as Binance does.
A key is checked with one balance read before it is stored (refused: not stored); an
unreachable venue does not stop the connect; secrets never appear in output or on disk;
the change is journaled and replayed; BITMEX answers that it has closed.
"""

from __future__ import annotations

import asyncio
import secrets
import subprocess

import pytest

from tests.fakevenue.runner import FakeVenueThread
from tests.serverproc import ServerProcess

from .api_helpers import demo_rest
from .test_cli import ceres

UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing listens there


@pytest.fixture
def binance():
    fake = FakeVenueThread("binance")
    yield fake
    fake.stop()


def venues(*args: str, srv: ServerProcess, check: bool = True) -> subprocess.CompletedProcess:
    return ceres("venues", *args, "--data-dir", str(srv.data_dir), "--config", str(srv.config_path), check=check)


def on_disk(srv: ServerProcess, *texts: str) -> list[str]:
    """The files under the data directory holding any of ``texts``."""
    found = []
    for path in srv.data_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path.name}: {t}" for t in texts if t.encode() in data]
    return found


def test_connect_list_disconnect_online_and_offline(tmp_path, binance):
    key, secret = secrets.token_hex(32), secrets.token_hex(32)
    asyncio.run(binance.control.add_account(key, secret, "", {"USDT": "1000", "BTC": "0.5"}))
    config = (f'[venues.BINANCE]\nenabled = true\nrest_url = "{binance.url}"\ntimeout_ms = 3000\n'
              f'[venues.OKEX]\nenabled = true\nrest_url = "{UNREACHABLE}"\ntimeout_ms = 1000\n')
    srv = ServerProcess(tmp_path / "data", config=config, extra_args=("--no-simulator",)).start()
    try:
        ok = venues("connect", "demo", "BINANCE", "--api-key", key, "--secret", secret, srv=srv).stdout
        assert "demo connected to BINANCE" in ok and "key check: ok: balances read (2 currencies held)" in ok, ok
        assert secret not in ok and key not in ok  # the key is shown masked
        paths = [r["path"] for r in asyncio.run(binance.control.requests())]
        assert "/api/v3/account" in paths  # the one read call, signed and accepted by the fake

        wrong = venues("connect", "demo", "BINANCE", "--api-key", key, "--secret", "0" * 64, srv=srv, check=False)
        assert wrong.returncode == 1 and "40303" in wrong.stderr and "0" * 64 not in wrong.stdout + wrong.stderr
        unreachable = venues("connect", "demo", "OKEX", "--api-key", "okx-key", "--secret", "okx-secret",
                             "--password", "okx-pass-phrase", srv=srv).stdout
        assert "key check: not checked: OKEX could not be asked" in unreachable, unreachable
        closed = venues("connect", "demo", "BITMEX", "--api-key", "k", "--secret", "s", srv=srv, check=False)
        assert closed.returncode == 1 and "40407" in closed.stderr and "closed" in closed.stderr
        unknown = venues("connect", "demo", "KRAKEN", "--api-key", "k", "--secret", "s", srv=srv, check=False)
        assert unknown.returncode == 1 and "40401" in unknown.stderr
        nobody = venues("connect", "nobody", "BINANCE", "--api-key", key, "--secret", secret, srv=srv, check=False)
        assert nobody.returncode == 1 and "40404" in nobody.stderr

        listed = venues("list", "demo", srv=srv).stdout
        assert "BINANCE" in listed and "OKEX" in listed and key[:4] in listed
        assert secret not in listed and "okx-secret" not in listed and "okx-pass-phrase" not in listed

        # trading requests naming the closed venue say why
        reply = demo_rest(srv).call("GET", "basic/contracts", {"exchange": "BITMEX"})[1]
        assert reply["code"] == "40407" and "closed" in reply["message"], reply
    finally:
        srv.stop()
    assert not on_disk(srv, secret, "okx-secret", "okx-pass-phrase"), "a venue secret is stored in plain text"

    # offline: the data directory directly, journaled like the rest
    assert "demo disconnected from OKEX" in venues("disconnect", "demo", "OKEX", srv=srv).stdout
    again = venues("disconnect", "demo", "OKEX", srv=srv, check=False)
    assert again.returncode == 1 and "40408" in again.stderr
    srv.start()
    try:
        listed = venues("list", srv=srv).stdout
        assert "BINANCE" in listed and "OKEX" not in listed
    finally:
        srv.stop()
