"""A live venue through Ceres, read side (issue 11, item 4 in part): a real server with
BINANCE pointed at a fake Binance on loopback (``rest_url``) and OKEX at a port nobody
listens on. The venue's markets are listed as contracts (by ccxt symbol or the venue's id,
on the venue's grid); a product's balances there come with its own key as account type 3;
a product without a key, a venue that fails and a venue that never answered each get their
documented code; the TEST venue is unaffected. (Orders: test_live_orders.py.)
"""

from __future__ import annotations

import asyncio
import secrets

import aiohttp
import pytest

from ceres.client import TradeSocket
from tests.fakevenue.runner import FakeVenueThread
from tests.serverproc import ServerProcess

from .api_helpers import demo_rest
from .test_cli import ceres

UNREACHABLE = "http://127.0.0.1:9"


@pytest.fixture(scope="module")
def binance():
    fake = FakeVenueThread("binance")
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def srv(tmp_path_factory, binance):
    config = (f'[venues.BINANCE]\nenabled = true\nrest_url = "{binance.url}"\ntimeout_ms = 3000\n'
              f'[venues.OKEX]\nenabled = true\nrest_url = "{UNREACHABLE}"\ntimeout_ms = 500\n')
    proc = ServerProcess(tmp_path_factory.mktemp("live") / "data", config=config,
                         extra_args=("--no-simulator",)).start()
    try:
        key, secret = secrets.token_hex(32), secrets.token_hex(32)
        asyncio.run(binance.control.add_account(key, secret, "", {"USDT": "1000.25", "BTC": "0.5"}))
        ceres("venues", "connect", "demo", "BINANCE", "--api-key", key, "--secret", secret,
              "--data-dir", str(proc.data_dir), "--config", str(proc.config_path))
        yield proc
    finally:
        proc.stop()


def test_markets_are_contracts_on_the_venue_grid(srv):
    rest = demo_rest(srv)
    status, reply = rest.call("GET", "basic/contracts", {"exchange": "BINANCE"})
    assert status == 200 and reply["code"] == "200", reply
    pairs = {p["contract"]: p for p in reply["data"]}
    btc = pairs["BTC/USDT"]
    assert btc == {"contract": "BTC/USDT", "exchange": "BINANCE", "kind": "4", "tick_size": "0.01",
                   "volume_increment": "0.00001", "min_price": "0.01", "min_volume": "0.00001",
                   "min_change": "0.01"}
    by_id = rest.call("GET", "basic/contracts", {"exchange": "BINANCE", "contract": "BTCUSDT"})[1]
    assert by_id["data"] == [btc]  # the venue's own id names the same market
    unknown = rest.call("GET", "basic/contracts", {"exchange": "BINANCE", "contract": "NOPE/USDT"})[1]
    assert unknown["code"] == "40402"
    assert rest.call("GET", "basic/contracts", {"exchange": "TEST"})[1]["code"] == "200"


def test_balances_with_the_products_own_key(srv, binance):
    rest = demo_rest(srv)
    rows = rest.call("GET", "trade/account", {"exchange": "BINANCE"})[1]["data"]
    assert {(r["account_type"], r["exchange"], r["currency"], r["balance"], r["frozen"]) for r in rows} == {
        (3, "BINANCE", "USDT", "1000.25", "0"), (3, "BINANCE", "BTC", "0.5", "0")}
    everything = rest.call("GET", "trade/account", {})[1]["data"]
    assert {r.get("exchange") for r in everything} >= {"TEST", "BINANCE"}  # OKEX: no key, not asked

    asyncio.run(binance.control.fail_next("/api/v3/account", "error", status=503, body="busy"))
    status, failed = rest.call("GET", "trade/account", {"exchange": "BINANCE"})
    assert (status, failed["code"]) == (503, "50003") and "BINANCE" in failed["message"], failed
    assert rest.call("GET", "trade/account", {"exchange": "BINANCE"})[1]["code"] == "200"  # next one works


def test_no_key_and_an_unreachable_venue(srv):
    rest = demo_rest(srv)
    no_key = rest.call("GET", "trade/account", {"exchange": "OKEX"})[1]
    assert no_key["code"] == "40408", no_key
    never = rest.call("GET", "basic/contracts", {"exchange": "OKEX"})
    assert never[0] == 503 and never[1]["code"] == "50003", never
    placed = rest.call("POST", "trade/input", {"exchange": "OKEX", "contract": "BTC/USDT", "price_type": "limit",
                                               "entrust_bs": "buy", "entrust_price": "10", "entrust_vol": "0.001"})
    assert placed[0] == 503 and placed[1]["code"] == "50003", placed  # its markets never loaded: nothing journaled


def test_the_same_over_the_websocket(srv):
    demo = srv.demo()

    async def run() -> tuple[dict, dict]:
        async with aiohttp.ClientSession() as session:
            ws = await TradeSocket.connect(session, srv.trade_ws_url, demo["api_key"], demo["secret"])
            try:
                return (await ws.request(13, exchange="BINANCE", contract="ETH/USDT"),
                        await ws.request(14, exchange="BINANCE"))
            finally:
                await ws.close()

    pairs, account = asyncio.run(asyncio.wait_for(run(), 30))
    assert pairs["code"] == "200" and pairs["data"][0]["contract"] == "ETH/USDT", pairs
    assert account["code"] == "200" and {r["currency"] for r in account["data"]} == {"USDT", "BTC"}, account


def test_health_and_metrics_show_each_venue(srv):
    import json
    import urllib.request

    with urllib.request.urlopen(srv.http_url + "/health", timeout=10) as resp:
        status, health = resp.status, json.loads(resp.read())
    assert status == 200 and health["status"] == "ok"  # a venue down does not make the server unhealthy
    binance, okex = health["venues"]["BINANCE"], health["venues"]["OKEX"]
    assert binance["connected"] is True and binance["markets"] == 2 and binance["rtt_ms"] > 0, binance
    assert okex["connected"] is False and okex["markets"] == 0 and okex["last_error"], okex
    assert okex["errors"] >= 1 and okex["orders_in_flight"] == 0
    with urllib.request.urlopen(srv.http_url + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    assert 'ceres_venue_connected{venue="BINANCE"} 1' in text and 'ceres_venue_connected{venue="OKEX"} 0' in text
    assert 'ceres_venue_markets{venue="BINANCE"} 2' in text and 'ceres_venue_calls_total{venue="BINANCE"}' in text
