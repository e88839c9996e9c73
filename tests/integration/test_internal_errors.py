"""A bug on any edge answers 500 with its protocol's error shape, keeps serving, and costs
one log line (with its traceback) per exception kind per minute plus a counter in
``/metrics`` (``ceres_internal_errors_total{kind=...}``) — not a traceback per request.

The bugs are injected into a real server process by a ``sitecustomize`` module: the
pairs handler (REST and 19001) raises ZeroDivisionError for exchange ``BUG``, the
market ticker KeyError for ``ADA_BTC``, an 18003 subscription ValueError for exchange
``BUG``, the 19001 upgrade RuntimeError for a path with ``bug=1``.
"""

from __future__ import annotations

import json
import os
import re
import time

import pytest

from tests.fuzz.wsraw import RawWs, frame, upgrade_request
from tests.serverproc import ServerProcess

from .api_helpers import demo_rest, ws_sign
from .conn_helpers import connect, metrics

BUGS = '''
import ceres.gateway.handlers as _h
import ceres.gateway.ws_trade as _t
import ceres.market.data as _d
import ceres.market.ws as _m

_pairs = _h.Handlers.pairs
async def pairs(self, key, req):
    if req.exchange == "BUG":
        1 / 0
    return await _pairs(self, key, req)
_h.Handlers.pairs = pairs

_tick = _d.MarketData.tick
def tick(self, exchange, contract, **kw):
    if contract == "ADA_BTC":
        raise KeyError("injected")
    return _tick(self, exchange, contract, **kw)
_d.MarketData.tick = tick

_handle = _m.MarketServer.handle
def handle(self, listener, req):
    if isinstance(req, dict) and req.get("exchange") == "BUG":
        raise ValueError("injected")
    return _handle(self, listener, req)
_m.MarketServer.handle = handle

_signed = _t.signed_upgrade
def signed_upgrade(request, *args):
    if b"bug=1" in request.path:
        raise RuntimeError("injected")
    return _signed(request, *args)
_t.signed_upgrade = signed_upgrade
'''
N = 200


@pytest.fixture(scope="module")
def buggy(tmp_path_factory):
    root = tmp_path_factory.mktemp("bugs")
    (root / "shim").mkdir()
    (root / "shim" / "sitecustomize.py").write_text(BUGS)
    path = os.pathsep.join(p for p in (str(root / "shim"), os.environ.get("PYTHONPATH", "")) if p)
    proc = ServerProcess(root / "data", extra_args=("--no-simulator",), env={"PYTHONPATH": path}).start()
    yield proc
    proc.stop()


def test_bugs_answer_500_and_log_once_per_kind(buggy):
    started = time.monotonic()
    demo = demo_rest(buggy)
    internal = {"code": "500", "data": None, "message": "internal error"}
    for _ in range(N):  # REST
        assert demo.call("GET", "basic/contracts", {"exchange": "BUG"}) == (500, internal)
    d = buggy.demo()
    signed = f"/?api_key={d['api_key']}&sign={ws_sign(d['api_key'], d['secret'])}"
    trade = RawWs(buggy.info["trade_ws"], signed)
    for i in range(N):  # 19001: the same socket keeps answering
        trade.send(frame(0x1, json.dumps({"biz_type": 13, "exchange": "BUG", "req_id": str(i)}).encode()))
        assert json.loads(trade.recv_text()) == {**internal, "biz_type": 13, "req_id": str(i)}
    trade.send(frame(0x1, b'{"biz_type":13,"exchange":"TEST","req_id":"ok"}'))
    assert json.loads(trade.recv_text())["code"] == "200"
    for _ in range(N):  # market REST: its own error shape
        status, body = demo.raw("GET", "market/tick", query="exchange=TEST&contract=ADA_BTC")
        assert (status, body) == (500, {"code": "500", "message": "internal error"})
    market = RawWs(buggy.info["market_ws"])
    market.recv_text()
    for _ in range(N):  # 18003: a 500 ack, the socket stays
        market.send(frame(0x1, b'[{"msg_type":"subscribe-tick","exchange":"BUG","contract":"X"}]'))
        assert json.loads(market.recv_text())[0]["code"] == 500
    market.send(frame(0x1, b"ping"))
    assert json.loads(market.recv_text())["msg_type"] == "pong"
    for _ in range(20):  # a bug in the 19001 upgrade: HTTP 500 with the envelope
        sock = connect(buggy.info["trade_ws"])
        sock.sendall(upgrade_request(signed + "&bug=1"))
        reply = b""
        while chunk := sock.recv(4096):
            reply += chunk
        sock.close()
        assert reply.startswith(b"HTTP/1.1 500") and reply.endswith(json.dumps(internal, separators=(",", ":"))
                                                                    .encode()), reply

    text = metrics(buggy.http_url)
    counted = dict(re.findall(r'ceres_internal_errors_total\{kind="(\w+)"\} (\d+)', text))
    assert counted == {"ZeroDivisionError": str(2 * N), "KeyError": str(N), "ValueError": str(N),
                       "RuntimeError": "20"}
    log = buggy.logs()
    minutes = 1 + int((time.monotonic() - started) // 60)
    assert 4 <= log.count("Traceback") <= 4 * minutes  # one per kind per minute, not 820
    faults = [line for line in log.splitlines() if "ceres.faults" in line]
    assert 4 <= len(faults) <= 4 * minutes
    assert demo.call("GET", "basic/contracts", {"exchange": "TEST"})[1]["code"] == "200"
