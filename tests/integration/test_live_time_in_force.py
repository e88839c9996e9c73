"""Time in force and post-only on live venues through Ceres (issue 13, item 1): a real server on
loopback with BINANCE on the fake Binance spot (REST polling, and its streams), and in paper mode.

- IOC takes what the venue's book offers within its limit and the rest expires (14 with its
  fills, 15 with none); FOK fills whole or expires with nothing (5 or 15); a post-only order that
  would take is refused by the venue (Binance's LIMIT_MAKER, -2010) and ends 6 with 42004; one
  that does not rests (3) at the venue as LIMIT_MAKER and cancels as any order.
- The same in paper mode, decided in the order's first round against the venue's public book.
- OKEX (GTC only through Ceres for now) refuses them at once: 40006 naming ``time_in_force``.
- The journal replays to the same state (``verify --full``); paper money balances (``audit``).
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest

from tests.serverproc import ServerProcess

from .api_helpers import demo_rest
from .test_cli import ceres
from .test_live_orders import at_venue, order, start, until
from .test_paper_mode import admin


def place(srv: ServerProcess, side: str, price: str, vol: str, exchange: str = "BINANCE",
          **lifetime: str) -> tuple[str, dict[str, Any]]:
    status, reply = demo_rest(srv).call("POST", "trade/input", {
        "exchange": exchange, "contract": "BTC/USDT", "price_type": "limit", "entrust_bs": side,
        "entrust_price": price, "entrust_vol": vol, **lifetime})
    assert status == 200, reply
    return (reply["data"] or {}).get("system_oid", ""), reply


def fills_of(srv: ServerProcess, oid: str) -> list[tuple[str, str]]:
    rows = demo_rest(srv).call("GET", "trade/trans", {"exchange": "BINANCE", "contract": "BTC/USDT",
                                                      "count": 50})[1]["data"]
    return sorted((f["dealt_amount"], f["dealt_price"]) for f in rows if f["system_oid"] == oid)


def verified(srv: ServerProcess) -> None:
    out = ceres("verify", str(srv.data_dir), "--full", "--config", str(srv.config_path)).stdout
    assert re.search(r"full replay hash:\s+[0-9a-f]{64} \(matches\)", out) and "consistency:      ok" in out, out


@pytest.fixture(params=[False, True], ids=["rest", "streams"])
def binance(request, tmp_path):
    srv, fake, key = start(tmp_path, "binance", streams=request.param)
    yield srv, fake, key
    srv.stop()
    fake.stop()


def test_ioc_fok_and_post_only_on_binance(binance):
    srv, fake, key = binance
    c = fake.control
    asyncio.run(c.set_book("BTCUSDT", bids=[("29990", "0.01")], asks=[("30010", "0.002"), ("30020", "0.01")]))

    ioc, _ = place(srv, "buy", "30015", "0.003", time_in_force="IOC")  # takes 0.002 at 30010
    ended = until(srv, ioc, 14)
    assert ended["dealt_amount"] == "0.002" and fills_of(srv, ioc) == [("0.002", "30010")]
    (at,) = at_venue(fake, key, ioc)
    assert (at["tif"], at["status"], at["filled"]) == ("IOC", "expired", "0.002")

    fok, _ = place(srv, "buy", "30020", "0.02", time_in_force="fok")  # the book holds 0.01 there
    assert until(srv, fok, 15)["dealt_amount"] == "0" and fills_of(srv, fok) == []
    whole, _ = place(srv, "buy", "30020", "0.004", time_in_force="FOK")
    assert until(srv, whole, 5)["dealt_amount"] == "0.004" and fills_of(srv, whole) == [("0.004", "30020")]

    nothing, _ = place(srv, "sell", "31000", "0.001", time_in_force="IOC")  # no bid that high
    assert until(srv, nothing, 15)["dealt_amount"] == "0"

    took, _ = place(srv, "buy", "30020", "0.001", post_only="true")
    refused = until(srv, took, 6)
    assert (refused["error_code"], refused["error_message"]) == (
        "42004", "post-only order would take liquidity (OrderImmediatelyFillable)")
    assert at_venue(fake, key, took) == []

    rests, _ = place(srv, "buy", "29000", "0.001", post_only=True)
    until(srv, rests, 3)
    (at,) = at_venue(fake, key, rests)
    assert (at["maker_only"], at["status"]) == (True, "new")
    sent = [r["body"] for r in asyncio.run(c.requests()) if r["method"] == "POST" and f"cer{rests}" in r["body"]]
    assert "type=LIMIT_MAKER" in sent[0] and "timeInForce" not in sent[0]
    assert demo_rest(srv).delete_ids(rests)[1]["data"]["SUCCESS"] == [{"system_oid": rests}]
    until(srv, rests, 15)

    srv.stop()
    verified(srv)
    srv.start()
    assert [order(srv, o)["status"] for o in (ioc, fok, whole, nothing, took, rests)] == [14, 15, 5, 15, 6, 15]


def test_okex_refuses_another_time_in_force_at_once(tmp_path):
    srv, fake, _ = start(tmp_path, "okx")
    try:
        for lifetime in ({"time_in_force": "IOC"}, {"time_in_force": "FOK"}, {"post_only": "true"}):
            oid, reply = place(srv, "buy", "30000", "0.001", exchange="OKEX", **lifetime)
            assert oid == "" and reply["code"] == "40006", reply
            assert "time_in_force" in reply["message"] and "GTC only" in reply["message"], reply
        gtc, _ = place(srv, "buy", "30000", "0.001", exchange="OKEX", time_in_force="GTC")
        until(srv, gtc, 3)
        posts = [r for r in asyncio.run(fake.control.requests()) if r["method"] == "POST"
                 and r["path"] == "/api/v5/trade/order"]
        assert len(posts) == 1  # only the GTC one reached the venue
    finally:
        srv.stop()
        fake.stop()


def usdt(srv: ServerProcess) -> tuple[str, str]:
    rows = demo_rest(srv).call("GET", "trade/account", {"exchange": "BINANCE"})[1]["data"]
    return next((r["balance"], r["frozen"]) for r in rows if r["currency"] == "USDT")


def test_ioc_fok_and_post_only_in_paper_mode(paper):
    srv, fake = paper
    c = fake.control
    admin(srv, "accounts", "deposit", "demo", "USDT", "1000")
    admin(srv, "accounts", "transfer", "demo", "USDT", "1000", "--from", "2", "--to", "3", "--exchange", "BINANCE")
    asyncio.run(c.set_book("BTCUSDT", bids=[("29990", "0.01")], asks=[("30010", "0.002"), ("30020", "0.01")]))

    ioc, _ = place(srv, "buy", "30015", "0.003", time_in_force="IOC")
    assert until(srv, ioc, 14)["dealt_amount"] == "0.002" and fills_of(srv, ioc) == [("0.002", "30010")]
    assert usdt(srv) == ("939.98", "0")  # paid 60.02; the rest released, never resting

    fok, _ = place(srv, "buy", "30020", "0.02", time_in_force="FOK")  # 0.01 shown at 30020
    assert until(srv, fok, 15)["dealt_amount"] == "0"
    whole, _ = place(srv, "buy", "30020", "0.004", time_in_force="FOK")
    assert until(srv, whole, 5)["dealt_amount"] == "0.004" and fills_of(srv, whole) == [("0.004", "30020")]

    took, _ = place(srv, "buy", "30020", "0.001", post_only="true")
    refused = until(srv, took, 6)
    assert (refused["error_code"], refused["error_message"]) == ("42004", "post-only order would take liquidity")
    rests, _ = place(srv, "buy", "29000", "0.001", post_only="true")
    until(srv, rests, 3)
    asyncio.run(c.set_book("BTCUSDT", bids=[("28000", "0.01")], asks=[("28990", "1")]))  # through its limit
    assert until(srv, rests, 5)["dealt_amount"] == "0.001" and fills_of(srv, rests) == [("0.001", "29000")]
    assert usdt(srv) == ("790.9", "0")  # 1000 - 60.02 - 120.08 - 29

    private = [r["path"] for r in asyncio.run(c.requests())
               if r["path"] not in ("/api/v3/exchangeInfo", "/api/v3/depth", "/api/v3/time", "/api/v3/ping")]
    assert private == [], private
    srv.stop()
    verified(srv)
    audit = json.loads(admin(srv, "audit", "--json").stdout)
    assert audit["conservation_ok"] is True, audit
    srv.start()
    assert [order(srv, o)["status"] for o in (ioc, fok, whole, took, rests)] == [14, 15, 5, 6, 5]
