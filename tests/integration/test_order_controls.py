"""Issue 13 against a running server, over REST and the biz_type socket: time in force and
post-only on place, self-trade prevention with its reason on the cancelled order, batches with
good and bad items, cancel all by filter, the dead-man's switch (also across a kill -9 and
restart: it fires from the journaled deadline), and cancel on disconnect for a client killed
with SIGKILL while it holds open orders."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from typing import Any

import aiohttp

from .api_helpers import Rest, Ws, make_product, ws_sign

FUNDS = {"USDT": "1000000", "BTC": "100"}
DEADLINE_S = 15.0


def limit(side: str, price: str, vol: str = "0.01", **extra: Any) -> dict[str, Any]:
    return {"exchange": "TEST", "contract": "BTC/USDT", "price_type": "limit", "entrust_bs": side,
            "entrust_price": price, "entrust_vol": vol, **extra}


def ok(reply: tuple[int, Any]) -> Any:
    status, body = reply
    assert status == 200 and body["code"] == "200", body
    return body["data"]


def order(rest: Rest, oid: str) -> dict[str, Any]:
    return ok(rest.call("GET", "trade/order", {"system_oid": oid}))[0]


def open_ids(rest: Rest) -> set[str]:
    return {o["system_oid"] for o in ok(rest.call("GET", "trade/open_orders", {}))["orderDetailRes"]}


def wait_until(check: Any, timeout: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_time_in_force_post_only_and_self_trade_prevention_over_rest(server) -> None:
    alice = make_product(server, "alice", FUNDS)
    ask = ok(alice.call("POST", "trade/input", limit("sell", "30000")))["system_oid"]
    _, refused = alice.call("POST", "trade/input", limit("buy", "30000", post_only="true"))
    assert refused["code"] == "42004", refused
    _, refused = alice.call("POST", "trade/input", limit("buy", "29000", post_only=True, time_in_force="IOC"))
    assert refused["code"] == "40006" and "post_only" in refused["message"], refused
    resting = ok(alice.call("POST", "trade/input", limit("buy", "29000", post_only=True)))["system_oid"]
    assert order(alice, resting)["status"] == 3
    ioc = ok(alice.call("POST", "trade/input", limit("buy", "28000", time_in_force="ioc")))["system_oid"]
    assert order(alice, ioc)["status"] == 15  # nothing to take: ends at once

    taker = ok(alice.call("POST", "trade/input", limit("buy", "30000", stp="cancel_taker")))["system_oid"]
    cancelled = order(alice, taker)
    assert (cancelled["status"], cancelled["error_code"]) == (15, "42005"), cancelled
    assert order(alice, ask)["status"] == 3  # the maker stays
    maker_side = ok(alice.call("POST", "trade/input", limit("buy", "30000", stp="cancel_maker")))["system_oid"]
    assert order(alice, ask)["status"] == 15 and order(alice, ask)["error_code"] == "42005"
    assert order(alice, maker_side)["status"] == 3  # rests once its own ask is gone
    assert ok(alice.call("GET", "trade/trans", {"exchange": "TEST", "contract": "BTC/USDT", "count": 10})) == []
    _status, refused = alice.call("POST", "trade/input", limit("buy", "1", stp="cancel_everything"))
    assert refused["code"] == "40006" and "stp" in refused["message"], refused


def test_batches_cancel_all_and_the_dead_mans_switch_over_the_socket(server) -> None:
    alice = make_product(server, "alice", FUNDS)

    async def run() -> None:
        async with aiohttp.ClientSession() as session:
            ws = await Ws.connect(session, server.trade_ws_url, alice.api_key, alice.secret)
            placed = await ws.ok(21, orders=[limit("buy", "20000", client_oid="a"), limit("buy", "20000.001"),
                                             "not an order", limit("sell", "40000", client_oid="c")])
            assert [r["code"] for r in placed] == ["0", "40008", "40005", "0"], placed
            assert placed[0]["client_oid"] == "a" and placed[3]["client_oid"] == "c"
            good = [placed[0]["system_oid"], placed[3]["system_oid"]]
            too_many = await ws.request(21, orders=[limit("buy", "1")] * 21)
            assert too_many["code"] == "40027", too_many
            results = await ws.ok(22, system_oid=f"{good[0]},123456789")
            assert [(r["system_oid"], r["code"]) for r in results] == [(good[0], "0"), ("123456789", "40403")]
            more = [r["system_oid"] for r in await ws.ok(21, orders=[limit("buy", "20001"), limit("sell", "40001")])]
            assert await ws.ok(23, entrust_bs="sell") == [{"system_oid": good[1]}, {"system_oid": more[1]}]
            assert await ws.ok(23) == [{"system_oid": more[0]}]
            assert await ws.ok(23) == []

            last = ok(alice.call("POST", "trade/input", limit("buy", "20002")))["system_oid"]
            armed = await ws.ok(24, timeout_ms="1000")
            assert armed["timeout_ms"] == "1000" and int(armed["deadline"]) > 0
            bad = await ws.request(24, timeout_ms=500)
            assert bad["code"] == "40006", bad
            await asyncio.sleep(0.5)
            await ws.ok(24, timeout_ms=1000)  # refreshed: nothing fires yet
            await asyncio.sleep(0.7)
            assert order(alice, last)["status"] == 3
            await asyncio.sleep(1.5)
            fired = order(alice, last)
            assert (fired["status"], fired["error_code"]) == (15, "42006"), fired
            await ws.close()

    asyncio.run(run())


def test_the_dead_mans_switch_fires_after_a_kill_and_restart(server) -> None:
    alice = make_product(server, "alice", FUNDS)
    early = ok(alice.call("POST", "trade/input", limit("buy", "20000")))["system_oid"]
    armed = ok(alice.call("POST", "trade/cancel_all_after", {"timeout_ms": "1000"}))
    server.kill()
    while time.time() * 1000 < int(armed["deadline"]) + 300:  # the deadline passes while it is down
        time.sleep(0.05)
    server.start()
    alice = Rest(server.http_url, alice.api_key, alice.secret)  # the restarted server's ports
    wait_until(lambda: order(alice, early)["status"] == 15)
    assert order(alice, early)["error_code"] == "42006"

    late = ok(alice.call("POST", "trade/input", limit("buy", "20000")))["system_oid"]
    armed = ok(alice.call("POST", "trade/cancel_all_after", {"timeout_ms": "4000"}))
    server.kill()
    server.start()
    alice = Rest(server.http_url, alice.api_key, alice.secret)
    if time.time() * 1000 < int(armed["deadline"]) - 500:
        assert order(alice, late)["status"] == 3  # not at the restart: at its deadline
    wait_until(lambda: order(alice, late)["status"] == 15)


CLIENT = """
import asyncio, json, sys
import aiohttp
sys.path.insert(0, sys.argv[1])
from tests.integration.api_helpers import ws_sign

async def main(url, key, secret):
    async with aiohttp.ClientSession() as s:
        ws = await s.ws_connect(f"{url}?api_key={key}&sign={ws_sign(key, secret)}&cancel_on_disconnect=1")
        ids = []
        for price in ("20000", "20001"):
            await ws.send_str(json.dumps({"biz_type": 11, "exchange": "TEST", "contract": "BTC/USDT",
                "price_type": "limit", "entrust_bs": "buy", "entrust_price": price, "entrust_vol": "0.01"}))
            ids.append(json.loads((await ws.receive()).data)["data"]["system_oid"])
        print(json.dumps(ids), flush=True)
        await asyncio.sleep(600)

asyncio.run(main(*sys.argv[2:]))
"""


def test_cancel_on_disconnect_after_the_client_is_killed(server, tmp_path) -> None:
    alice = make_product(server, "alice", FUNDS)
    other = ok(alice.call("POST", "trade/input", limit("buy", "19000")))["system_oid"]  # not through that socket
    root = str(__import__("pathlib").Path(__file__).resolve().parents[2])
    client = subprocess.Popen([sys.executable, "-c", CLIENT, root, server.trade_ws_url, alice.api_key, alice.secret],
                              stdout=subprocess.PIPE, text=True)
    try:
        ids = json.loads(client.stdout.readline())
        assert set(ids) <= open_ids(alice)
    finally:
        client.send_signal(signal.SIGKILL)
        client.wait(10)
    wait_until(lambda: not set(ids) & open_ids(alice))
    assert {order(alice, oid)["error_code"] for oid in ids} == {"42007"}
    assert other in open_ids(alice)


def test_a_keys_default_stp_set_from_the_cli_applies_to_orders_that_name_none(server) -> None:
    from .test_cli import ceres, created_key

    alice = make_product(server, "alice", FUNDS)
    admin = ("--data-dir", str(server.data_dir))
    out = ceres("keys", "create", "alice", "--stp", "cancel_maker", *admin).stdout
    assert "stp         cancel_maker" in out, out
    maker_key = Rest(server.http_url, *created_key(out))
    ask = ok(alice.call("POST", "trade/input", limit("sell", "30000")))["system_oid"]
    bid = ok(maker_key.call("POST", "trade/input", limit("buy", "30000")))["system_oid"]  # no stp field: the key's
    assert order(alice, ask)["error_code"] == "42005" and order(alice, bid)["status"] == 3

    assert "stp         none" in ceres("keys", "set", maker_key.api_key, "--stp", "none", *admin).stdout
    ok(maker_key.call("POST", "trade/input", limit("sell", "30000")))  # now it trades with its own bid
    assert order(alice, bid)["status"] == 5
    bad = ceres("keys", "set", maker_key.api_key, "--stp", "sometimes", *admin, check=False)
    assert bad.returncode != 0 and "stp" in bad.stdout + bad.stderr


def test_amend_over_rest_and_the_socket(server) -> None:
    alice = make_product(server, "alice", FUNDS)
    bob = make_product(server, "bob", FUNDS)
    first = ok(alice.call("POST", "trade/input", limit("buy", "29000", "0.05")))["system_oid"]
    second = ok(bob.call("POST", "trade/input", limit("buy", "29000", "0.05")))["system_oid"]
    usdt = {r["currency"]: r for r in ok(alice.call("GET", "trade/account", {"exchange": "TEST"}))}["USDT"]
    amended = ok(alice.call("POST", "trade/amend", {"system_oid": first, "entrust_vol": "0.02"}))
    assert (amended["system_oid"], amended["entrust_amount"], amended["status"]) == (first, "0.02", 3)
    after = {r["currency"]: r for r in ok(alice.call("GET", "trade/account", {"exchange": "TEST"}))}["USDT"]
    assert float(after["frozen"]) < float(usdt["frozen"])  # released: 0.03 x 29000 plus its fee reserve
    ok(make_product(server, "carol", FUNDS).call("POST", "trade/input", limit("sell", "29000", "0.01")))
    assert order(alice, first)["dealt_amount"] == "0.01"  # alice kept her place ahead of bob
    assert order(bob, second)["dealt_amount"] == "0"

    async def run() -> None:
        async with aiohttp.ClientSession() as session:
            ws = await Ws.connect(session, server.trade_ws_url, alice.api_key, alice.secret)
            moved = await ws.ok(25, system_oid=first, entrust_price="29500")
            assert (moved["entrust_price"], moved["dealt_amount"]) == ("29500", "0.01")
            bad = await ws.request(25, system_oid=first, entrust_vol="0.01")  # not above what filled
            assert bad["code"] == "40011", bad
            missing = await ws.request(25, system_oid=first)
            assert missing["code"] == "40004", missing
            await ws.ok(12, system_oid=first)
            finished = await ws.request(25, system_oid=first, entrust_vol="0.5")
            assert finished["code"] == "42001", finished
            await ws.close()

    asyncio.run(run())


def test_cancel_on_disconnect_at_a_server_shutdown(server) -> None:
    alice = make_product(server, "alice", FUNDS)

    async def hold() -> list[str]:
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(f"{server.trade_ws_url}?api_key={alice.api_key}"
                                          f"&sign={ws_sign(alice.api_key, alice.secret)}&cancel_on_disconnect=1")
            await ws.send_str(json.dumps({"biz_type": 11, **limit("buy", "20000")}))
            oid = json.loads((await ws.receive()).data)["data"]["system_oid"]
            server.stop()  # SIGTERM: the server closes the connection, then shuts down
            return [oid]

    ids = asyncio.run(hold())
    server.start()
    alice = Rest(server.http_url, alice.api_key, alice.secret)
    assert [(order(alice, oid)["status"], order(alice, oid)["error_code"]) for oid in ids] == [(15, "42007")]


def test_the_items_of_a_batch_go_in_one_journal_frame(server) -> None:
    from ceres.domain import commands as C
    from ceres.journal.file.segments import DataDir
    from ceres.pipeline.frames import decode_records, scan

    alice = make_product(server, "alice", FUNDS)
    coids = [f"frame-{i}" for i in range(5)]
    placed = ok(alice.call("POST", "trade/batch_input",
                           {"orders": [limit("buy", str(20000 + i), client_oid=c) for i, c in enumerate(coids)]}))
    assert [r["code"] for r in placed] == ["0"] * 5
    server.stop()
    frames = [{cmd.client_oid for _, cmd in decode_records(f.payload) if isinstance(cmd, C.Place)}
              for _, path in DataDir(server.data_dir).segments() for f in scan(path.read_bytes()).frames]
    assert [set(coids) <= f for f in frames].count(True) == 1, frames  # all five in one frame


def test_rest_batch_cancel_and_cancel_all_and_socket_time_in_force(server) -> None:
    alice = make_product(server, "alice", FUNDS)
    bob = make_product(server, "bob", FUNDS)
    ids = [r["system_oid"] for r in ok(alice.call("POST", "trade/batch_input", {"orders": [
        limit("buy", "20000"), limit("buy", "20001"), limit("sell", "40000")]}))]
    other = ok(bob.call("POST", "trade/input", limit("buy", "20002")))["system_oid"]
    results = ok(alice.call("DELETE", "trade/batch_order", {"system_oid": f"{ids[0]},{other},{ids[0]}"}))
    assert [r["code"] for r in results] == ["0", "40403", "42001"], results  # bob's is not hers; then finished
    too_many = alice.call("DELETE", "trade/batch_order", {"system_oid": ",".join(["1"] * 101)})[1]
    assert too_many["code"] == "40027", too_many
    assert ok(alice.call("POST", "trade/cancel_all", {"exchange": "TEST", "contract": "BTC/USDT"})) == [
        {"system_oid": ids[1]}, {"system_oid": ids[2]}]
    assert other in open_ids(bob)

    async def run() -> None:
        async with aiohttp.ClientSession() as session:
            ws = await Ws.connect(session, server.trade_ws_url, alice.api_key, alice.secret)
            fok = await ws.ok(11, **limit("sell", "20002", "0.02", time_in_force="FOK"))  # bob bids only 0.01
            ioc = await ws.ok(11, **limit("sell", "20002", "0.02", time_in_force="IOC"))
            assert (order(alice, fok["system_oid"])["status"], order(alice, ioc["system_oid"])["status"]) == (15, 14)
            assert order(alice, ioc["system_oid"])["dealt_amount"] == "0.01"
            refused = await ws.request(11, **limit("buy", "1", post_only="yes"))
            assert refused["code"] == "40006" and "post_only" in refused["message"], refused
            await ws.close()

    asyncio.run(run())


def test_the_sdk_drives_every_new_operation(server) -> None:
    from ceres.client import TradeSocket

    alice = make_product(server, "alice", FUNDS)
    api = server.rest(alice.api_key, alice.secret)
    placed = api.batch_place([limit("buy", "20000"), limit("buy", "20001", post_only=True)])["data"]
    assert [r["code"] for r in placed] == ["0", "0"]
    ids = [r["system_oid"] for r in placed]
    assert api.amend(ids[0], vol="0.02")["data"]["entrust_amount"] == "0.02"
    assert [r["code"] for r in api.batch_cancel([ids[0]])["data"]] == ["0"]
    assert api.cancel_all(exchange="TEST")["data"] == [{"system_oid": ids[1]}]
    assert api.cancel_all_after(0)["data"] == {"timeout_ms": "0", "deadline": ""}

    async def run() -> None:
        async with aiohttp.ClientSession() as session:
            sock = await TradeSocket.connect(session, server.trade_ws_url, alice.api_key, alice.secret,
                                             cancel_on_disconnect=True)
            reply = await sock.place(**limit("buy", "20002", time_in_force="GTC", stp="cancel_both"))
            held = reply["data"]["system_oid"]
            assert held in open_ids(alice)
            await sock.close()
            wait_until(lambda: held not in open_ids(alice))

    asyncio.run(run())


def test_cancel_on_disconnect_when_the_server_drops_the_connection(server) -> None:
    from .api_helpers import add_key

    make_product(server, "alice", FUNDS)
    second = add_key(server, "alice", "read,trade")

    async def run() -> str:
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(f"{server.trade_ws_url}?api_key={second.api_key}"
                                          f"&sign={ws_sign(second.api_key, second.secret)}&cancel_on_disconnect=1")
            await ws.send_str(json.dumps({"biz_type": 11, **limit("buy", "20000")}))
            oid = json.loads((await ws.receive()).data)["data"]["system_oid"]
            server.admin("revoke_key", api_key=second.api_key)  # the server closes the key's sockets
            msg = await asyncio.wait_for(ws.receive(), DEADLINE_S)
            assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING), msg
            return oid

    oid = asyncio.run(run())
    alice = add_key(server, "alice", "read")  # the revoked key cannot read any more
    wait_until(lambda: order(alice, oid)["status"] == 15)
    assert order(alice, oid)["error_code"] == "42007"
