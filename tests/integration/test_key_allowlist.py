"""A key's address allowlist and protections through a real server and the CLI: a key
allowed only 127.0.0.2 is refused from 127.0.0.1 on REST, 19001 and 19003 (40108) and
accepted from 127.0.0.2; ``ceres keys set`` changes take effect at once (and close the
key's sockets); the settings are journaled: they survive a restart (snapshot) and a full
replay gives the same state (``ceres verify --full``)."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.serverproc import ServerProcess

from .api_helpers import make_product
from .protect_helpers import HOST, OTHER, code_of, handshake_query, rest_call, upgrade
from .test_cli import ceres, created_key


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    proc = ServerProcess(tmp_path_factory.mktemp("allow") / "data", extra_args=("--no-simulator",)).start()
    yield proc
    proc.stop()


def _rest(srv, user, source: str) -> tuple[int, str]:
    status, env, _ = rest_call(srv.info["http"], user.api_key, user.secret, "GET", "trade/account",
                               {"exchange": "TEST"}, source=source)
    return status, env["code"]


async def _sockets(srv, user, source: str) -> list[tuple[int, str]]:
    """(status, code or "pong") of a 19001 and a 19003 handshake from ``source``."""
    out = []
    for port in (srv.info["trade_ws"], srv.info["notify_ws"]):
        status, body = await upgrade(port, "/?" + handshake_query(user.api_key, user.secret), source=source,
                                     then=b"ping")
        out.append((status, body.decode() if status == 101 else code_of(body)))
    return out


REFUSED = [(401, "40108"), (401, "40108")]
ACCEPTED = [(101, "pong"), (101, "pong")]


async def test_a_key_allowed_one_address_is_refused_from_another(srv):
    user = make_product(srv, "allow-one", {"USDT": "10"})
    reply = srv.admin("set_key", api_key=user.api_key, allow_ips=[OTHER])
    assert reply["allow_ips"] == "127.0.0.2/32"
    assert _rest(srv, user, HOST) == (401, "40108")
    assert await _sockets(srv, user, HOST) == REFUSED
    assert _rest(srv, user, OTHER) == (200, "200")
    assert await _sockets(srv, user, OTHER) == ACCEPTED
    # refused before the sign is looked at: a wrong sign from outside is still 40108
    status, env, _ = rest_call(srv.info["http"], user.api_key, "x" * 32, "GET", "trade/account", source=HOST)
    assert (status, env["code"]) == (401, "40108")
    # other keys are unaffected
    other = make_product(srv, "allow-other", {"USDT": "10"})
    assert _rest(srv, other, HOST) == (200, "200")


async def test_keys_set_takes_effect_and_closes_the_keys_sockets(srv):
    user = make_product(srv, "allow-set", {"USDT": "10"})
    connector = aiohttp.TCPConnector(local_addr=(OTHER, 0))
    async with aiohttp.ClientSession(connector=connector) as session:
        url = f"http://{HOST}:{srv.info['trade_ws']}/?" + handshake_query(user.api_key, user.secret)
        ws = await session.ws_connect(url)
        await ws.send_str("ping")
        assert (await ws.receive(timeout=10)).data == "pong"
        reply = srv.admin("set_key", api_key=user.api_key, allow_ips=["127.0.0.1"], require_timestamp=False)
        assert reply["connections_closed"] == 1 and reply["allow_ips"] == "127.0.0.1/32"
        closing = await ws.receive(timeout=10)
        assert closing.type == aiohttp.WSMsgType.CLOSE and ws.close_code == 1008
        assert closing.extra == "api_key settings changed"
    assert _rest(srv, user, OTHER) == (401, "40108")
    assert await _sockets(srv, user, OTHER) == REFUSED
    assert _rest(srv, user, HOST) == (200, "200")
    srv.admin("set_key", api_key=user.api_key, allow_ips=[])  # any address
    assert _rest(srv, user, OTHER) == (200, "200")
    assert await _sockets(srv, user, OTHER) == ACCEPTED


def test_admin_refuses_bad_allowlists(srv):
    user = make_product(srv, "allow-bad")
    for bad in (["10.0.0.1/8"], ["nonsense"], 5):
        with pytest.raises(RuntimeError) as info:
            srv.admin("set_key", api_key=user.api_key, allow_ips=bad)
        assert info.value.args[0]["code"] in ("40006", "40005")
    with pytest.raises(RuntimeError) as info:
        srv.admin("set_key", api_key="ZZZZZZZZZZZZZZZZ", require_timestamp=True)
    assert info.value.args[0]["code"] == "40406"
    assert _rest(srv, user, OTHER) == (200, "200")  # nothing changed


def test_protections_are_journaled_cli_to_restart_and_replay(tmp_path):
    data = tmp_path / "data"
    d = ["--data-dir", str(data)]
    ceres("products", "create", "fund-p", *d)
    out = ceres("keys", "create", "fund-p", "--require-timestamp", "--allow-ip", OTHER, "--allow-ip", "10.0.0.0/8",
                *d).stdout
    api_key, secret = created_key(out)
    assert "require_timestamp true" in out and "127.0.0.2/32,10.0.0.0/8" in out
    plain = created_key(ceres("keys", "create", "fund-p", *d).stdout)
    server = ServerProcess(data, extra_args=("--no-simulator",)).start()
    try:
        port = server.info["http"]
        status, env, _ = rest_call(port, api_key, secret, "GET", "trade/account", source=OTHER)
        assert (status, env["code"]) == (401, "40107")  # no timestamp
        status, env, _ = rest_call(port, plain[0], plain[1], "GET", "trade/account", source=HOST)
        assert (status, env["code"]) == (200, "200")
        # online: drop the timestamp requirement, keep the allowlist
        out = ceres("keys", "set", api_key, "--no-require-timestamp", *d).stdout
        assert "require_timestamp false" in out and "connections closed" in out
        status, env, _ = rest_call(port, api_key, secret, "GET", "trade/account", source=OTHER)
        assert (status, env["code"]) == (200, "200")
        status, env, _ = rest_call(port, api_key, secret, "GET", "trade/account", source=HOST)
        assert (status, env["code"]) == (401, "40108")
        refused = ceres("keys", "set", api_key, "--any-ip", "--allow-ip", HOST, *d, check=False)
        assert refused.returncode != 0
    finally:
        assert server.stop() == 0
    listed = ceres("keys", "list", *d).stdout
    assert "127.0.0.2/32,10.0.0.0/8" in listed
    # restart: recovered from the shutdown snapshot
    server = ServerProcess(data, extra_args=("--no-simulator",)).start()
    try:
        port = server.info["http"]
        status, env, _ = rest_call(port, api_key, secret, "GET", "trade/account", source=HOST)
        assert (status, env["code"]) == (401, "40108")
        status, env, _ = rest_call(port, api_key, secret, "GET", "trade/account", source=OTHER)
        assert (status, env["code"]) == (200, "200")
        status, body = asyncio.run(upgrade(server.info["trade_ws"], "/?" + handshake_query(api_key, secret)))
        assert status == 401 and code_of(body) == "40108"
    finally:
        assert server.stop() == 0
    verify = ceres("verify", str(data), "--full").stdout
    assert "(matches)" in verify and "consistency:      ok" in verify
