"""First-run polish (issue 14, item 4): the banner's "Try it" command works as printed, on
the first start and on every start after it (the secret is read from the credentials file
when the banner does not show it)."""

from __future__ import annotations

import json
import subprocess

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
