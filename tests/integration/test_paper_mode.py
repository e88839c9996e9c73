"""Paper mode through Ceres (issue 11, item 10): a real server with ``[venues.BINANCE] mode =
"paper"`` on the fake Binance's public data, no key anywhere. Money moves into the paper
account by transfer; a buy takes the venue's asks at their prices (a taker) and rests for the
rest, which fills at its limit once the venue's book moves through it; balances, fills and
fees are Ceres' own (fee in what the order receives); refusals name the missing funds; a
cancel gives the money back; nothing private is ever sent to the venue; the journal replays
to the same state and the money audit balances with the paper market as the other side.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

from tests.fakevenue.runner import FakeVenueThread
from tests.serverproc import ServerProcess

from .api_helpers import demo_rest
from .test_cli import ceres
from .test_live_orders import order, until

DEADLINE_S = 20


def admin(srv: ServerProcess, *args: str) -> Any:
    return ceres(*args, "--data-dir", str(srv.data_dir), "--config", str(srv.config_path))


def place(srv: ServerProcess, side: str, price: str, vol: str) -> tuple[str, dict[str, Any]]:
    status, reply = demo_rest(srv).call("POST", "trade/input", {
        "exchange": "BINANCE", "contract": "BTC/USDT", "price_type": "limit", "entrust_bs": side,
        "entrust_price": price, "entrust_vol": vol})
    assert status == 200, reply
    return (reply["data"] or {}).get("system_oid", ""), reply


def balances(srv: ServerProcess) -> dict[str, tuple[str, str]]:
    rows = demo_rest(srv).call("GET", "trade/account", {"exchange": "BINANCE"})[1]["data"]
    assert all(r["account_type"] == 3 and r["exchange"] == "BINANCE" for r in rows), rows
    return {r["currency"]: (r["balance"], r["frozen"]) for r in rows}


def test_paper_trading_on_the_venues_book(paper):
    srv, fake = paper
    c = fake.control
    asyncio.run(c.set_book("BTCUSDT", bids=[("29990", "0.01")], asks=[("30010", "0.002"), ("30020", "0.01")]))
    _, refused = place(srv, "buy", "30015", "0.003")
    assert refused["code"] == "41001" and "paper account" in refused["message"], refused  # no money there yet

    admin(srv, "accounts", "deposit", "demo", "USDT", "1000")
    admin(srv, "accounts", "transfer", "demo", "USDT", "1000", "--from", "2", "--to", "3", "--exchange", "BINANCE")
    assert balances(srv) == {"USDT": ("1000", "0")}

    oid, _ = place(srv, "buy", "30015", "0.003")  # takes 0.002 at 30010, rests 0.001 at 30015
    assert until(srv, oid, 4)["dealt_amount"] == "0.002"
    # paid 60.02 USDT; 0.001 x 30015 = 30.015 still frozen; received 0.002 BTC less 0.1%
    assert balances(srv) == {"USDT": ("939.98", "30.015"), "BTC": ("0.001998", "0")}

    asyncio.run(c.set_book("BTCUSDT", bids=[("29990", "0.01")], asks=[("30000", "0.5")]))  # through the limit
    filled = until(srv, oid, 5)
    assert filled["dealt_amount"] == "0.003"
    fills = demo_rest(srv).call("GET", "trade/trans", {"exchange": "BINANCE", "contract": "BTC/USDT",
                                                       "count": 10})[1]["data"]
    assert sorted((f["dealt_amount"], f["dealt_price"]) for f in fills if f["system_oid"] == oid) == [
        ("0.001", "30015"), ("0.002", "30010")], fills  # the resting part at its own limit
    assert balances(srv) == {"USDT": ("909.965", "0"), "BTC": ("0.002997", "0")}

    _, refused = place(srv, "sell", "29000", "0.01")
    assert refused["code"] == "41001" and "BTC" in refused["message"], refused
    resting, _ = place(srv, "buy", "25000", "0.01")  # far from the book: rests
    until(srv, resting, 3)
    assert balances(srv)["USDT"] == ("909.965", "250")
    assert demo_rest(srv).delete_ids(resting)[1]["data"]["SUCCESS"] == [{"system_oid": resting}]
    until(srv, resting, 15)
    assert balances(srv)["USDT"] == ("909.965", "0")

    private = [r["path"] for r in asyncio.run(c.requests())
               if r["path"] not in ("/api/v3/exchangeInfo", "/api/v3/depth", "/api/v3/time", "/api/v3/ping")]
    assert private == [], private  # nothing but public reads: no key needed, nothing sent

    srv.stop()
    verified = ceres("verify", str(srv.data_dir), "--full", "--config", str(srv.config_path)).stdout
    assert re.search(r"full replay hash:\s+[0-9a-f]{64} \(matches\)", verified) and "consistency:      ok" in verified
    audit = json.loads(admin(srv, "audit", "--json").stdout)
    by_currency = {c["currency"]: c for c in audit["currencies"]}
    assert audit["conservation_ok"] is True, audit
    assert (by_currency["BTC"]["paper_outside"], by_currency["BTC"]["fees"]) == ("0.003", "0.000003")
    assert by_currency["USDT"]["paper_outside"] == "-90.035"  # 60.02 + 30.015 paid to the market
    srv.start()
    assert order(srv, oid)["status"] == 5 and balances(srv)["BTC"] == ("0.002997", "0")


def test_a_paper_order_open_across_a_restart_fills_after_it(paper):
    srv, fake = paper
    c = fake.control
    asyncio.run(c.set_book("BTCUSDT", bids=[("29990", "0.01")], asks=[("30100", "1")]))
    admin(srv, "accounts", "deposit", "demo", "USDT", "100")
    admin(srv, "accounts", "transfer", "demo", "USDT", "100", "--from", "2", "--to", "3", "--exchange", "BINANCE")
    oid, _ = place(srv, "buy", "30000", "0.001")
    until(srv, oid, 3)
    srv.kill()  # kill -9 with the order open
    srv.start()
    assert order(srv, oid)["status"] == 3 and balances(srv)["USDT"] == ("100", "30")
    asyncio.run(c.set_book("BTCUSDT", bids=[("29990", "0.01")], asks=[("29950", "1")]))
    assert until(srv, oid, 5)["dealt_amount"] == "0.001"
    deadline = time.monotonic() + DEADLINE_S
    while balances(srv)["USDT"] != ("70", "0") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert balances(srv) == {"USDT": ("70", "0"), "BTC": ("0.000999", "0")}


def test_transfers_to_a_live_mode_venue_stay_refused(tmp_path):
    fake = FakeVenueThread("binance")
    srv = ServerProcess(tmp_path / "data", config=f'[venues.BINANCE]\nenabled = true\nrest_url = "{fake.url}"\n',
                        extra_args=("--no-simulator",))
    try:
        srv.start()
        admin(srv, "accounts", "deposit", "demo", "USDT", "10")
        out = ceres("accounts", "transfer", "demo", "USDT", "10", "--from", "2", "--to", "3", "--exchange", "BINANCE",
                    "--data-dir", str(srv.data_dir), "--config", str(srv.config_path), check=False)
        assert out.returncode != 0 and "40026" in out.stdout + out.stderr, out
    finally:
        srv.stop()
        fake.stop()


def test_a_dead_mans_switch_cancels_paper_orders_at_the_venue_desk(paper):
    srv, fake = paper
    asyncio.run(fake.control.set_book("BTCUSDT", bids=[("29990", "0.01")], asks=[("30100", "1")]))
    admin(srv, "accounts", "deposit", "demo", "USDT", "100")
    admin(srv, "accounts", "transfer", "demo", "USDT", "100", "--from", "2", "--to", "3", "--exchange", "BINANCE")
    oid, _ = place(srv, "buy", "25000", "0.001")
    until(srv, oid, 3)
    status, armed = demo_rest(srv).call("POST", "trade/cancel_all_after", {"timeout_ms": "1000",
                                                                         "exchange": "BINANCE"})
    assert status == 200 and armed["code"] == "200", armed
    assert until(srv, oid, 15)["status"] == 15  # the desk was asked once the switch fired
    assert balances(srv)["USDT"] == ("100", "0")
