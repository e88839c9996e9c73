"""Every documented error through a real server, over REST and the biz_type socket.

Each case asserts the code of the one error table (``ceres.domain.errors``), that the
message names the offending field, and that nothing changed: the product's balances,
open orders and order history are the same before and after. On the WebSocket the same
connection keeps working after every error (ping -> pong, then a valid request), except
after an oversize message (error 40020, then close 1009); another client is served
throughout. ``docs/API.md`` must list every member of ``ErrorCode``.
"""

from __future__ import annotations

import asyncio
import json
import re
import struct
from pathlib import Path

import aiohttp
import pytest

from ceres.domain.errors import ErrorCode
from tests.fuzz.wsraw import frame
from tests.serverproc import ServerProcess

from .api_helpers import Rest, Ws, add_key, check_envelope, demo_rest, make_product, ws_sign

X, C = "TEST", "BTC/USDT"
DOCS = Path(__file__).resolve().parents[2] / "docs"
P = {"exchange": X, "contract": C, "price_type": "limit", "entrust_bs": "buy", "entrust_price": "10",
     "entrust_vol": "0.01"}
MANY = ",".join(str(1179500000000000000 + i) for i in range(16))
OPS = {  # op -> (REST method, REST path, biz_type or None)
    "place": ("POST", "trade/input", 11),
    "close": ("POST", "trade/close", None),
    "cancel": ("DELETE", "trade/order", 12),
    "pairs": ("GET", "basic/contracts", 13),
    "account": ("GET", "trade/account", 14),
    "orders": ("GET", "trade/order", 15),
    "open_orders": ("GET", "trade/open_orders", None),
    "positions": ("GET", "trade/position", 16),
    "fills": ("GET", "trade/trans", 17),
}


def drop(d: dict, key: str) -> dict:
    return {k: v for k, v in d.items() if k != key}


# (id, op, params, code, field named in the message or None)
CASES = [
    ("missing_entrust_bs", "place", drop(P, "entrust_bs"), "40004", "entrust_bs"),
    ("missing_exchange", "place", drop(P, "exchange"), "40004", "exchange"),
    ("missing_entrust_vol", "place", drop(P, "entrust_vol"), "40004", "entrust_vol"),
    ("missing_price_of_limit", "place", drop(P, "entrust_price"), "40004", "entrust_price"),
    ("empty_string_is_missing", "place", {**P, "contract": ""}, "40004", "contract"),
    ("pairs_missing_exchange", "pairs", {}, "40004", "exchange"),
    ("fills_missing_count", "fills", {"exchange": X, "contract": C}, "40004", "count"),
    ("fills_missing_contract", "fills", {"exchange": X, "count": "5"}, "40004", "contract"),
    ("cancel_missing_ids", "cancel", {}, "40004", "system_oid"),
    ("cancel_only_commas", "cancel", {"system_oid": ",,"}, "40004", "system_oid"),
    ("vol_boolean", "place", {**P, "entrust_vol": True}, "40005", "entrust_vol"),
    ("exchange_list", "place", {**P, "exchange": ["TEST"]}, "40005", "exchange"),
    ("price_object", "place", {**P, "entrust_price": {"v": 10}}, "40005", "entrust_price"),
    ("count_not_integer", "fills", {"exchange": X, "contract": C, "count": "abc"}, "40005", "count"),
    ("count_decimal", "fills", {"exchange": X, "contract": C, "count": "2.5"}, "40005", "count"),
    ("status_not_integer", "orders", {"status": "open"}, "40005", "status"),
    ("side_enum", "place", {**P, "entrust_bs": "hold"}, "40006", "entrust_bs"),
    ("price_type_enum", "place", {**P, "price_type": "stop"}, "40006", "price_type"),
    ("status_enum", "orders", {"status": "99"}, "40006", "status"),
    ("position_dir_enum", "positions", {"position_dir": "up"}, "40006", "position_dir"),
    ("order_id_not_numeric", "orders", {"system_oid": "abc"}, "40006", "system_oid"),
    ("cancel_id_not_numeric", "cancel", {"system_oid": "12x"}, "40006", "system_oid"),
    ("price_exponent", "place", {**P, "entrust_price": "1e3"}, "40007", "entrust_price"),
    ("vol_negative", "place", {**P, "entrust_vol": "-1"}, "40007", "entrust_vol"),
    ("vol_zero", "place", {**P, "entrust_vol": "0"}, "40007", "entrust_vol"),
    ("price_nan", "place", {**P, "entrust_price": "NaN"}, "40007", "entrust_price"),
    ("price_off_tick", "place", {**P, "entrust_price": "10.001"}, "40008", "entrust_price"),
    ("vol_off_step", "place", {**P, "entrust_vol": "0.00015"}, "40009", "entrust_vol"),
    ("price_too_large", "place", {**P, "entrust_price": "100000000000000"}, "40010", "entrust_price"),
    ("vol_too_large", "place", {**P, "entrust_vol": "1000000000000"}, "40011", "entrust_vol"),
    ("cancel_16_ids", "cancel", {"system_oid": MANY}, "40012", "system_oid"),
    ("orders_16_ids", "orders", {"system_oid": MANY}, "40012", "system_oid"),
    ("count_51", "fills", {"exchange": X, "contract": C, "count": "51"}, "40013", "count"),
    ("count_0", "fills", {"exchange": X, "contract": C, "count": "0"}, "40013", "count"),
    ("open_orders_limit_101", "open_orders", {"limit": "101"}, "40013", "limit"),
    ("open_orders_bad_from", "open_orders", {"from": "x"}, "40006", "from"),
    ("client_oid_65_chars", "place", {**P, "client_oid": "x" * 65}, "40014", "client_oid"),
    ("close_on_spot", "close", P, "40015", "contract"),
    ("market_buy_amount_off_grid", "place",
     {**drop(P, "entrust_price"), "price_type": "market", "entrust_vol": "0.000000001"}, "40019", "entrust_vol"),
    ("place_unknown_exchange", "place", {**P, "exchange": "NOPE"}, "40401", "exchange"),
    ("pairs_unknown_exchange", "pairs", {"exchange": "NOPE"}, "40401", "exchange"),
    ("account_unknown_exchange", "account", {"exchange": "NOPE"}, "40401", "exchange"),
    ("fills_unknown_exchange", "fills", {"exchange": "NOPE", "contract": C, "count": "5"}, "40401", "exchange"),
    ("open_orders_unknown_exchange", "open_orders", {"exchange": "NOPE"}, "40401", "exchange"),
    ("place_unknown_contract", "place", {**P, "contract": "XYZ/USDT"}, "40402", "contract"),
    ("pairs_unknown_contract", "pairs", {"exchange": X, "contract": "XYZ"}, "40402", "contract"),
    ("orders_unknown_contract", "orders", {"exchange": X, "contract": "XYZ"}, "40402", "contract"),
    ("fills_unknown_contract", "fills", {"exchange": X, "contract": "XYZ", "count": "5"}, "40402", "contract"),
    ("order_unknown_id", "orders", {"system_oid": "1179500000000000000"}, "40403", "system_oid"),
    ("order_of_another_product", "orders", {"system_oid": "{other_open}"}, "40403", "system_oid"),
    ("finished_order_of_another_product", "orders", {"system_oid": "{other_done}"}, "40403", "system_oid"),
    ("insufficient_quote", "place", {**P, "entrust_price": "1000", "entrust_vol": "100000"}, "41001", "USDT"),
    ("insufficient_base", "place", {**P, "entrust_bs": "sell", "entrust_vol": "1000"}, "41001", "BTC"),
    ("insufficient_market_budget", "place",
     {**drop(P, "entrust_price"), "price_type": "market", "entrust_vol": "2000000"}, "41001", "USDT"),
]
WS_CASES = [c for c in CASES if OPS[c[1]][2] is not None]


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    """A server where the demo product has an open and a finished order, and another
    product has the same; plus a read-only key on the demo product."""
    proc = ServerProcess(tmp_path_factory.mktemp("errors") / "data", extra_args=("--no-simulator",)).start()
    try:
        demo = demo_rest(proc)
        other = make_product(proc, "other", {"USDT": "1000"})
        ns = type("Ctx", (), {})()
        ns.srv, ns.demo, ns.other = proc, demo, other
        ns.open = demo.place(**P, client_oid="resting")["system_oid"]
        ns.done = demo.place(**{**P, "entrust_price": "11"})["system_oid"]
        demo.cancel(ns.done)
        ns.other_open = other.place(**P)["system_oid"]
        ns.other_done = other.place(**{**P, "entrust_price": "12"})["system_oid"]
        other.cancel(ns.other_done)
        ns.read_only = add_key(proc, "demo", "read")
        yield ns
    finally:
        proc.stop()


def resolve(params: dict, ns) -> dict:
    return {k: (v.format(other_open=ns.other_open, other_done=ns.other_done) if isinstance(v, str) else v)
            for k, v in params.items()}


def rest_call(rest: Rest, op: str, params: dict):
    method, path, _ = OPS[op]
    if method == "GET" or method == "DELETE":
        params = {k: str(v) for k, v in params.items()}
    return rest.call(method, path, params)


def assert_error(env: dict, code: str, field: str | None) -> None:
    assert env["code"] == code, env
    assert env["data"] is None
    if field is not None:
        assert field in env["message"], env


# --- the table over REST and WS ------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_rest_error(ctx, case):
    _, op, params, code, field = case
    before = ctx.demo.state()
    status, env = rest_call(ctx.demo, op, resolve(params, ctx))
    assert status == 200, (status, env)  # business errors keep HTTP 200 (the Java SDK drops others)
    check_envelope(env)
    assert_error(env, code, field)
    assert ctx.demo.state() == before


async def _ws_pair(session, ns):
    d = ns.srv.demo()
    victim = await Ws.connect(session, ns.srv.trade_ws_url, d["api_key"], d["secret"])
    bystander = await Ws.connect(session, ns.srv.trade_ws_url, ns.other.api_key, ns.other.secret)
    return victim, bystander


async def _still_alive(victim: Ws, bystander: Ws) -> None:
    await victim.ping()
    assert (await victim.ok(13, exchange=X, contract=C))[0]["contract"] == C
    await bystander.ping()
    assert await bystander.ok(14, exchange=X)


@pytest.mark.parametrize("case", WS_CASES, ids=[c[0] for c in WS_CASES])
async def test_ws_error(ctx, case):
    _, op, params, code, field = case
    biz = OPS[op][2]
    before = ctx.demo.state()
    async with aiohttp.ClientSession() as session:
        victim, bystander = await _ws_pair(session, ctx)
        reply = await victim.request(biz, **resolve(params, ctx))
        check_envelope(reply, biz_type=biz, req_id=reply["req_id"])
        assert_error(reply, code, field)
        await _still_alive(victim, bystander)
        await victim.close()
        await bystander.close()
    assert ctx.demo.state() == before


# --- transport-level errors --------------------------------------------------------------------
@pytest.mark.parametrize("body", [b"{bad", b"[1, 2]", b'"text"', b"\xff\xfe{}", b"{\"a\":1,}", b"null", b"12"],
                         ids=["syntax", "array", "string", "not_utf8", "trailing_comma", "null", "number"])
def test_rest_invalid_json_body(ctx, body):
    before = ctx.demo.state()
    status, env = ctx.demo.call("POST", "trade/input", body=body, signed=[])
    assert status == 200
    check_envelope(env)
    assert env["code"] == "40001" and "JSON" in env["message"]
    assert ctx.demo.state() == before


def test_rest_empty_body_is_no_fields(ctx):
    status, env = ctx.demo.call("POST", "trade/input", body=b"", signed=[])
    assert status == 200 and env["code"] == "40004"


@pytest.mark.parametrize("message,code,field", [
    ("{bad", "40001", None),
    ("[1, 2]", "40001", None),
    ('"ping"', "40001", None),
    ("pong", "40001", None),
    ('{"exchange": "TEST"}', "40004", "biz_type"),
    ('{"biz_type": "eleven"}', "40005", "biz_type"),
    ('{"biz_type": true}', "40005", "biz_type"),
    ('{"biz_type": 99}', "40003", "biz_type"),
    ('{"biz_type": 18}', "40003", "biz_type"),
    ('{"biz_type": 10}', "40003", "biz_type"),
    ('{"biz_type": 13, "exchange": "TEST", "req_id": [1]}', "40005", "req_id"),
    ('{"biz_type": 13, "exchange": "TEST", "req_id": "' + "r" * 65 + '"}', "40014", "req_id"),
], ids=["syntax", "array", "json_string", "pong_text", "no_biz_type", "biz_type_word", "biz_type_bool",
        "biz_99", "biz_18", "biz_10", "req_id_list", "req_id_65"])
async def test_ws_message_errors(ctx, message, code, field):
    before = ctx.demo.state()
    async with aiohttp.ClientSession() as session:
        victim, bystander = await _ws_pair(session, ctx)
        await victim.send(message)
        reply = await victim.recv()
        assert set(reply) <= {"code", "data", "message", "biz_type", "req_id"}
        assert_error(reply, code, field)
        if code == "40003":
            assert reply["biz_type"] == json.loads(message)["biz_type"]  # echoed even when unknown
        await _still_alive(victim, bystander)
        await victim.close()
        await bystander.close()
    assert ctx.demo.state() == before


async def test_ws_binary_frame_40002(ctx):
    before = ctx.demo.state()
    async with aiohttp.ClientSession() as session:
        victim, bystander = await _ws_pair(session, ctx)
        await victim.ws.send_bytes(json.dumps({"biz_type": 11, **P}).encode())
        reply = await victim.recv()
        check_envelope(reply)
        assert reply["code"] == "40002"
        await victim.ws.send_bytes(b"ping")
        assert (await victim.recv())["code"] == "40002"
        await _still_alive(victim, bystander)
        await victim.close()
        await bystander.close()
    assert ctx.demo.state() == before


# --- size limits ------------------------------------------------------------------------------
def test_rest_body_over_64k_413(ctx):
    before = ctx.demo.state()
    body = json.dumps({**P, "pad": "x" * 70_000}).encode()
    status, env = ctx.demo.call("POST", "trade/input", body=body, signed=[])
    assert status == 413
    check_envelope(env)
    assert env["code"] == "40020"
    # just under the limit is processed normally (and fails on its own merits)
    body = json.dumps({"pad": "x" * 65_000}).encode()
    assert len(body) <= 65536
    status, env = ctx.demo.call("POST", "trade/input", body=body, signed=[("pad", "x" * 65_000)])
    assert status == 200 and env["code"] == "40004"
    assert ctx.demo.state() == before


async def test_rest_chunked_body_over_64k_413(ctx):
    """No Content-Length: the limit applies while reading."""
    chunk = b"x" * 8192
    head = (f"POST /api/v1/trade/input HTTP/1.1\r\nHost: x\r\napi_key: {ctx.demo.api_key}\r\n"
            f"sign: {'0' * 64}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
            "Connection: close\r\n\r\n").encode()
    payload = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(10)) + b"0\r\n\r\n"
    reader, writer = await asyncio.open_connection("127.0.0.1", ctx.srv.info["http"])
    try:
        writer.write(head + payload)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    status = int(raw.split(b" ", 2)[1])
    assert status == 413, raw[:300]
    env = json.loads(raw.split(b"\r\n\r\n", 1)[1])
    assert env["code"] == "40020"


async def test_ws_message_over_64k_error_then_close_1009(ctx):
    before = ctx.demo.state()
    async with aiohttp.ClientSession() as session:
        victim, bystander = await _ws_pair(session, ctx)
        await victim.send(json.dumps({"biz_type": 11, **P, "pad": "x" * 70_000}))
        reply = await victim.recv()
        check_envelope(reply)
        assert reply["code"] == "40020"
        msg = await victim.recv_msg()
        # the close frame's code (aiohttp's close_code may turn 1006 when the server has
        # already gone by the time aiohttp's own close reply reaches it)
        assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 1009, msg
        await bystander.ping()
        assert await bystander.ok(14, exchange=X)
        await bystander.close()
    assert ctx.demo.state() == before


async def _raw_ws(ctx):
    d = ctx.srv.demo()
    reader, writer = await asyncio.open_connection("127.0.0.1", ctx.srv.info["trade_ws"])
    writer.write((f"GET /?api_key={d['api_key']}&sign={ws_sign(d['api_key'], d['secret'])} HTTP/1.1\r\n"
                  "Host: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    assert head.startswith(b"HTTP/1.1 101"), head
    return reader, writer


async def _read_frame(reader) -> tuple[int, bytes]:
    b0, b1 = await asyncio.wait_for(reader.readexactly(2), 10)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", await reader.readexactly(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", await reader.readexactly(8))[0]
    return b0 & 0x0F, await asyncio.wait_for(reader.readexactly(n), 10)


async def test_ws_fragmented_messages(ctx):
    """A message split into frames is reassembled; over 64 KiB in total it is refused
    (40020) and the connection closed with 1009."""
    reader, writer = await _raw_ws(ctx)
    try:
        writer.write(frame(0x1, b'{"biz_type":13,', False) + frame(0x0, b'"exchange":"TEST",', False)
                     + frame(0x0, b'"req_id":"frag"}', True))
        await writer.drain()
        op, data = await _read_frame(reader)
        assert op == 0x1 and json.loads(data)["req_id"] == "frag" and json.loads(data)["code"] == "200"
        writer.write(frame(0x1, b'{"pad":"' + b"x" * 40_000, False) + frame(0x0, b"y" * 40_000 + b'"}', True))
        await writer.drain()
        op, data = await _read_frame(reader)
        assert op == 0x1 and json.loads(data)["code"] == "40020"
        op, data = await _read_frame(reader)
        assert op == 0x8 and struct.unpack("!H", data[:2])[0] == 1009
    finally:
        writer.close()


# --- per-id cancel outcomes ------------------------------------------------------------------
@pytest.mark.parametrize("transport", ["rest", "ws"])
async def test_cancel_error_items(ctx, transport):
    before = ctx.demo.state()
    ids = f"{ctx.done},1179500000000000001,{ctx.other_open},{ctx.other_done}"
    expected = {"SUCCESS": [], "ERROR": [
        {"system_oid": ctx.done, "code": "42001", "message": "order is already finished"},
        {"system_oid": "1179500000000000001", "code": "40403", "message": "order not found"},
        {"system_oid": ctx.other_open, "code": "40403", "message": "order not found"},
        {"system_oid": ctx.other_done, "code": "40403", "message": "order not found"},
    ]}
    if transport == "rest":
        status, env = ctx.demo.delete_ids(ids)
        assert status == 200
        check_envelope(env)
        assert env["code"] == "200" and env["data"] == expected
    else:
        async with aiohttp.ClientSession() as session:
            victim, bystander = await _ws_pair(session, ctx)
            assert await victim.ok(12, system_oid=ids) == expected
            await _still_alive(victim, bystander)
            await victim.close()
            await bystander.close()
    assert ctx.demo.state() == before
    assert [o["system_oid"] for o in ctx.other.all_open()] == [ctx.other_open]


# --- permissions ---------------------------------------------------------------------------
@pytest.mark.parametrize("transport", ["rest", "ws"])
async def test_read_only_key_cannot_place_or_cancel(ctx, transport):
    ro = ctx.read_only
    before = ctx.demo.state()
    if transport == "rest":
        status, env = ro.call("POST", "trade/input", P)
        assert status == 200 and env["code"] == "40301" and env["data"] is None
        status, env = ro.delete_ids(ctx.open)
        assert status == 200 and env["code"] == "40301"
        status, env = ro.call("POST", "trade/close", P)
        assert status == 200 and env["code"] == "40301"
        assert ro.account() == before[0]  # reading is allowed
    else:
        async with aiohttp.ClientSession() as session:
            ws = await Ws.connect(session, ctx.srv.trade_ws_url, ro.api_key, ro.secret)
            assert (await ws.request(11, **P))["code"] == "40301"
            assert (await ws.request(12, system_oid=ctx.open))["code"] == "40301"
            await ws.ping()
            assert await ws.ok(14) == before[0]
            await ws.close()
    assert ctx.demo.state() == before


# --- paths ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("method,path", [("GET", "/api/v1/nope"), ("GET", "/nope"), ("POST", "/api/v1/trade/order"),
                                         ("GET", "/api/v1/trade/input"), ("PUT", "/api/v1/trade/order/1"),
                                         ("GET", "/api/v1/trade/order/1")])
def test_unknown_path_404_with_envelope(ctx, method, path):
    status, env = ctx.demo.call(method, path, body=b"{}" if method in ("POST", "PUT") else None, signed=[])
    assert status == 404
    check_envelope(env)
    assert env["code"] == "404" and env["data"] is None


def test_server_still_serves_after_the_errors(ctx):
    assert ctx.demo.account()
    status, body = ctx.demo.raw("GET", "/health")
    assert status == 200 and body["status"] == "ok"


# --- configured minimums (a server with min_volume > volume_increment) -------------------------
MIN_CONFIG = """
[[instruments]]
exchange = "TEST"
contract = "BTC/USDT"
kind = 4
base = "BTC"
quote = "USDT"
tick_size = "0.01"
volume_increment = "0.0001"
min_price = "1"
min_volume = "0.01"
maker_fee = "0.0005"
taker_fee = "0.0005"
"""


@pytest.mark.parametrize("transport", ["rest", "ws"])
async def test_below_minimum_volume_and_price(tmp_path, transport):
    proc = ServerProcess(tmp_path / "data", config=MIN_CONFIG, extra_args=("--no-simulator",)).start()
    try:
        demo = demo_rest(proc)
        assert demo.ok("GET", "basic/contracts", {"exchange": X})[0]["min_volume"] == "0.01"
        before = demo.state()
        cases = [({**P, "entrust_vol": "0.005"}, "40011", "entrust_vol"),
                 ({**P, "entrust_bs": "sell", "entrust_vol": "0.0099"}, "40011", "entrust_vol"),
                 ({**P, "entrust_price": "0.5"}, "40010", "entrust_price")]
        if transport == "rest":
            for fields, code, field in cases:
                status, env = demo.call("POST", "trade/input", fields)
                assert status == 200
                assert_error(env, code, field)
        else:
            async with aiohttp.ClientSession() as session:
                d = proc.demo()
                ws = await Ws.connect(session, proc.trade_ws_url, d["api_key"], d["secret"])
                for fields, code, field in cases:
                    assert_error(await ws.request(11, **fields), code, field)
                    await ws.ping()
                await ws.close()
        assert demo.state() == before
        assert demo.place(**{**P, "entrust_vol": "0.01"})["system_oid"]  # at the minimum: accepted
    finally:
        proc.stop()


# --- the documentation lists the whole table --------------------------------------------------
def test_every_error_code_is_documented():
    text = (DOCS / "API.md").read_text(encoding="utf-8")
    if (DOCS / "errors.md").exists():
        text += (DOCS / "errors.md").read_text(encoding="utf-8")
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\|\s*`?(\d{3,5})`?\s*\|\s*`?([A-Z_0-9]+)`?\s*\|",
                                                       text, re.M)}
    for member in ErrorCode:
        assert rows.get(member.code) == member.name, f"{member.code} {member.name} missing from the error table"
    assert set(rows) == {m.code for m in ErrorCode}, "the doc lists codes the server does not have"
