"""The README quickstart snippets, run as written (ports substituted) against a real server."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.test_browser_console import ARGS, CHROMIUM
from tests.serverproc import ServerProcess

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def block(lang: str) -> str:
    found = re.findall(rf"```{lang}\n(.*?)```", README, re.S)
    assert len(found) == 1, f"expected one {lang} block in README"
    return found[0]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    proc = ServerProcess(tmp_path_factory.mktemp("readme") / "ceres-data", extra_args=("--no-simulator",)).start()
    yield proc
    proc.stop()


def test_python_quickstart(server, tmp_path):
    code = block("python")
    assert len(code.strip().splitlines()) <= 15
    script = tmp_path / "quickstart.py"
    script.write_text(code.replace("127.0.0.1:19000", f"127.0.0.1:{server.info['http']}"))
    out = subprocess.run([sys.executable, str(script)], cwd=server.data_dir.parent, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    status, cancel = out.stdout.strip().splitlines()
    assert status == "3"
    assert "'SUCCESS': [{'system_oid':" in cancel and "'ERROR': []" in cancel


def test_javascript_quickstart(server):
    from playwright.sync_api import sync_playwright

    demo = server.demo()
    code = (block("javascript").replace("YOUR_API_KEY", demo["api_key"]).replace("YOUR_SECRET", demo["secret"])
            .replace("127.0.0.1:19001", f"127.0.0.1:{server.info['trade_ws']}"))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        logged: list[str] = []
        page.on("console", lambda msg: logged.append(msg.text) if msg.type == "log" else None)
        page.goto(server.http_url + "/")
        page.evaluate(f"async () => {{ {code} }}")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not any('"SUCCESS"' in m for m in logged):
            page.wait_for_timeout(100)
        browser.close()
    assert logged[0] == "pong"
    placed = next(m for m in logged if '"biz_type":11' in m)
    assert '"code":"200"' in placed
    cancelled = next(m for m in logged if '"biz_type":12' in m)
    oid = re.search(r'"system_oid":"(\d+)"', placed).group(1)
    assert f'"SUCCESS":[{{"system_oid":"{oid}"}}]' in cancelled
