"""Stateless gateways (issue 12, item 2): one engine and two gateways as real processes on a
NATS node. Either gateway serves the whole API: a place on one is read back at once there
and shortly on the other, notices and market data reach clients of every gateway with the
same per-product ``seq``, refusals come back with the engine's code, admin commands (the CLI
too) go through any gateway, a gateway started later catches up from the journal, and with
no engine leading a gateway answers 50004 while reads keep working."""

from __future__ import annotations

import asyncio
import json
import time
from types import SimpleNamespace

import aiohttp
import pytest

from ceres.client import ws_sign
from tests.cluster.cluster_helpers import ORDER, Cluster, demo_of, leader_of
from tests.integration.api_helpers import Rest
from tests.integration.test_cli import ceres, created_key
from tests.natsproc import NatsNode, free_port

TIMEOUT = 10.0


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("gateways")
    node = NatsNode(root / "nats", "n1", free_port()).start()
    cl = Cluster(root, [node.url], stream="GW")
    try:
        engine = cl.start("engine", "engine")
        leader_of([engine])
        gw1, gw2 = cl.start("gw1", "gateway"), cl.start("gw2", "gateway")
        d = demo_of([engine])
        yield SimpleNamespace(cluster=cl, engine=engine, gw1=gw1, gw2=gw2, demo=d,
                              rest1=Rest(gw1.http_url, d["api_key"], d["secret"]),
                              rest2=Rest(gw2.http_url, d["api_key"], d["secret"]))
    finally:
        cl.stop()
        node.stop()


def place(rest: Rest, side: str, price: str, vol: str = "0.01") -> dict:
    status, reply = rest.call("POST", "trade/input", {**ORDER, "entrust_bs": side, "entrust_price": price,
                                                      "entrust_vol": vol})
    return {**reply, "http_status": status}


def order(rest: Rest, oid: str) -> dict | None:
    status, reply = rest.call("GET", "trade/order", {"system_oid": oid})
    assert status == 200 and reply["code"] == "200", reply
    return reply["data"][0] if reply["data"] else None


def eventually(fn, timeout: float = TIMEOUT):
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.02)


def test_a_place_is_read_back_at_once_on_its_gateway_and_soon_on_the_other(setup):
    oid = place(setup.rest1, "buy", "21000")["data"]["system_oid"]
    mine = order(setup.rest1, oid)  # no wait: the gateway answered once its replica had the order
    assert mine is not None and mine["status"] == 3 and mine["entrust_price"] == "21000"
    other = eventually(lambda: order(setup.rest2, oid))
    assert other == mine
    refused = place(setup.rest2, "buy", "21000", vol="1000000")
    assert refused["code"] == "41001", refused  # the engine's refusal, as a single server gives it


async def test_notices_and_market_data_reach_clients_of_every_gateway(setup):
    d = setup.demo
    query = f"?api_key={d['api_key']}&sign={ws_sign(d['api_key'], d['secret'])}"
    async with aiohttp.ClientSession() as session:
        notices = [await session.ws_connect(f"http://127.0.0.1:{gw.info['notify_ws']}/{query}")
                   for gw in (setup.gw1, setup.gw2)]
        market = await session.ws_connect(f"http://127.0.0.1:{setup.gw2.info['market_ws']}/")
        await market.receive_json(timeout=TIMEOUT)  # the greeting
        await market.send_str(json.dumps([{"msg_type": "subscribe-trade", "exchange": "TEST",
                                           "contract": "BTC/USDT", "duration": None}]))
        await market.receive_json(timeout=TIMEOUT)  # the acks
        buy = await asyncio.to_thread(place, setup.rest1, "buy", "22000")
        sell = await asyncio.to_thread(place, setup.rest2, "sell", "22000")
        oids = {buy["data"]["system_oid"], sell["data"]["system_oid"]}
        seen = []
        for ws in notices:
            got = []
            while not {n["entrustId"] for n in got if n["entrustStatus"] == "FILLED"} >= oids:
                msg = await ws.receive(timeout=TIMEOUT)
                if msg.type == aiohttp.WSMsgType.TEXT and msg.data.startswith("{"):
                    body = json.loads(msg.data)
                    if str(body.get("messageType")) == "1" and body.get("entrustId") in oids:
                        got.append(body)
            seen.append([(n["entrustId"], n["entrustStatus"], n["seq"]) for n in got])
        assert seen[0] == seen[1]  # the same notices with the same seq on both gateways
        while True:
            push = await market.receive_json(timeout=TIMEOUT)
            if push.get("msg_type") == "push-trade" and push.get("price") == "22000":
                break
        for ws in [*notices, market]:
            await ws.close()


def test_admin_commands_and_the_cli_go_through_any_gateway(setup):
    gw1 = setup.gw1
    args = ("--config", str(gw1.config_path), "--data-dir", str(gw1.data_dir))
    ceres("products", "create", "via-gw", *args)
    api_key, secret = created_key(ceres("keys", "create", "via-gw", *args).stdout)
    ceres("accounts", "deposit", "via-gw", "USDT", "500", *args)
    ceres("accounts", "transfer", "via-gw", "USDT", "500", "--from", "2", "--to", "3", "--exchange", "TEST", *args)
    rest = Rest(setup.gw2.http_url, api_key, secret)  # the key, sealed on gateway 1, opens on gateway 2

    def usdt() -> str | None:
        _, reply = rest.call("GET", "trade/account", {"exchange": "TEST"})
        if reply.get("code") != "200":
            return None
        return next((r["balance"] for r in reply["data"] if r["currency"] == "USDT" and r["account_type"] == 3), None)
    assert eventually(usdt) == "500"


def test_a_gateway_started_later_catches_up_from_the_journal(setup):
    oid = place(setup.rest1, "buy", "21500")["data"]["system_oid"]
    late = setup.cluster.start("gw3", "gateway")
    d = setup.demo
    rest = Rest(late.http_url, d["api_key"], d["secret"])
    assert order(rest, oid) == order(setup.rest1, oid)
    status, fills = rest.call("GET", "trade/trans", {"exchange": "TEST", "contract": "BTC/USDT", "count": "50"})
    assert status == 200 and fills["code"] == "200" and fills["data"], fills  # history of its own, from the journal
    late.stop()
    setup.cluster.procs.remove(late)


def test_with_no_engine_a_gateway_answers_50004_and_reads_keep_working(setup):
    oid = place(setup.rest1, "buy", "20500")["data"]["system_oid"]
    setup.engine.kill()
    try:
        started = time.monotonic()
        refused = place(setup.rest1, "buy", "20500")
        assert refused["code"] == "50004" and refused["http_status"] == 503, refused
        assert "nothing was applied" in refused["message"]
        assert time.monotonic() - started < 5
        assert order(setup.rest1, oid)["status"] == 3
    finally:
        setup.engine.start(timeout=60)
    leader_of([setup.engine])
    assert eventually(lambda: place(setup.rest1, "buy", "20500")["code"] == "200")


def test_a_cluster_role_on_the_file_journal_is_refused_saying_why(tmp_path):
    out = ceres("serve", "--role", "gateway", "--data-dir", str(tmp_path / "d"), check=False)
    assert out.returncode == 2
    assert '--role gateway needs the JetStream journal ([journal] backend = "jetstream")' in out.stderr
    assert not (tmp_path / "d" / "server.json").exists()
