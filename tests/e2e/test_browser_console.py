"""A real Chromium drives the web console and runs the original JS demo against a real server.

Chromium comes from Debian (``scripts/system-deps.sh``, called by ``make test``);
Playwright only drives it (no browser download).
"""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest

from tests.serverproc import ServerProcess

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    proc = ServerProcess(tmp_path_factory.mktemp("e2e") / "data", extra_args=("--no-simulator",)).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def place_from_the_console(page, demo) -> str:
    """Sign in with ``demo``'s key, place a bid of 0.01 BTC/USDT at 12345.67 from the order
    form, and wait until the notice socket reports it; its system_oid."""
    page.fill("#apiKey", demo["api_key"])
    page.fill("#secret", demo["secret"])
    page.click("#connect")
    page.wait_for_function("document.getElementById('status').textContent === 'connected'", timeout=10000)
    page.wait_for_selector("#log div:has-text('pong')", timeout=10000)
    # biz_type 13 filled the contract list
    page.wait_for_function("document.getElementById('contract').options.length >= 4", timeout=10000)
    page.select_option("#contract", "BTC/USDT")
    page.fill("#price", "12345.67")
    page.fill("#vol", "0.01")
    page.click("#place")
    page.wait_for_function("document.getElementById('cancelId').value.length >= 18", timeout=10000)
    oid = page.input_value("#cancelId")
    # the notice socket reported the new order
    page.wait_for_selector(f"#log div:has-text('\"entrustId\":\"{oid}\"')", timeout=10000)
    return oid


def test_console_connects_places_and_cancels(server, browser):
    demo = server.demo()
    page = browser.new_page()
    page.goto(server.http_url + "/")
    oid = place_from_the_console(page, demo)
    page.wait_for_selector("#bids td:has-text('12345.67')", timeout=10000)
    page.click("#cancel")
    page.wait_for_selector(f"#log div:has-text('\"SUCCESS\":[{{\"system_oid\":\"{oid}\"}}]')", timeout=10000)
    orders = server.rest().orders(system_oid=oid)["data"]
    assert orders[0]["status"] == 15
    page.close()


def test_console_sends_post_only_and_stp_and_cancels_all(server, browser):
    demo = server.demo()
    page = browser.new_page()
    page.goto(server.http_url + "/")
    place_from_the_console(page, demo)  # a bid at 12345.67
    page.select_option("#side", "sell")
    page.fill("#price", "12345.67")
    page.check("#postOnly")
    page.click("#place")  # would take the bid: refused as post-only
    page.wait_for_selector("#log div:has-text('\"code\":\"42004\"')", timeout=10000)
    page.uncheck("#postOnly")
    page.select_option("#stp", "cancel_taker")
    page.click("#place")  # meets its own bid: cancelled, no trade
    page.wait_for_selector("#log div:has-text('\"errorCode\":\"42005\"')", timeout=10000)
    page.click("#cancelAll")
    page.wait_for_selector("#log div:has-text('\"biz_type\":23')", timeout=10000)
    assert server.rest().open_orders()["data"]["orderDetailRes"] == []
    page.close()


SEED_DEMO = """
async ([url, order]) => {
  // the original WEBSOCKET-DEMO logic: connect with api_key & sign, send 'ping' on open,
  // then a JSON request with "biz_type": 11; collect what comes back
  const socket = new WebSocket(url);
  const received = [];
  await new Promise((resolve, reject) => {
    socket.addEventListener('open', () => socket.send('ping'));
    socket.addEventListener('error', reject);
    socket.addEventListener('message', (event) => {
      received.push(event.data);
      if (event.data === 'pong') socket.send(order);
      else { socket.close(); resolve(); }
    });
  });
  return received;
}
"""


def test_original_js_demo_works_unmodified(server, browser):
    demo = server.demo()
    sign = hashlib.sha256(f"api_key={demo['api_key']}&secret={demo['secret']}".encode()).hexdigest()
    url = f"ws://127.0.0.1:{server.info['trade_ws']}?api_key={demo['api_key']}&sign={sign}"
    order = json.dumps({"exchange": "TEST", "contract": "ADA_BTC", "price_type": "limit",
                        "entrust_price": "0.000011", "profit_value": "0.00000997", "entrust_vol": "10",
                        "entrust_bs": "buy", "future_dir": "open", "lever": "10", "client_oid": "12345",
                        "biz_type": 11})
    page = browser.new_page()
    page.goto(server.http_url + "/")
    received = page.evaluate(SEED_DEMO, [url, order])
    assert received[0] == "pong"
    reply = json.loads(received[1])
    assert set(reply) == {"code", "data", "message", "biz_type"}
    assert (reply["code"], reply["message"], reply["biz_type"]) == ("200", "SUCESS", 11)
    assert reply["data"]["client_oid"] == "12345"
    assert reply["data"]["system_oid"].isdigit() and 18 <= len(reply["data"]["system_oid"]) <= 19
    page.close()
