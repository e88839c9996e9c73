"""Live venues in a cluster (issue 12 with issue 11): a gateway lists a live venue's markets,
reads balances and journals orders; the leading engine's desk sends them and journals what
the venue says; a cancel through the gateway reaches the venue the same way; after the
leading engine is killed, the standby that takes over carries on with the orders left open.
Two engines and a gateway as real processes on a NATS node, the venue a fake Binance on
loopback: in paper mode (its public book; fills decided by the leader's paper desk), and live
(keys connected through the gateway; balances read at the venue; orders and cancels sent
there by the leader once, with Ceres' client id; a fill at the venue comes back)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.cluster.cluster_helpers import Cluster, demo_of, engines_and_gateway, leader_of
from tests.fakevenue.runner import FakeVenueThread, paper_venue
from tests.integration.api_helpers import Rest
from tests.integration.test_cli import ceres
from tests.natsproc import NatsNode, free_port

DEADLINE_S = 30.0


@pytest.fixture
def paper_cluster(tmp_path):
    fake = FakeVenueThread("binance")
    node = NatsNode(tmp_path / "nats", "n1", free_port()).start()
    cl = Cluster(tmp_path, [node.url], stream="LV", extra=paper_venue(fake.url))
    try:
        engines, gw, rest = engines_and_gateway(cl)
        yield cl, engines, gw, rest, fake
    finally:
        cl.stop()
        node.stop()
        fake.stop()


def place(rest: Rest, side: str, price: str, vol: str) -> str:
    status, reply = rest.call("POST", "trade/input", {"exchange": "BINANCE", "contract": "BTC/USDT",
                                                      "price_type": "limit", "entrust_bs": side,
                                                      "entrust_price": price, "entrust_vol": vol})
    assert status == 200 and reply["code"] == "200", reply
    return reply["data"]["system_oid"]


def until(rest: Rest, oid: str, status: int) -> dict[str, Any]:
    deadline = time.monotonic() + DEADLINE_S
    found: dict[str, Any] = {}
    while time.monotonic() < deadline:
        reply = rest.call("GET", "trade/order", {"system_oid": oid})[1]
        found = reply["data"][0] if reply.get("data") else reply
        if found.get("status") == status:
            return found
        time.sleep(0.1)
    raise AssertionError(f"order {oid} not at status {status}: {found}")


def test_a_gateway_trades_a_live_venue_through_the_leaders_desk(paper_cluster):
    _, engines, gw, rest, fake = paper_cluster
    c = fake.control
    asyncio.run(c.set_book("BTCUSDT", bids=[("29990", "0.01")], asks=[("30100", "1")]))
    admin = ("--data-dir", str(gw.data_dir), "--config", str(gw.config_path))
    ceres("accounts", "deposit", "demo", "USDT", "1000", *admin)
    ceres("accounts", "transfer", "demo", "USDT", "1000", "--from", "2", "--to", "3", "--exchange", "BINANCE", *admin)
    pairs = rest.call("GET", "basic/contracts", {"exchange": "BINANCE", "contract": "BTC/USDT"})[1]
    assert pairs["code"] == "200" and pairs["data"][0]["contract"] == "BTC/USDT", pairs

    resting = place(rest, "buy", "30000", "0.001")
    assert until(rest, resting, 3)["status"] == 3  # the leader's desk acknowledged it
    cancelled = place(rest, "buy", "29000", "0.001")
    until(rest, cancelled, 3)
    _, reply = rest.call("DELETE", "trade/order", {"system_oid": cancelled})
    assert reply.get("data") and reply["data"]["SUCCESS"] == [{"system_oid": cancelled}], reply
    until(rest, cancelled, 15)

    leader = leader_of(engines)
    leader.kill()  # the standby takes over, with the resting paper order open
    leader_of([e for e in engines if e is not leader], timeout=30)
    asyncio.run(c.set_book("BTCUSDT", bids=[("29990", "0.01")], asks=[("29950", "1")]))  # through its limit
    filled = until(rest, resting, 5)
    assert filled["dealt_amount"] == "0.001"
    after = place(rest, "buy", "28000", "0.001")  # the new leader's desk sends new orders too
    until(rest, after, 3)
    rows = {r["currency"]: r for r in rest.call("GET", "trade/account", {"exchange": "BINANCE"})[1]["data"]}
    assert (rows["USDT"]["frozen"], rows["BTC"]["balance"]) == ("28", "0.000999"), rows


def test_live_orders_through_a_gateway_reach_the_venue_from_the_leader(tmp_path):
    import secrets

    from tests.integration.test_live_orders import at_venue

    fake = FakeVenueThread("binance")
    node = NatsNode(tmp_path / "nats", "n1", free_port()).start()
    venue = f'[venues.BINANCE]\nenabled = true\nrest_url = "{fake.url}"\ntimeout_ms = 1500\npoll_ms = 200\n'
    cl = Cluster(tmp_path, [node.url], stream="LL", extra=venue)
    try:
        engine = cl.start("engine", "engine")
        leader_of([engine])
        gw = cl.start("gateway", "gateway")
        d = demo_of([engine])
        rest = Rest(gw.http_url, d["api_key"], d["secret"])
        key, secret = secrets.token_hex(32), secrets.token_hex(32)
        asyncio.run(fake.control.add_account(key, secret, "", {"USDT": "1000", "BTC": "1"}))
        out = ceres("venues", "connect", "demo", "BINANCE", "--api-key", key, "--secret", secret,
                    "--data-dir", str(gw.data_dir), "--config", str(gw.config_path)).stdout
        assert secret not in out
        rows = rest.call("GET", "trade/account", {"exchange": "BINANCE"})[1]["data"]  # read at the venue
        assert {r["currency"]: r["balance"] for r in rows} == {"USDT": "1000", "BTC": "1"}, rows

        oid = place(rest, "buy", "30000", "0.001")
        until(rest, oid, 3)
        (at,) = at_venue(fake, key, oid)  # sent once, with Ceres' client id, by the leader
        asyncio.run(fake.control.fill(at["id"]))
        assert until(rest, oid, 5)["dealt_amount"] == "0.001"
        other = place(rest, "buy", "29000", "0.001")
        until(rest, other, 3)
        _, reply = rest.call("DELETE", "trade/order", {"system_oid": other})
        assert reply["data"]["SUCCESS"] == [{"system_oid": other}], reply
        until(rest, other, 15)
        assert [o["status"] for o in at_venue(fake, key, other)] == ["canceled"]  # at the venue too
    finally:
        cl.stop()
        node.stop()
        fake.stop()
