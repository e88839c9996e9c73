"""The biz_type WebSocket on port 19001 against a real server: handshake (accepted on ``/``
and ``/ws/trade``, refused with HTTP 401 and the envelope), text ping/pong, reply order
with and without ``req_id``, the fill scenario over biz_type 11/15/12/17/14, idempotent
``client_oid`` and key revocation closing an open socket.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import aiohttp
import pytest

from tests.serverproc import ServerProcess

from . import scenario
from .api_helpers import (
    Ws,
    check_envelope,
    check_place_reply,
    check_spot_order,
    demo_rest,
    make_product,
    raw_handshake,
    sha256_hex,
    ws_sign,
)

X = "TEST"


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    proc = ServerProcess(tmp_path_factory.mktemp("ws") / "data", extra_args=("--no-simulator",)).start()
    yield proc
    proc.stop()


def buy(contract: str, price: str, vol: str, **extra):
    return {"exchange": X, "contract": contract, "price_type": "limit", "entrust_bs": "buy",
            "entrust_price": price, "entrust_vol": vol, **extra}


# --- handshake --------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/", "/ws/trade"])
async def test_handshake_good_sign_on_both_paths(srv, path):
    d = srv.demo()
    async with aiohttp.ClientSession() as session:
        ws = await Ws.connect(session, srv.trade_ws_url.rstrip("/"), d["api_key"], d["secret"], path=path)
        await ws.ping()
        pairs = await ws.ok(13, exchange=X, contract="BTC/USDT")
        assert pairs[0]["contract"] == "BTC/USDT"
        await ws.close()


@pytest.mark.parametrize("case", ["bad_sign", "missing_sign", "missing_key", "unknown_key", "no_query",
                                  "rest_style_sign"])
async def test_handshake_refused_with_401_and_envelope(srv, case):
    d = srv.demo()
    k, s = d["api_key"], d["secret"]
    query = {
        "bad_sign": f"api_key={k}&sign={'0' * 64}",
        "missing_sign": f"api_key={k}",
        "missing_key": f"sign={ws_sign(k, s)}",
        "unknown_key": f"api_key=AAAAAAAAAAAAAAAA&sign={ws_sign('AAAAAAAAAAAAAAAA', s)}",
        "no_query": "",
        # a REST-style sign (no parameters) is not the WebSocket sign
        "rest_style_sign": f"api_key={k}&sign={sha256_hex('secret=' + s)}",
    }[case]
    expected = {"bad_sign": "40103", "missing_sign": "40101", "missing_key": "40101",
                "unknown_key": "40102", "no_query": "40101", "rest_style_sign": "40103"}[case]
    for path in ("/", "/ws/trade"):
        status, headers, body = await raw_handshake(srv.info["trade_ws"], f"{path}?{query}" if query else path)
        assert status == 401, (status, body)
        assert headers.get("content-type", "").startswith("application/json")
        env = json.loads(body)
        check_envelope(env)
        assert env["code"] == expected and env["data"] is None
    # aiohttp sees the refusal as a failed upgrade with status 401
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await session.ws_connect(f"{srv.trade_ws_url}?{query}")
        assert info.value.status == 401


async def test_handshake_unknown_path_404_with_envelope(srv):
    d = srv.demo()
    status, _, body = await raw_handshake(srv.info["trade_ws"],
                                          f"/other?api_key={d['api_key']}&sign={ws_sign(d['api_key'], d['secret'])}")
    assert status == 404
    env = json.loads(body)
    check_envelope(env)
    assert env["code"] == "404"


async def test_handshake_good_sign_upgrades_on_raw_socket(srv):
    d = srv.demo()
    status, headers, _ = await raw_handshake(srv.info["trade_ws"],
                                             f"/?api_key={d['api_key']}&sign={ws_sign(d['api_key'], d['secret'])}")
    assert status == 101 and headers.get("upgrade", "").lower() == "websocket"


# --- ping, order, req_id -----------------------------------------------------------------------
async def test_ping_pong_is_text(srv):
    d = srv.demo()
    async with aiohttp.ClientSession() as session:
        ws = await Ws.connect(session, srv.trade_ws_url, d["api_key"], d["secret"])
        for _ in range(3):
            await ws.send("ping")
            msg = await ws.recv_msg()
            assert msg.type == aiohttp.WSMsgType.TEXT and msg.data == "pong"
        await ws.close()


async def test_ping_and_json_interleaved_replies_in_order(srv):
    rest = make_product(srv, "interleave", {"USDT": "100"})
    async with aiohttp.ClientSession() as session:
        ws = await Ws.connect(session, srv.trade_ws_url, rest.api_key, rest.secret)
        # a placement waits for the journal; queries and pings after it must not overtake it
        script = ["ping", {"biz_type": 11, **buy("BTC/USDT", "1", "0.0001")}, "ping",
                  {"biz_type": 13, "exchange": X, "contract": "ETH/BTC"}, "ping",
                  {"biz_type": 14, "exchange": X}, {"biz_type": 11, **buy("BTC/USDT", "2", "0.0001")},
                  "ping", {"biz_type": 15}, {"biz_type": 99}, "ping", "{not json", "ping"]
        for m in script:
            await ws.send(m)
        got = [await ws.recv() for _ in script]
        await ws.close()
    for sent, reply in zip(script, got, strict=True):
        if sent == "ping":
            assert reply == "pong"
        elif sent == "{not json":
            assert reply["code"] == "40001" and "biz_type" not in reply
        else:
            assert isinstance(reply, dict) and reply["biz_type"] == sent["biz_type"], (sent, reply)
            assert "req_id" not in reply
            check_envelope(reply, biz_type=sent["biz_type"])
    assert got[1]["code"] == "200" and got[6]["code"] == "200"
    assert got[9]["code"] == "40003"
    # biz 15 came after both placements: it sees both, newest first
    assert [o["system_oid"] for o in got[8]["data"]] == [got[6]["data"]["system_oid"], got[1]["data"]["system_oid"]]


async def test_replies_without_req_id_in_request_order(srv):
    rest = make_product(srv, "ordered", {"USDT": "100"})
    async with aiohttp.ClientSession() as session:
        ws = await Ws.connect(session, srv.trade_ws_url, rest.api_key, rest.secret)
        sent = []
        for i in range(30):
            if i % 3 == 0:
                m = {"biz_type": 11, **buy("BTC/USDT", f"{1 + i}", "0.0001", client_oid=f"o{i}")}
            elif i % 3 == 1:
                m = {"biz_type": 14, "exchange": X}
            else:
                m = {"biz_type": 15}
            sent.append(m)
            await ws.send(m)
        got = [await ws.recv() for _ in sent]
        await ws.close()
    assert [r["biz_type"] for r in got] == [m["biz_type"] for m in sent]
    assert all(r["code"] == "200" for r in got)
    # each placement's reply carries its own client_oid, in order
    assert [r["data"]["client_oid"] for r in got if r["biz_type"] == 11] == [f"o{i}" for i in range(0, 30, 3)]
    # each order query sees at least every placement sent before it (acknowledged before
    # its reply); it may also see later ones, as the requests are processed concurrently
    for i, r in enumerate(got):
        if r["biz_type"] == 15:
            assert {o["client_oid"] for o in r["data"]} >= {f"o{j}" for j in range(0, i, 3)}
        if r["biz_type"] == 14:  # balances are read at once: exactly the placements before it
            frozen = sum(1 + j for j in range(0, i, 3)) * Decimal("0.00010005")  # x (1 + 0.05%)
            usdt = next(row for row in r["data"] if row["currency"] == "USDT")
            assert Decimal(usdt["frozen"]) == frozen, (i, usdt)


async def test_req_id_echoed(srv):
    d = srv.demo()
    async with aiohttp.ClientSession() as session:
        ws = await Ws.connect(session, srv.trade_ws_url, d["api_key"], d["secret"])
        await ws.send({"biz_type": 13, "exchange": X, "contract": "ADA_BTC", "req_id": "abc-1"})
        reply = await ws.recv()
        check_envelope(reply, biz_type=13, req_id="abc-1")
        # echoed on errors too, and a numeric req_id comes back as a string
        await ws.send({"biz_type": 13, "req_id": 7})
        reply = await ws.recv()
        check_envelope(reply, biz_type=13, req_id="7")
        assert reply["code"] == "40004" and "exchange" in reply["message"]
        await ws.send({"biz_type": 42, "req_id": "x" * 64})
        reply = await ws.recv()
        assert reply["code"] == "40003" and reply["req_id"] == "x" * 64 and reply["biz_type"] == 42
        await ws.ping()
        await ws.close()


async def test_exact_ws_envelope_and_objects(srv):
    rest = make_product(srv, "wsshape", {"USDT": "100"})
    async with aiohttp.ClientSession() as session:
        ws = await Ws.connect(session, srv.trade_ws_url, rest.api_key, rest.secret)
        await ws.send({"biz_type": 11, **buy("BTC/USDT", "3", "0.001", client_oid="w1")})
        placed = await ws.recv()
        check_envelope(placed, biz_type=11)
        check_place_reply(placed["data"])
        oid = placed["data"]["system_oid"]
        await ws.send({"biz_type": 15, "system_oid": oid})
        got = await ws.recv()
        check_envelope(got, biz_type=15)
        check_spot_order(got["data"][0])
        assert got["data"][0] == rest.order(oid)  # the same object as REST
        await ws.send({"biz_type": 16})
        pos = await ws.recv()
        check_envelope(pos, biz_type=16)
        assert isinstance(pos["data"], list)
        await ws.send({"biz_type": 12, "system_oid": oid})
        cancelled = await ws.recv()
        check_envelope(cancelled, biz_type=12)
        assert cancelled["data"] == {"SUCCESS": [{"system_oid": oid}], "ERROR": []}
        await ws.close()


# --- the fill scenario over 19001 ----------------------------------------------------------------
async def test_place_partial_fill_query_cancel_over_ws(server):
    d = server.demo()
    async with aiohttp.ClientSession() as session:
        ws = await Ws.connect(session, server.trade_ws_url, d["api_key"], d["secret"])
        await scenario.run(server, scenario.WsSubject(ws))
        await ws.close()


async def test_idempotent_client_oid_over_ws(srv):
    rest = make_product(srv, "wsidem", {"USDT": "100"})
    async with aiohttp.ClientSession() as session:
        ws = await Ws.connect(session, srv.trade_ws_url, rest.api_key, rest.secret)
        first = await ws.ok(11, **buy("BTC/USDT", "5", "0.001", client_oid="k1"))
        acc = rest.account()
        for _ in range(3):
            assert await ws.ok(11, **buy("BTC/USDT", "5", "0.001", client_oid="k1")) == first
        assert [o["system_oid"] for o in rest.all_open()] == [first["system_oid"]]
        assert rest.account() == acc
        await ws.ok(12, system_oid=first["system_oid"])
        second = await ws.ok(11, **buy("BTC/USDT", "5", "0.001", client_oid="k1"))
        assert second["system_oid"] != first["system_oid"]
        assert [o["system_oid"] for o in rest.all_open()] == [second["system_oid"]]
        await ws.close()


# --- revocation ---------------------------------------------------------------------------------
async def test_revoked_key_loses_its_socket_and_rest_access(srv):
    rest = make_product(srv, "revoke", {"USDT": "100"})
    other = make_product(srv, "bystander", {"USDT": "100"})
    async with aiohttp.ClientSession() as session:
        ws = await Ws.connect(session, srv.trade_ws_url, rest.api_key, rest.secret)
        by = await Ws.connect(session, srv.trade_ws_url, other.api_key, other.secret)
        await ws.ok(11, **buy("BTC/USDT", "5", "0.001"))
        result = srv.admin("revoke_key", api_key=rest.api_key)
        assert result["connections_closed"] == 1
        msg = await ws.recv_msg()
        assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 1008, msg  # policy violation
        # its next REST request and a new handshake are refused
        status, env = rest.call("GET", "trade/account")
        assert status == 401 and env["code"] == "40104" and env["data"] is None
        status, _, body = await raw_handshake(
            srv.info["trade_ws"], f"/?api_key={rest.api_key}&sign={ws_sign(rest.api_key, rest.secret)}")
        assert status == 401 and json.loads(body)["code"] == "40104"
        # other keys are not affected
        await by.ping()
        assert (await by.ok(14, exchange=X))
        await by.close()
    # the order placed before revocation is still there (revoking does not cancel)
    assert srv.admin("show_accounts", product="revoke")["open_orders"] == 1


async def test_socket_survives_other_clients_abuse(srv):
    """Clients that flood garbage, send half a frame or vanish mid-stream do not disturb
    another connection."""
    d = srv.demo()
    target = f"/?api_key={d['api_key']}&sign={ws_sign(d['api_key'], d['secret'])}"
    async with aiohttp.ClientSession() as session:
        steady = await Ws.connect(session, srv.trade_ws_url, d["api_key"], d["secret"])
        for _i in range(5):
            rude = await Ws.connect(session, srv.trade_ws_url, d["api_key"], d["secret"])
            for _ in range(20):
                await rude.send("{garbage")
            await rude.close()
            # a raw client: upgrade, half a masked frame header, then gone
            reader, writer = await asyncio.open_connection("127.0.0.1", srv.info["trade_ws"])
            writer.write((f"GET {target} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                          "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                          "Sec-WebSocket-Version: 13\r\n\r\n").encode() + b"\x81\xfe\x01")
            await writer.drain()
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            writer.transport.abort()
            await steady.ping()
        assert await steady.ok(13, exchange=X)
        await steady.close()
    assert demo_rest(srv).account()
