"""Request signatures through a real server (API.md section 2): what is signed (decoded
query values, JSON literals, DELETE path ids), what is dropped (null, empty; with the
keep-empty retry), aliases, the ``timestamp`` window and replay check, and the 401 codes.
Every refused request leaves the product's state unchanged.

The signatures here are computed with plain ``hashlib`` (``api_helpers.sign``), not with
the server's code.
"""

from __future__ import annotations

import json
import time

import aiohttp
import pytest

from tests.serverproc import ServerProcess

from .api_helpers import Ws, check_envelope, demo_rest, make_product, raw_handshake, sha256_hex, sign

X = "TEST"


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    proc = ServerProcess(tmp_path_factory.mktemp("auth") / "data", extra_args=("--no-simulator",)).start()
    yield proc
    proc.stop()


@pytest.fixture
def user(srv, request):
    """A fresh product (own key and balances) per test."""
    return make_product(srv, request.node.name.replace("[", "-").replace("]", "")[:60],
                        {"USDT": "1000", "BTC": "1"})


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def place_body(**extra) -> dict:
    return {"exchange": X, "contract": "BTC/USDT", "price_type": "limit", "entrust_bs": "buy",
            "entrust_price": "10", "entrust_vol": "0.01", **extra}


# --- what is signed ------------------------------------------------------------------------------
def test_get_url_encoded_value_is_signed_decoded(user):
    query = "exchange=TEST&contract=BTC%2FUSDT"
    good = sign([("exchange", "TEST"), ("contract", "BTC/USDT")], user.secret)
    status, env = user.raw("GET", "basic/contracts", query=query,
                           headers={"api_key": user.api_key, "sign": good})
    assert status == 200 and env["code"] == "200" and env["data"][0]["contract"] == "BTC/USDT"
    # signing the encoded text is wrong
    bad = sign([("exchange", "TEST"), ("contract", "BTC%2FUSDT")], user.secret)
    status, env = user.raw("GET", "basic/contracts", query=query,
                           headers={"api_key": user.api_key, "sign": bad})
    assert status == 401 and env["code"] == "40103"


def test_sign_payload_is_sorted_by_key_and_plain_sha256(user):
    # built by hand: keys sorted, joined with &, then &secret=
    payload = f"contract=ETH/BTC&exchange=TEST&secret={user.secret}"
    status, env = user.raw("GET", "basic/contracts", query="exchange=TEST&contract=ETH%2FBTC",
                           headers={"api_key": user.api_key, "sign": sha256_hex(payload)})
    assert status == 200 and env["code"] == "200"
    # upper-case hex is the same digest
    status, env = user.raw("GET", "basic/contracts", query="exchange=TEST&contract=ETH%2FBTC",
                           headers={"api_key": user.api_key, "sign": sha256_hex(payload).upper()})
    assert status == 200 and env["code"] == "200"
    # unsorted (query order) is a different string
    unsorted = f"exchange=TEST&contract=ETH/BTC&secret={user.secret}"
    status, env = user.raw("GET", "basic/contracts", query="exchange=TEST&contract=ETH%2FBTC",
                           headers={"api_key": user.api_key, "sign": sha256_hex(unsorted)})
    assert status == 401 and env["code"] == "40103"


def test_no_parameters_signs_secret_only(user):
    status, env = user.raw("GET", "trade/account",
                           headers={"api_key": user.api_key, "sign": sha256_hex(f"secret={user.secret}")})
    assert status == 200 and env["code"] == "200"


def test_post_json_numbers_signed_as_literal_text(user):
    body = (b'{"exchange":"TEST","contract":"ADA_BTC","price_type":"limit","entrust_bs":"buy",'
            b'"entrust_price":0.00000100,"entrust_vol":10}')
    signed = [("exchange", "TEST"), ("contract", "ADA_BTC"), ("price_type", "limit"), ("entrust_bs", "buy"),
              ("entrust_price", "0.00000100"), ("entrust_vol", "10")]
    # Python's own rendering of the float (1e-06) is not what the client sent
    floaty = [p if p[0] != "entrust_price" else ("entrust_price", str(0.000001)) for p in signed]
    status, env = user.call("POST", "trade/input", body=body, signed=floaty)
    assert status == 401 and env["code"] == "40103"
    assert user.all_open() == []
    status, env = user.call("POST", "trade/input", body=body, signed=signed)
    assert status == 200 and env["code"] == "200", env
    o = user.order(env["data"]["system_oid"])
    assert (o["contract"], o["entrust_price"], o["entrust_amount"]) == ("ADA_BTC", "0.000001", "10")
    # an integer JSON number in a read: {"limit": 2}
    status, env = user.call("POST", "trade/open_orders", body=b'{"limit": 2}', signed=[("limit", "2")])
    assert status == 200 and env["code"] == "200" and len(env["data"]["orderDetailRes"]) == 1
    # "count": 2 style integers sign as their digits; a float literal keeps its text (2.0)
    status, env = user.call("POST", "trade/open_orders", body=b'{"limit": 2.0}', signed=[("limit", "2")])
    assert status == 401 and env["code"] == "40103"
    status, env = user.call("POST", "trade/open_orders", body=b'{"limit": 2.0}', signed=[("limit", "2.0")])
    assert status == 200 and env["code"] == "40005"  # signed right, but limit must be an integer


def test_post_booleans_and_unknown_fields_are_signed(user):
    body = json.dumps(place_body(trade_type=1, margin_mode=True, note="x")).encode()
    signed = [(k, v) for k, v in place_body().items()] + [("trade_type", "1"), ("margin_mode", "true"),
                                                           ("note", "x")]
    status, env = user.call("POST", "trade/input", body=body, signed=signed)
    assert status == 200 and env["code"] == "200", env
    # leaving the extras out of the sign fails: every top-level field is signed
    status, env = user.call("POST", "trade/input", body=body, signed=list(place_body().items()))
    assert status == 401 and env["code"] == "40103"


def test_null_and_empty_values_dropped_and_keep_empty_retry(user):
    fields = place_body(client_oid=None, profit_value="", stop_value="")
    body = json.dumps(fields).encode()
    base = list(place_body().items())
    # null and empty dropped
    status, env = user.call("POST", "trade/input", body=body, signed=base)
    assert status == 200 and env["code"] == "200", env
    # one SDK signs empty values: the server retries keeping them
    status, env = user.call("POST", "trade/input", body=body,
                            signed=[*base, ("profit_value", ""), ("stop_value", "")],
                            sign_value=sign([*base, ("profit_value", ""), ("stop_value", "")], user.secret,
                                            keep_empty=True))
    assert status == 200 and env["code"] == "200", env
    # a null is never signed, not even as "null"
    status, env = user.call("POST", "trade/input", body=body, signed=[*base, ("client_oid", "null")])
    assert status == 401 and env["code"] == "40103"
    # the same for GET: an empty query value
    status, env = user.raw("GET", "trade/account", query="exchange=",
                           headers={"api_key": user.api_key, "sign": sign([], user.secret)})
    assert status == 200 and env["code"] == "200"
    status, env = user.raw("GET", "trade/account", query="exchange=",
                           headers={"api_key": user.api_key,
                                    "sign": sign([("exchange", "")], user.secret, keep_empty=True)})
    assert status == 200 and env["code"] == "200"
    assert len(user.all_open()) == 2


def test_delete_signs_path_ids(user):
    a = user.place(**place_body())["system_oid"]
    b = user.place(**place_body(entrust_price="11"))["system_oid"]
    ids = f"{a},{b}"
    # signing anything but system_oid=<path segment> fails and cancels nothing
    status, env = user.call("DELETE", f"trade/order/{ids}", signed=[("system_oid", a)])
    assert status == 401 and env["code"] == "40103"
    status, env = user.call("DELETE", f"trade/order/{ids}", signed=[])
    assert status == 401 and env["code"] == "40103"
    assert len(user.all_open()) == 2
    status, env = user.call("DELETE", f"trade/order/{ids}", signed=[("system_oid", ids)])
    assert status == 200 and env["data"] == {"SUCCESS": [{"system_oid": a}, {"system_oid": b}], "ERROR": []}


def test_aliases_systemOid_and_positionDir(user):
    oid = user.place(**place_body())["system_oid"]
    status, env = user.call("GET", "trade/order", {"systemOid": oid})
    assert status == 200 and [o["system_oid"] for o in env["data"]] == [oid]
    status, env = user.call("GET", "trade/position", {"positionDir": "buy"})
    assert status == 200 and env["code"] == "200" and env["data"] == []
    status, env = user.call("GET", "trade/position", {"positionDir": "sideways"})
    assert status == 200 and env["code"] == "40006" and "position_dir" in env["message"]


# --- timestamp ----------------------------------------------------------------------------------
def test_timestamp_inside_window_accepted(user):
    for ts in (now_ms(), now_ms() - 3000, now_ms() + 3000):
        status, env = user.call("GET", "trade/account", {"timestamp": str(ts)})
        assert status == 200 and env["code"] == "200", env
    # as a JSON number in a POST body it is signed as its digits
    ts = now_ms()
    status, env = user.call("POST", "trade/input", body=json.dumps(place_body(timestamp=ts)).encode(),
                            signed=[*list(place_body().items()), ("timestamp", str(ts))])
    assert status == 200 and env["code"] == "200", env


@pytest.mark.parametrize("offset", [-60_000, -5_600, 5_600, 3_600_000])
def test_timestamp_outside_window_40105(user, offset):
    before = user.state()
    status, env = user.call("POST", "trade/input", place_body(timestamp=str(now_ms() + offset)))
    assert status == 401 and env["code"] == "40105" and env["data"] is None
    check_envelope(env)
    assert "timestamp" in env["message"]
    assert user.state() == before


@pytest.mark.parametrize("value", ["abc", "12.5", "-1"])
def test_timestamp_not_milliseconds_40105(user, value):
    status, env = user.call("GET", "trade/account", {"timestamp": value})
    assert status == 401 and env["code"] == "40105"


def test_replayed_sign_with_timestamp_40106(user):
    fields = place_body(timestamp=str(now_ms()))
    status, env = user.call("POST", "trade/input", fields)
    assert status == 200 and env["code"] == "200"
    before = user.state()
    status, env = user.call("POST", "trade/input", fields)  # the very same request again
    assert status == 401 and env["code"] == "40106" and env["data"] is None
    assert user.state() == before
    # a new timestamp is a new sign: accepted
    status, env = user.call("POST", "trade/input", place_body(timestamp=str(now_ms() + 1)))
    assert status == 200 and env["code"] == "200"
    # without a timestamp there is no replay check (the 2019 clients send none)
    for _ in range(2):
        status, env = user.call("GET", "trade/account")
        assert status == 200 and env["code"] == "200"


# --- 401 codes ----------------------------------------------------------------------------------
def test_bad_sign_401_40103_changes_nothing(user):
    before = user.state()
    status, env = user.call("POST", "trade/input", place_body(), sign_value="0" * 64)
    assert status == 401
    check_envelope(env)
    assert env["code"] == "40103"
    status, env = user.call("POST", "trade/input", place_body(), sign_value="not-hex")
    assert status == 401 and env["code"] == "40103"
    # a sign made with another product's secret
    status, env = user.call("GET", "trade/account", sign_value=sign([], "x" * 32))
    assert status == 401 and env["code"] == "40103"
    assert user.state() == before


def test_unknown_key_40102(srv, user):
    status, env = user.call("GET", "trade/account", api_key="ZZZZZZZZZZZZZZZZ")
    assert status == 401 and env["code"] == "40102" and env["data"] is None
    check_envelope(env)


@pytest.mark.parametrize("headers", [{}, {"api_key": "KEY"}, {"sign": "0" * 64}, {"api_key": "", "sign": ""}],
                         ids=["none", "key_only", "sign_only", "empty"])
def test_missing_headers_40101(user, headers):
    h = {k: (user.api_key if v == "KEY" else v) for k, v in headers.items()}
    for method, path, body in (("GET", "trade/account", None), ("POST", "trade/input", b"{}"),
                               ("DELETE", "trade/order/1", None)):
        status, env = user.raw(method, path, body=body, headers=h)
        assert status == 401 and env["code"] == "40101", (method, env)
        check_envelope(env)


def test_auth_is_checked_before_validation(user):
    """An unsigned request learns nothing about its parameters."""
    status, env = user.call("GET", "trade/trans", {"exchange": X}, sign_value="0" * 64)
    assert status == 401 and env["code"] == "40103"


def test_public_paths_of_other_products_not_reachable(srv, user):
    """A key sees only its own product's orders, even by id."""
    other = make_product(srv, "auth-other", {"USDT": "100"})
    oid = other.place(**place_body())["system_oid"]
    status, env = user.call("GET", "trade/order", {"system_oid": oid})
    assert status == 200 and env["code"] == "40403"
    cancel = user.cancel(oid)
    assert cancel == {"SUCCESS": [], "ERROR": [{"system_oid": oid, "code": "40403",
                                                "message": "order not found"}]}
    assert [o["system_oid"] for o in other.all_open()] == [oid]


# --- the require_timestamp extension -------------------------------------------------------------
async def test_require_timestamp_extension(tmp_path):
    proc = ServerProcess(tmp_path / "data", extra_args=("--no-simulator",),
                         env={"CERES_AUTH_REQUIRE_TIMESTAMP": "true"}).start()
    try:
        rest = demo_rest(proc)
        status, env = rest.call("GET", "trade/account")
        assert status == 401 and env["code"] == "40107"
        status, env = rest.call("GET", "trade/account", {"timestamp": str(now_ms())})
        assert status == 200 and env["code"] == "200"
        k, s = rest.api_key, rest.secret
        port = proc.info["trade_ws"]
        status, _, body = await raw_handshake(port, f"/?api_key={k}&sign={sha256_hex(f'api_key={k}&secret={s}')}")
        assert status == 401 and json.loads(body)["code"] == "40107"
        ts = str(now_ms())
        good = sha256_hex(f"api_key={k}&timestamp={ts}&secret={s}")
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(f"{proc.trade_ws_url}?api_key={k}&timestamp={ts}&sign={good}")
            w = Ws(ws)
            await w.ping()
            assert await w.ok(14, exchange=X)
            await w.close()
            # the same handshake again is a replay
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await session.ws_connect(f"{proc.trade_ws_url}?api_key={k}&timestamp={ts}&sign={good}")
            assert info.value.status == 401
        old = str(now_ms() - 60_000)
        status, _, body = await raw_handshake(
            port, f"/?api_key={k}&timestamp={old}&sign={sha256_hex(f'api_key={k}&timestamp={old}&secret={s}')}")
        assert status == 401 and json.loads(body)["code"] == "40105"
    finally:
        proc.stop()


def test_signed_client_sdk_matches(srv):
    """The bundled SDK signs the same way (GET with a slash, POST, DELETE)."""
    from ceres.client import RestClient

    d = srv.demo()
    client = RestClient(srv.http_url, d["api_key"], d["secret"])
    assert client.pairs(contract="BTC/USDT")["code"] == "200"
    placed = client.place(**place_body(client_oid=None))
    assert placed["code"] == "200", placed
    assert client.cancel(placed["data"]["system_oid"])["data"]["SUCCESS"]
    assert client.fills("TEST", "BTC/USDT", 5)["code"] == "200"
    # extra parameters travel with the request they are signed for: a timestamp on DELETE,
    # a boolean in a query
    placed = client.place(**place_body())["data"]["system_oid"]
    reply = client.call("DELETE", "trade/order", system_oid=placed, timestamp=str(now_ms()))
    assert reply["code"] == "200" and reply["data"]["SUCCESS"] == [{"system_oid": placed}], reply
    assert client.call("GET", "trade/account", exchange="TEST", verbose=True)["code"] == "200"
