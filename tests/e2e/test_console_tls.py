"""The web console in a real Chromium against a strict server: served over https, its
sockets over wss with timestamped handshakes, its own origin the one listed in
``security.allowed_origins``; a page from another origin is refused the sockets.

The certificate is self-signed (made in the test); Chromium is told to accept it.
"""

from __future__ import annotations

import socket

import pytest

from tests.serverproc import ServerProcess
from tests.tls_helpers import self_signed, tls_config

from .test_browser_console import ARGS, CHROMIUM, place_from_the_console


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e-tls")
    cert, key = self_signed(root)
    port = _free_port()  # the console's origin must be known before the server starts
    config = tls_config(cert, key, f'[security]\nprofile = "strict"\nallowed_origins = ["https://127.0.0.1:{port}"]\n')
    proc = ServerProcess(root / "data", config=config, extra_args=("--no-simulator", "--http-port", str(port))).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=[*ARGS, "--ignore-certificate-errors"])
        yield b
        b.close()


def test_console_over_tls_with_the_strict_profile(strict_server, browser):
    demo = strict_server.demo()
    page = browser.new_page(ignore_https_errors=True)
    page.goto(f"https://127.0.0.1:{strict_server.info['http']}/")
    place_from_the_console(page, demo)  # 19001 and 19003 over wss
    page.wait_for_selector("#bids td:has-text('12345.67')", timeout=10000)  # 18003 over wss
    page.close()


WS_FROM_PAGE = """
async (url) => new Promise((resolve) => {
  const socket = new WebSocket(url);
  socket.addEventListener('open', () => { socket.close(); resolve('open'); });
  socket.addEventListener('error', () => resolve('refused'));
})
"""


def test_a_page_from_another_origin_is_refused(strict_server, browser):
    page = browser.new_page(ignore_https_errors=True)
    page.goto(f"https://127.0.0.1:{strict_server.info['http']}/")
    allowed = page.evaluate(WS_FROM_PAGE, f"wss://127.0.0.1:{strict_server.info['market_ws']}/")
    assert allowed == "open"
    # the same socket from a page served elsewhere (about:blank has the origin "null")
    other = browser.new_page(ignore_https_errors=True)
    refused = other.evaluate(WS_FROM_PAGE, f"wss://127.0.0.1:{strict_server.info['market_ws']}/")
    assert refused == "refused"
    assert "40302" in strict_server.logs()
    page.close()
    other.close()
