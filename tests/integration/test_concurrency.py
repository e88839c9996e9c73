"""Many clients at once against one real server (loopback, bounded in count and time).

* 100 WebSocket connections (4 products, 25 each) pipeline 20 requests each with distinct
  ``req_id`` values (placements and biz_type 13/14/15 reads): every connection gets
  exactly its own 20 replies, each matching the request it answers, and nothing else;
* the same ``client_oid`` raced from many REST clients and pipelined on sockets yields
  one order;
* concurrent REST placements all land, with distinct ids.
"""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest

from tests.serverproc import ServerProcess

from .api_helpers import API, check_envelope, make_product, sign, ws_sign

X, C = "TEST", "BTC/USDT"
CONNECTIONS = 100
PER_CONNECTION = 20
PRODUCTS = 4
DEADLINE = 60.0


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    proc = ServerProcess(tmp_path_factory.mktemp("conc") / "data", extra_args=("--no-simulator",)).start()
    yield proc
    proc.stop()


def order_fields(price: str, **extra) -> dict:
    return {"exchange": X, "contract": C, "price_type": "limit", "entrust_bs": "buy",
            "entrust_price": price, "entrust_vol": "0.0001", **extra}


def script(conn: int) -> list[dict]:
    """20 requests: 5 placements (distinct client_oid) and 15 reads, interleaved."""
    out = []
    for j in range(PER_CONNECTION):
        req_id = f"c{conn}-r{j}"
        kind = j % 4
        if kind == 0:
            out.append({"biz_type": 11, "req_id": req_id,
                        **order_fields(f"{1 + conn % 50}", client_oid=f"c{conn}-o{j}")})
        elif kind == 1:
            out.append({"biz_type": 13, "req_id": req_id, "exchange": X, "contract": C})
        elif kind == 2:
            out.append({"biz_type": 14, "req_id": req_id, "exchange": X})
        else:
            out.append({"biz_type": 15, "req_id": req_id})
    return out


async def _client(session, url: str, cred: tuple[str, str], conn: int, start: asyncio.Event) -> dict:
    key, secret = cred
    ws = await session.ws_connect(f"{url}?api_key={key}&sign={ws_sign(key, secret)}", max_msg_size=0)
    try:
        await start.wait()
        sent = script(conn)
        for m in sent:
            await ws.send_str(json.dumps(m))
        await ws.send_str("ping")  # after every reply: anything arriving before pong is checked
        replies = []
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            msg = await asyncio.wait_for(ws.receive(), DEADLINE)
            assert msg.type == aiohttp.WSMsgType.TEXT, (conn, msg)
            if msg.data == "pong":
                break
            replies.append(json.loads(msg.data))
        return {"conn": conn, "sent": sent, "replies": replies}
    finally:
        await ws.close()


async def test_100_connections_each_get_exactly_their_own_replies(srv):
    creds = []
    for p in range(PRODUCTS):
        rest = make_product(srv, f"conc{p}", {"USDT": "1000"})
        creds.append((rest, (rest.api_key, rest.secret)))
    start = asyncio.Event()
    connector = aiohttp.TCPConnector(limit=CONNECTIONS + 10)
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = [asyncio.ensure_future(_client(session, srv.trade_ws_url, creds[i % PRODUCTS][1], i, start))
                 for i in range(CONNECTIONS)]
        await asyncio.sleep(0)
        for _ in range(200):  # all connected (bounded wait) before anyone sends
            async with session.get(f"{srv.http_url}/health") as resp:
                if (await resp.json())["connections"] >= CONNECTIONS:
                    break
            await asyncio.sleep(0.05)
        start.set()
        results = await asyncio.wait_for(asyncio.gather(*tasks), DEADLINE)
    placed: dict[int, set[str]] = {p: set() for p in range(PRODUCTS)}
    for r in results:
        conn, sent, replies = r["conn"], r["sent"], r["replies"]
        assert len(replies) == PER_CONNECTION, (conn, len(replies))
        by_id = {m["req_id"]: m for m in sent}
        assert [x["req_id"] for x in replies] == [m["req_id"] for m in sent]  # own, complete, in order
        for reply in replies:
            req = by_id[reply["req_id"]]
            check_envelope(reply, biz_type=req["biz_type"], req_id=req["req_id"])
            assert reply["code"] == "200", reply
            if req["biz_type"] == 11:
                assert reply["data"]["client_oid"] == req["client_oid"]
                placed[conn % PRODUCTS].add(reply["data"]["system_oid"])
            elif req["biz_type"] == 15:
                # only this product's orders, never another product's
                assert all(o["client_oid"].startswith("c") and int(o["client_oid"][1:].split("-")[0])
                           % PRODUCTS == conn % PRODUCTS for o in reply["data"])
    for p, (rest, _) in enumerate(creds):
        open_ids = {o["system_oid"] for o in rest.all_open()}
        assert len(placed[p]) == (CONNECTIONS // PRODUCTS) * (PER_CONNECTION // 4)
        assert open_ids == placed[p]


async def test_same_client_oid_raced_from_many_clients_makes_one_order(srv):
    rest = make_product(srv, "race", {"USDT": "1000"})
    fields = order_fields("3", client_oid="race-1")
    body = json.dumps(fields).encode()
    headers = {"api_key": rest.api_key, "sign": sign([(k, v) for k, v in fields.items()], rest.secret),
               "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as session:
        async def one() -> dict:
            async with session.post(f"{srv.http_url}{API}trade/input", data=body, headers=headers) as resp:
                assert resp.status == 200
                return await resp.json(content_type=None)

        rest_replies = await asyncio.wait_for(asyncio.gather(*(one() for _ in range(30))), DEADLINE)
        ws_auth = ws_sign(rest.api_key, rest.secret)
        ws = await session.ws_connect(f"{srv.trade_ws_url}?api_key={rest.api_key}&sign={ws_auth}")
        for i in range(30):
            await ws.send_str(json.dumps({"biz_type": 11, "req_id": str(i), **fields}))
        ws_replies = [json.loads((await asyncio.wait_for(ws.receive(), DEADLINE)).data) for _ in range(30)]
        await ws.close()
    oids = {r["data"]["system_oid"] for r in rest_replies + ws_replies}
    assert len(oids) == 1
    assert [o["system_oid"] for o in rest.all_open()] == list(oids)


async def test_concurrent_rest_placements_all_land(srv):
    rest = make_product(srv, "restconc", {"USDT": "1000"})
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=50)) as session:
        async def one(i: int) -> dict:
            fields = order_fields(f"{1 + i % 20}", client_oid=f"p{i}")
            headers = {"api_key": rest.api_key, "sign": sign(list(fields.items()), rest.secret),
                       "Content-Type": "application/json"}
            async with session.post(f"{srv.http_url}{API}trade/input", data=json.dumps(fields),
                                    headers=headers) as resp:
                assert resp.status == 200
                return await resp.json(content_type=None)

        replies = await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(150))), DEADLINE)
    assert all(r["code"] == "200" for r in replies)
    assert sorted(r["data"]["client_oid"] for r in replies) == sorted(f"p{i}" for i in range(150))
    oids = {r["data"]["system_oid"] for r in replies}
    assert len(oids) == 150
    assert {o["system_oid"] for o in rest.all_open()} == oids
