"""TLS on every public port (a self-signed certificate made in the test), the WebSocket
``Origin`` allowlist on 19001, 19003 and 18003, and the strict profile, through real
servers and real TLS clients (``ssl``, ``http.client``, aiohttp, the SDK)."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import urllib.request

import aiohttp
import pytest

from ceres.client import RestClient, TradeSocket, handshake_query, tls_context
from tests.serverproc import ServerProcess
from tests.tls_helpers import client_context, self_signed, tls_config

from .protect_helpers import HOST, OTHER, code_of, now_ms, rest_call, upgrade
from .protect_helpers import handshake_query as hs

CONSOLE = "https://console.example"
WS_PORTS = ("trade_ws", "notify_ws", "market_ws")


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    return self_signed(tmp_path_factory.mktemp("cert"))


@pytest.fixture(scope="module")
def tls_srv(tmp_path_factory, cert):
    proc = ServerProcess(tmp_path_factory.mktemp("tls") / "data", extra_args=("--no-simulator",),
                         config=tls_config(*cert)).start()
    yield proc
    proc.stop()


def _target(srv, port_name: str, ts: int | None = None) -> str:
    """A valid handshake for the port with the demo key (the market port needs none)."""
    if port_name == "market_ws":
        return "/"
    demo = srv.demo()
    return "/?" + hs(demo["api_key"], demo["secret"], ts)


def _plain_request(port: int, request: bytes) -> bytes:
    with socket.create_connection((HOST, port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def _connections(srv, ctx: ssl.SSLContext | None) -> int:
    scheme = "https" if ctx else "http"
    with urllib.request.urlopen(f"{scheme}://{HOST}:{srv.info['http']}/metrics", timeout=10, context=ctx) as resp:
        text = resp.read().decode()
    return int(next(line.split()[1] for line in text.splitlines() if line.startswith("ceres_tcp_connections ")))


# --- TLS ------------------------------------------------------------------------------------------
def test_tls_is_advertised(tls_srv):
    info = json.loads((tls_srv.data_dir / "server.json").read_text())
    assert info["scheme"] == "https"
    banner = tls_srv.out_path.read_text()
    assert f"https://127.0.0.1:{info['http']}/api/v1/" in banner
    assert all(f"wss://127.0.0.1:{info[p]}/" in banner for p in WS_PORTS)
    assert f"http://127.0.0.1:{info['admin']}/" in banner  # the admin port stays plain (127.0.0.1)


async def test_https_and_wss_on_every_port(tls_srv, cert):
    ctx = client_context(cert[0])
    demo = tls_srv.demo()
    rest = RestClient(f"https://{HOST}:{tls_srv.info['http']}", demo["api_key"], demo["secret"],
                      ssl_context=tls_context(str(cert[0])))
    assert rest.account(exchange="TEST")["code"] == "200"
    async with aiohttp.ClientSession() as session:
        query = handshake_query(demo["api_key"], demo["secret"], timestamp=True)  # the SDK's
        notices = await session.ws_connect(f"wss://{HOST}:{tls_srv.info['notify_ws']}/?{query}", ssl=ctx)
        market = await session.ws_connect(f"wss://{HOST}:{tls_srv.info['market_ws']}/", ssl=ctx)
        assert "info" in json.loads((await market.receive(timeout=10)).data)
        await market.send_str(json.dumps([{"msg_type": "subscribe-depth10", "exchange": "TEST",
                                           "contract": "BTC/USDT"}]))
        assert json.loads((await market.receive(timeout=10)).data)[0]["code"] == 200
        trade = await TradeSocket.connect(session, f"wss://{HOST}:{tls_srv.info['trade_ws']}/", demo["api_key"],
                                          demo["secret"], timestamp=True, ssl=ctx)
        placed = await trade.request(11, exchange="TEST", contract="BTC/USDT", price_type="limit",
                                     entrust_price="123.45", entrust_vol="0.01", entrust_bs="buy")
        assert placed["code"] == "200", placed
        notice = json.loads((await notices.receive(timeout=10)).data)
        assert notice["entrustId"] == placed["data"]["system_oid"] and notice["messageType"] == "1"
        for _ in range(5):  # depth pushes until our bid shows
            depth = json.loads((await market.receive(timeout=10)).data)
            if any(b["price"] == "123.45" for b in depth.get("bids", ())):
                break
        else:
            pytest.fail("the bid never reached 18003")
        await trade.close()
        await notices.close()
        await market.close()


@pytest.mark.parametrize("port_name", ["http", *WS_PORTS])
def test_a_plain_client_is_told_to_use_tls_and_the_server_keeps_serving(tls_srv, cert, port_name):
    ctx = client_context(cert[0])
    before = _connections(tls_srv, ctx)
    port = tls_srv.info[port_name]
    answer = _plain_request(port, f"GET / HTTP/1.1\r\nHost: {HOST}\r\nUpgrade: websocket\r\n\r\n".encode())
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ") and b"Connection: close" in head
    assert json.loads(body) == {"code": "40025", "data": None, "message": "this port speaks TLS: use https:// or wss://"}
    # a TLS client that does not trust the certificate fails its own check, cleanly
    with pytest.raises(ssl.SSLCertVerificationError), \
            socket.create_connection((HOST, port), timeout=10) as raw, \
            ssl.create_default_context().wrap_socket(raw, server_hostname=HOST):
        pass
    # garbage after a TLS record header: the handshake fails, the socket is closed
    assert _plain_request(port, b"\x16\x03\x01\x00\x05hello") == b""
    assert _connections(tls_srv, ctx) == before
    demo = tls_srv.demo()
    assert RestClient(f"https://{HOST}:{tls_srv.info['http']}", demo["api_key"], demo["secret"],
                      ssl_context=ctx).pairs()["code"] == "200"
    assert "Traceback" not in tls_srv.logs()


# --- Origin allowlist ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def origin_srv(tmp_path_factory):
    proc = ServerProcess(tmp_path_factory.mktemp("origin") / "data", extra_args=("--no-simulator",),
                         config=f'[security]\nallowed_origins = ["{CONSOLE}:443", "http://127.0.0.1:19000"]\n').start()
    yield proc
    proc.stop()


@pytest.mark.parametrize("port_name", WS_PORTS)
async def test_origin_allowlist_on_every_websocket_port(origin_srv, port_name):
    port, target = origin_srv.info[port_name], _target(origin_srv, port_name)
    for origin in ("https://evil.example", "null", "http://127.0.0.1:19001", "https://console.example.evil"):
        status, body = await upgrade(port, target, origin=origin)
        assert status == 403 and code_of(body) == "40302", origin
    # refused before the key is looked at
    status, body = await upgrade(port, "/?api_key=nope&sign=nope", origin="https://evil.example")
    assert status == 403 and code_of(body) == "40302"
    for origin in (CONSOLE, "HTTPS://Console.Example:443", None):  # listed (any spelling), or not a browser
        status, _ = await upgrade(port, _target(origin_srv, port_name), origin=origin)
        assert status == 101, origin


async def test_without_an_allowlist_any_origin_is_accepted(server):
    for name in WS_PORTS:
        status, _ = await upgrade(server.info[name], _target(server, name), origin="https://anywhere.example")
        assert status == 101


# --- the strict profile ----------------------------------------------------------------------------
def test_strict_refuses_to_start_without_tls(server_factory):
    proc = server_factory("strict-plain", config='[security]\nprofile = "strict"\n')
    with pytest.raises(RuntimeError) as info:
        proc.start()
    assert "server exited with 2" in str(info.value)
    assert 'security.profile = "strict" needs TLS: set [tls] cert and key' in proc.logs()
    assert not (proc.data_dir / "server.json").exists()


def test_strict_refuses_to_start_with_an_unreadable_certificate(server_factory, tmp_path):
    missing = tmp_path / "missing.pem"
    proc = server_factory("strict-missing", config=tls_config(missing, missing, '[security]\nprofile = "strict"\n'))
    with pytest.raises(RuntimeError):
        proc.start()
    assert "cannot start" in proc.logs() and "tls: cannot load certificate" in proc.logs()


async def test_strict_turns_every_protection_on(server_factory, cert):
    srv = server_factory("strict", config=tls_config(*cert, '[security]\nprofile = "strict"\n')).start()
    ctx = client_context(cert[0])
    demo = srv.demo()
    key, secret = demo["api_key"], demo["secret"]
    http = srv.info["http"]
    # timestamps required for every key, replays refused
    status, env, _ = rest_call(http, key, secret, "GET", "trade/account", ctx=ctx)
    assert (status, env["code"]) == (401, "40107")
    params = {"exchange": "TEST", "timestamp": str(now_ms())}
    status, env, _ = rest_call(http, key, secret, "GET", "trade/account", params, ctx=ctx)
    assert (status, env["code"]) == (200, "200")
    status, env, _ = rest_call(http, key, secret, "GET", "trade/account", params, ctx=ctx)  # the same again
    assert (status, env["code"]) == (401, "40106")
    for name in ("trade_ws", "notify_ws"):
        status, body = await upgrade(srv.info[name], "/?" + hs(key, secret), ctx=ctx)
        assert (status, code_of(body)) == (401, "40107")
    ts = now_ms()
    assert await upgrade(srv.info["trade_ws"], "/?" + hs(key, secret, ts), ctx=ctx, then=b"ping") == (101, b"pong")
    status, body = await upgrade(srv.info["trade_ws"], "/?" + hs(key, secret, ts), ctx=ctx)
    assert (status, code_of(body)) == (401, "40106")
    # no browser origins by default; clients without Origin pass
    for i, name in enumerate(WS_PORTS):
        status, body = await upgrade(srv.info[name], _target(srv, name, ts + 1 + i), origin=CONSOLE, ctx=ctx)
        assert (status, code_of(body)) == (403, "40302")
        status, _ = await upgrade(srv.info[name], _target(srv, name, ts + 1 + i), ctx=ctx)
        assert status == 101
    # allowlists are respected
    srv.admin("set_key", api_key=key, allow_ips=[OTHER])
    status, env, _ = rest_call(http, key, secret, "GET", "trade/account", {"timestamp": str(now_ms())}, ctx=ctx)
    assert (status, env["code"]) == (401, "40108")
    status, env, _ = rest_call(http, key, secret, "GET", "trade/account", {"timestamp": str(now_ms())},
                               source=OTHER, ctx=ctx)
    assert (status, env["code"]) == (200, "200")
    # TLS only
    answer = await asyncio.to_thread(_plain_request, http, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b'"code":"40025"' in answer
    assert "security profile strict: TLS on; timestamps required for every key; WebSocket Origins none" in srv.logs()
