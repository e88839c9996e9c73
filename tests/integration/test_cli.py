"""The ``ceres`` command line as an operator uses it: admin commands with the server
stopped (directly on the data directory) and running (through its admin endpoint), the
config printer, and refusals."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib

import pytest

from ceres.client import RestClient
from tests.serverproc import ServerProcess


def ceres(*args: str, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, "-m", "ceres", *args], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "COLUMNS": "200", **(env or {})})
    if check:
        assert out.returncode == 0, out.stdout + out.stderr
    return out


def created_key(stdout: str) -> tuple[str, str]:
    fields = dict(line.split(None, 1) for line in stdout.strip().splitlines() if line.strip())
    return fields["api_key"].strip(), fields["secret"].strip()


def test_offline_admin_then_server_sees_it(tmp_path):
    data = tmp_path / "data"
    d = ["--data-dir", str(data)]
    ceres("products", "create", "fund-a", *d)
    api_key, secret = created_key(ceres("keys", "create", "fund-a", "--permissions", "read,trade", *d).stdout)
    assert len(api_key) == 16 and len(secret) == 32
    ceres("accounts", "deposit", "fund-a", "USDT", "1000.5", *d)
    shown = ceres("accounts", "transfer", "fund-a", "--from", "2", "--to", "3", "--exchange", "TEST",
                  "USDT", "600", *d).stdout
    assert "400.5" in shown and "600" in shown
    listed = ceres("keys", "list", *d).stdout
    assert api_key in listed and secret not in listed and "***" in listed
    # errors are named and change nothing
    bad = ceres("accounts", "deposit", "fund-a", "USDT", "1.000000001", *d, check=False)
    assert bad.returncode == 1 and "40019" in bad.stderr
    bad = ceres("accounts", "transfer", "fund-a", "--from", "3", "--to", "2", "USDT", "601", *d, check=False)
    assert bad.returncode == 1 and "41001" in bad.stderr
    assert ceres("products", "create", "fund-a", *d, check=False).returncode == 1
    # the server starts on that data and the key trades
    server = ServerProcess(data, extra_args=("--no-simulator",)).start()
    try:
        api = RestClient(server.http_url, api_key, secret)
        rows = {(r["account_type"], r["currency"]): r for r in api.account()["data"]}
        assert rows[(3, "USDT")]["balance"] == "600" and rows[(2, "USDT")]["balance"] == "400.5"
        r = api.place(exchange="TEST", contract="BTC/USDT", price_type="limit", entrust_price="100",
                      entrust_vol="1", entrust_bs="buy")
        assert r["code"] == "200"
    finally:
        server.stop()


def test_online_admin_goes_through_the_server(tmp_path):
    data = tmp_path / "data"
    server = ServerProcess(data, extra_args=("--no-simulator",)).start()
    d = ["--data-dir", str(data)]
    try:
        ceres("products", "create", "fund-b", *d)
        api_key, secret = created_key(ceres("keys", "create", "fund-b", "--permissions", "read", *d).stdout)
        ceres("accounts", "deposit", "fund-b", "BTC", "2", *d)
        api = RestClient(server.http_url, api_key, secret)
        assert api.account()["code"] == "200"  # the running server knows the key at once
        placed = api.place(exchange="TEST", contract="BTC/USDT", price_type="limit", entrust_price="100",
                           entrust_vol="1", entrust_bs="sell")
        assert placed["code"] == "40301"  # read-only key
        out = ceres("keys", "revoke", api_key, *d).stdout
        assert "revoked" in out
        assert api.account()["code"] == "40104"
        shown = ceres("accounts", "show", "fund-b", *d).stdout
        assert "BTC" in shown and "2" in shown
    finally:
        server.stop()
    # with the server stopped, its changes are in the journal
    assert "fund-b" in ceres("products", "list", *d).stdout
    verify = ceres("verify", str(data))
    assert "consistency:      ok" in verify.stdout and "state hash:" in verify.stdout


def test_offline_admin_refused_while_another_process_holds_the_data_dir(tmp_path):
    data = tmp_path / "data"
    server = ServerProcess(data, extra_args=("--no-simulator",)).start()
    try:
        (data / "admin.json").unlink()  # no advertised endpoint: the CLI must not touch the data
        out = ceres("products", "create", "x", "--data-dir", str(data), check=False)
        assert out.returncode == 2 and "locked" in out.stderr
        second = subprocess.run([sys.executable, "-m", "ceres", "serve", "--data-dir", str(data),
                                 "--http-port", "0", "--trade-ws-port", "0", "--notify-ws-port", "0",
                                 "--market-ws-port", "0", "--admin-port", "0", "--no-simulator"],
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 2 and "in use" in second.stderr
        assert (data / "server.json").exists()  # the refused process left the owner's files alone
    finally:
        server.stop()


def test_config_show_round_trips_and_unknown_keys_are_rejected(tmp_path):
    text = ceres("config", "show").stdout
    cfg = tomllib.loads(text)
    assert cfg["server"]["http_port"] == 19000 and len(cfg["instruments"]) >= 7
    path = tmp_path / "mine.toml"
    path.write_text(text.replace("http_port = 19000", "http_port = 19100"))
    assert "http_port = 19100" in ceres("config", "show", "--config", str(path)).stdout
    env = ceres("config", "show", env={"CERES_SERVER_HTTP_PORT": "19200"}).stdout
    assert "http_port = 19200" in env
    path.write_text("[server]\nhttp_portt = 1\n")
    bad = ceres("config", "show", "--config", str(path), check=False)
    assert bad.returncode == 2 and "http_portt" in bad.stderr
    bad = ceres("config", "show", env={"CERES_SERVER_NOPE": "1"}, check=False)
    assert bad.returncode == 2 and "CERES_SERVER_NOPE" in bad.stderr
    path.write_text('[[instruments]]\nexchange = "TEST"\ncontract = "X/USDT"\nkind = 4\nbase = "X"\n'
                    'quote = "USDT"\ntick_size = "0.01"\nvolume_increment = "1"\nmin_price = "0.01"\n'
                    'min_volume = "1"\nmaker_fee = "0"\ntaker_fee = "0"\n')
    bad = ceres("config", "show", "--config", str(path), check=False)
    assert bad.returncode == 2 and "X/USDT" in bad.stderr and "currency X" in bad.stderr


@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM"])
def test_clean_shutdown_writes_a_final_snapshot(tmp_path, signal_name):
    import signal

    data = tmp_path / "data"
    server = ServerProcess(data, extra_args=("--no-simulator",)).start()
    server.rest().place(exchange="TEST", contract="BTC/USDT", price_type="limit", entrust_price="100",
                        entrust_vol="1", entrust_bs="buy")
    server.proc.send_signal(getattr(signal, signal_name))
    assert server.proc.wait(30) == 0
    snaps = sorted((data / "snapshots").glob("*.snap"))
    assert snaps, "no final snapshot"
    verify = ceres("verify", str(data)).stdout
    assert f"snapshot used:    {snaps[-1]}" in verify and "records replayed: 0" in verify
    assert not (data / "server.json").exists() and not (data / "admin.json").exists()


def test_a_negative_amount_is_refused_as_an_amount_not_an_unknown_option(tmp_path) -> None:
    data = str(tmp_path / "data")
    ceres("products", "create", "alice", "--data-dir", data)
    out = ceres("accounts", "deposit", "alice", "USDT", "-5", "--data-dir", data, check=False)
    text = out.stdout + out.stderr
    assert out.returncode != 0 and "No such option" not in text, text
    assert "40007" in text and "amount" in text and "-5" in text, text
    out = ceres("accounts", "withdraw", "alice", "USDT", "-1.5", "--data-dir", data, check=False)
    assert out.returncode != 0 and "40007" in out.stdout + out.stderr
