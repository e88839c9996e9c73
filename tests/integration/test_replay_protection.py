"""What a captured request or handshake URL allows, through a real server: a default key
(the 2019 behaviour: a signed placement without ``timestamp`` does it again; a handshake
URL opens sockets for ever) and a key requiring timestamps (refused without one; a
timestamped request or URL works once, inside the window only). The server's window is
1 s here, so "after the window" is a bounded wait, never a timing assertion.
"""

from __future__ import annotations

import time

import pytest

from tests.serverproc import ServerProcess

from .api_helpers import make_product
from .protect_helpers import code_of, handshake_query, now_ms, rest_call, upgrade

WINDOW_MS = 1000
PLACE = {"exchange": "TEST", "contract": "BTC/USDT", "price_type": "limit", "entrust_bs": "buy",
         "entrust_price": "10", "entrust_vol": "0.01"}


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    proc = ServerProcess(tmp_path_factory.mktemp("replay") / "data", extra_args=("--no-simulator",),
                         config=f"[auth]\ntimestamp_window_ms = {WINDOW_MS}\n").start()
    yield proc
    proc.stop()


def _user(srv, name: str, **protections):
    user = make_product(srv, name, {"USDT": "1000"})
    if protections:
        srv.admin("set_key", api_key=user.api_key, **protections)
    return user


def _open_orders(srv, user) -> list:
    status, env, _ = rest_call(srv.info["http"], user.api_key, user.secret, "GET", "trade/open_orders",
                               {"timestamp": str(now_ms())})
    assert status == 200 and env["code"] == "200", env
    return env["data"]["orderDetailRes"]


def _after_window() -> None:
    time.sleep(WINDOW_MS / 1000 + 0.3)


def test_a_captured_placement_replays_for_a_default_key(srv):
    """Documented 2019 behaviour: the same signed POST, sent twice, places two orders."""
    user = _user(srv, "replay-default")
    port = srv.info["http"]
    status, env, captured = rest_call(port, user.api_key, user.secret, "POST", "trade/input", PLACE)
    assert status == 200 and env["code"] == "200"
    status, again, _ = rest_call(port, user.api_key, user.secret, "POST", "trade/input", raw=captured)
    assert status == 200 and again["code"] == "200"
    assert again["data"]["system_oid"] != env["data"]["system_oid"]
    assert len(_open_orders(srv, user)) == 2


def test_a_key_requiring_timestamps_refuses_a_placement_without_one(srv):
    user = _user(srv, "replay-ts-key", require_timestamp=True)
    status, env, _ = rest_call(srv.info["http"], user.api_key, user.secret, "POST", "trade/input", PLACE)
    assert status == 401 and env["code"] == "40107" and env["data"] is None
    assert _open_orders(srv, user) == []


@pytest.mark.parametrize("require", [False, True], ids=["default-key", "timestamp-key"])
def test_a_timestamped_placement_works_once(srv, require):
    """Replayed inside the window: 40106; after it: 40105. One order in the end."""
    user = _user(srv, f"replay-once-{require}", require_timestamp=require)
    port = srv.info["http"]
    status, env, captured = rest_call(port, user.api_key, user.secret, "POST", "trade/input",
                                      {**PLACE, "timestamp": str(now_ms())})
    assert status == 200 and env["code"] == "200"
    status, env, _ = rest_call(port, user.api_key, user.secret, "POST", "trade/input", raw=captured)
    assert status == 401 and env["code"] == "40106"
    _after_window()
    status, env, _ = rest_call(port, user.api_key, user.secret, "POST", "trade/input", raw=captured)
    assert status == 401 and env["code"] == "40105"
    assert len(_open_orders(srv, user)) == 1


async def test_a_captured_handshake_url_of_a_default_key_works_again(srv):
    user = _user(srv, "replay-ws-default")
    url = "/?" + handshake_query(user.api_key, user.secret)
    ports = (srv.info["trade_ws"], srv.info["notify_ws"])
    for port in ports:
        assert await upgrade(port, url, then=b"ping") == (101, b"pong")
        assert await upgrade(port, url, then=b"ping") == (101, b"pong")
    _after_window()
    for port in ports:
        assert await upgrade(port, url, then=b"ping") == (101, b"pong")


async def test_a_captured_handshake_url_of_a_timestamp_key_expires(srv):
    user = _user(srv, "replay-ws-ts", require_timestamp=True)
    trade, notify = srv.info["trade_ws"], srv.info["notify_ws"]
    for port in (trade, notify):
        status, body = await upgrade(port, "/?" + handshake_query(user.api_key, user.secret))
        assert status == 401 and code_of(body) == "40107"
    ts = now_ms()
    url = "/?" + handshake_query(user.api_key, user.secret, ts)
    assert await upgrade(trade, url, then=b"ping") == (101, b"pong")
    status, body = await upgrade(trade, url)  # the same URL again, inside the window
    assert status == 401 and code_of(body) == "40106"
    status, body = await upgrade(notify, url)  # ... or on the other port
    assert status == 401 and code_of(body) == "40106"
    # a second socket needs its own timestamp
    assert await upgrade(notify, "/?" + handshake_query(user.api_key, user.secret, ts + 1), then=b"ping") \
        == (101, b"pong")
    _after_window()
    status, body = await upgrade(trade, url)
    assert status == 401 and code_of(body) == "40105"


def test_require_timestamp_default_applies_to_keys_created_without_a_choice(server_factory):
    srv = server_factory("ts-default", config="[auth]\nrequire_timestamp_default = true\n").start()
    http = srv.info["http"]
    srv.admin("create_product", name="fund-d")
    implicit = srv.admin("create_key", product="fund-d")
    explicit = srv.admin("create_key", product="fund-d", require_timestamp=False)
    assert (implicit["require_timestamp"], explicit["require_timestamp"]) == (True, False)
    demo = srv.demo()  # the demo key is created the same way
    for cred, code in ((implicit, "40107"), (demo, "40107"), (explicit, "200")):
        status, env, _ = rest_call(http, cred["api_key"], cred["secret"], "GET", "trade/account")
        assert env["code"] == code and status == (200 if code == "200" else 401)
    status, env, _ = rest_call(http, implicit["api_key"], implicit["secret"], "GET", "trade/account",
                               {"timestamp": str(now_ms())})
    assert (status, env["code"]) == (200, "200")
