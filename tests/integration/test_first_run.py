"""First-run polish (issue 14, item 4): the banner's "Try it" command works as printed, on
the first start and on every start after it (the secret is read from the credentials file
when the banner does not show it)."""

from __future__ import annotations

import json
import subprocess
import time

from tests.serverproc import ServerProcess


def try_it_lines(srv: ServerProcess) -> list[str]:
    return [line.split("Try it:  ", 1)[1] for line in srv.out_path.read_text().splitlines() if "Try it:  " in line]


def run(command: str) -> dict:
    out = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_the_try_it_line_works_on_the_first_start_and_after_a_restart(tmp_path) -> None:
    srv = ServerProcess(tmp_path / "data", extra_args=("--no-simulator",)).start()
    try:
        first = try_it_lines(srv)
        assert len(first) == 1 and srv.demo()["secret"] not in first[0]  # not a terminal: no secret
        reply = run(first[0])
        assert reply["code"] == "200" and any(p["contract"] == "BTC/USDT" for p in reply["data"]), reply
        srv.stop()
        srv.start()
        again = try_it_lines(srv)
        assert len(again) == 2
        assert run(again[1])["code"] == "200"
    finally:
        srv.stop()


def test_the_server_serves_its_openapi_document(server) -> None:
    import urllib.request
    from pathlib import Path

    with urllib.request.urlopen(server.http_url + "/openapi.yaml", timeout=10) as resp:
        body, kind = resp.read(), resp.headers["Content-Type"]
    assert kind.startswith("application/yaml")
    assert body == (Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml").read_bytes()
    assert body.startswith(b"openapi: 3.")


def test_port_base_moves_all_five_ports_and_a_busy_port_names_its_option(tmp_path) -> None:
    import socket
    import sys

    from tests.natsproc import free_port

    base = free_port()
    while not (2000 < base < 60000):
        base = free_port()
    data = tmp_path / "data"
    proc = subprocess.Popen([sys.executable, "-m", "ceres", "serve", "--data-dir", str(data), "--port-base", str(base),
                             "--no-simulator"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        info: dict = {}
        while time.monotonic() < deadline and not info:
            try:
                info = json.loads((data / "server.json").read_text())
            except (OSError, ValueError):
                time.sleep(0.05)
        assert {k: info[k] for k in ("http", "trade_ws", "notify_ws", "market_ws", "admin")} == {
            "http": base, "trade_ws": base + 1, "notify_ws": base + 3, "market_ws": base - 997, "admin": base + 9}
    finally:
        proc.terminate()
        proc.wait(30)

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = subprocess.run([sys.executable, "-m", "ceres", "serve", "--data-dir", str(tmp_path / "other"),
                              "--trade-ws-port", str(port), "--http-port", "0", "--notify-ws-port", "0",
                              "--market-ws-port", "0", "--admin-port", "0", "--no-simulator"],
                             capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert f"port {port} (trade_ws) is already in use" in out.stderr and "--trade-ws-port" in out.stderr, out.stderr
    assert "--port-base" in out.stderr


def test_port_base_in_the_config_and_its_range() -> None:
    from ceres.config import ConfigError, load_config

    cfg = load_config(overrides={"server": {"port_base": 29000, "admin_port": 5555}})
    s = cfg.server
    assert (s.http_port, s.trade_ws_port, s.notify_ws_port, s.market_ws_port, s.admin_port) == (
        29000, 29001, 29003, 28003, 5555)  # a port given explicitly wins
    try:
        load_config(overrides={"server": {"port_base": 500}})
    except ConfigError as exc:
        assert "port_base" in str(exc) and "market_ws_port" in str(exc)
    else:
        raise AssertionError("a base that puts a port below 1 was accepted")
