"""Every malformed input is a documented error before any work (issue 10, item 1): the
cases that once made 500s or plain-text replies, and the bounds (nesting, members,
integer ranges, text lengths, encodings) on REST, market REST, 19001, 19003, 18003 and
the admin port. Each answer is the port's error shape with a documented code; the
product's state does not change; sockets stay open except after an oversize message.
"""

from __future__ import annotations

import json
import re
import struct
import urllib.parse

import pytest

from tests.fuzz.wsraw import BINARY, CLOSE, TEXT, RawWs, frame
from tests.serverproc import ServerProcess

from .api_helpers import check_envelope, demo_rest, sign, ws_sign
from .conn_helpers import connect, http_reply

PLACE = {"exchange": "TEST", "contract": "BTC/USDT", "price_type": "limit", "entrust_bs": "buy", "entrust_price": "10",
         "entrust_vol": "0.01"}


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    proc = ServerProcess(tmp_path_factory.mktemp("bounds") / "data", extra_args=("--no-simulator",)).start()
    yield proc
    proc.stop()


def raw_http(port: int, request: bytes) -> bytes:
    """Send ``request`` on a new connection; the first response (or what came before the
    server closed)."""
    sock = connect(port)
    sock.sendall(request)
    out = b""
    while chunk := sock.recv(65536):
        out += chunk
        head, sep, body = out.partition(b"\r\n\r\n")
        length = re.search(rb"(?i)content-length: *(\d+)", head)
        if sep and length and len(body) >= int(length.group(1)):
            break
    sock.close()
    return out


def nested(depth: int) -> bytes:
    return json.dumps(PLACE)[:-1].encode() + b',"a":' + b"[" * depth + b"]" * depth + b"}"


def trade_socket(srv: ServerProcess) -> RawWs:
    d = srv.demo()
    return RawWs(srv.info["trade_ws"], f"/?api_key={d['api_key']}&sign={ws_sign(d['api_key'], d['secret'])}")


# --- REST ------------------------------------------------------------------------------------------
def test_nested_non_integer_numbers_sign_as_their_text(srv):
    """Once a TypeError (500) while building the sign string."""
    rest = demo_rest(srv)
    body = json.dumps(PLACE)[:-1].encode() + b',"a":[1.5, 1.50, {"b": 2e-3}]}'
    signed = [*PLACE.items(), ("a", '[1.5,1.50,{"b":2e-3}]')]
    status, env = rest.call("POST", "trade/input", body=body, signed=signed)
    assert status == 200 and env["code"] == "200", env
    assert rest.call("POST", "trade/input", body=body, signed=list(PLACE.items()))[1]["code"] == "40103"


@pytest.mark.parametrize(("depth", "status", "code"), [(5, 200, "40001"), (50, 200, "40001"),
                                                       (10_000, 200, "40001"), (100_000, 413, "40020")])
def test_deep_nesting_rest(srv, depth, status, code):
    """Depth 10,000 was a RecursionError (500); 100,000 levels do not fit in 64 KiB."""
    rest = demo_rest(srv)
    before = rest.state()
    got, env = rest.call("POST", "trade/input", body=nested(depth), signed=[])
    assert (got, env["code"]) == (status, code), env
    check_envelope(env)
    if code == "40001":
        assert "nested more than 4 levels" in env["message"]
    assert rest.state() == before


@pytest.mark.parametrize(("body", "code", "words"), [
    (b"{" + b",".join(b'"k%d":1' % i for i in range(65)) + b"}", "40001", "65 members"),
    (b'{"limit":18446744073709551616}', "40001", "beyond 64 bits"),
    (b'{"limit":"--5"}', "40005", "limit"),
    (b'{"exchange":"' + b"E" * 65 + b'"}', "40014", "exchange"),
    (b'{"exchange":"\xff"}', "40001", "UTF-8"),
])
def test_body_bounds_before_auth_or_after(srv, body, code, words):
    """Shape and encoding are refused before the sign is checked (an unsigned request gets
    them too); a field's own type and length after it (signed here)."""
    rest = demo_rest(srv)
    signed = None
    if code in ("40005", "40014"):
        signed = [(k, str(v)) for k, v in json.loads(body).items()]
    status, env = rest.call("POST", "trade/open_orders", body=body, signed=signed or [])
    assert (status, env["code"]) == (200, code) and words in env["message"], env


def test_headers_and_query_that_are_not_utf8(srv):
    """A non-UTF-8 byte in ``sign`` was a 500 (UnicodeEncodeError)."""
    d = srv.demo()
    for headers, code in ((b"api_key: " + d["api_key"].encode() + b"\r\nsign: \xff\xfe", "40103"),
                          (b"api_key: \xc3\x28\r\nsign: " + b"a" * 64, "40102")):
        status, env = http_reply(raw_http(srv.info["http"], b"GET /api/v1/trade/account HTTP/1.1\r\nHost: x\r\n"
                                          + headers + b"\r\n\r\n"))
        assert (status, env["code"]) == (401, code), env
    query = "exchange=%ff%fe"
    signed = sign([("exchange", "\ufffd\ufffd")], d["secret"])  # what a lossy decoder would have read
    status, env = demo_rest(srv).raw("GET", "trade/account", query=query,
                                     headers={"api_key": d["api_key"], "sign": signed})
    assert (status, env["code"]) == (200, "40006") and env["message"].startswith("exchange:"), env
    status, body = demo_rest(srv).raw("GET", "market/tick", query="exchange=TEST&contract=%ff")
    assert (status, body) == (400, {"code": "400", "message": "parameter error: contract is not UTF-8 text"})


def test_oversize_line_is_an_envelope_without_echo(srv):
    reply = raw_http(srv.info["http"], b"GET /api/v1/market/tick?x=" + b"A" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    status, env = http_reply(reply)
    assert (status, env["code"]) == (431, "40023") and b"AAAA" not in reply


@pytest.mark.parametrize("oids", [str(2**63), "1," + "9" * 19, "\u0663", "1 2"])
def test_order_ids_beyond_64_bits_or_not_ascii_digits(srv, oids):
    """A 19-digit id over 2^63-1 reached SQLite (OverflowError, 500), found by schemathesis."""
    rest = demo_rest(srv)
    path_id = urllib.parse.quote(oids, safe=",")
    cancel = rest.call("DELETE", f"trade/order/{path_id}", signed=[("system_oid", oids)])
    for status, reply in (rest.call("GET", "trade/order", {"system_oid": oids}), cancel):
        assert (status, reply["code"]) == (200, "40006") and "is not an order id" in reply["message"], reply
    assert "Traceback" not in srv.logs()


# --- market REST -----------------------------------------------------------------------------------
@pytest.mark.parametrize("params", [{"begin": 2**63}, {"end": 2**64}, {"begin": 10**18}, {"size": "1" * 19},
                                    {"begin": -1}, {"begin": 1.5}, {"begin": True}])
def test_market_integers_are_bounded(srv, params):
    """``begin``/``end`` >= 2^63 were an OverflowError in SQLite (500)."""
    rest = demo_rest(srv)
    for path, extra in (("query/trade/data", {}), ("query/cycle/data/history", {"duration": "1m"})):
        body = json.dumps({"exchange": "TEST", "contract": "BTC/USDT", **extra, **params}).encode()
        status, reply = rest.raw("POST", path, body=body)
        assert status == 400 and reply["code"] == "400", reply
        assert "at most 18 digits" in reply["message"] or "beyond 64 bits" in reply["message"], reply
    ok = {"exchange": "TEST", "contract": "BTC/USDT", "begin": 10**18 - 1}
    assert rest.raw("POST", "query/trade/data", body=json.dumps(ok).encode())[0] == 200


@pytest.mark.parametrize("fields", [{"exchange": {"a": 1}}, {"contract": [1]}, {"duration": {}}, {"duration": [1]},
                                    {"exchange": "E" * 65}])
def test_market_fields_of_the_wrong_type(srv, fields):
    """An object or array as ``exchange``/``contract`` was unhashable (500); so was ``duration``."""
    body = json.dumps({"exchange": "TEST", "contract": "BTC/USDT", "duration": "1m", **fields}).encode()
    status, reply = demo_rest(srv).raw("POST", "query/cycle/data/history", body=body)
    assert status == 400 and set(reply) == {"code", "message"} and reply["code"] == "400", reply


# --- sockets ---------------------------------------------------------------------------------------
def test_trade_socket_bounds(srv):
    ws = trade_socket(srv)
    for payload, code in ((nested(10_000), "40001"), (b'{"biz_type":13,"exchange":"TEST","a":[[[[1]]]]}', "40001"),
                          (b'{"biz_type":17,"count":-9223372036854775809,"req_id":"r"}', "40001"),
                          (b'{"biz_type":13,"exchange":"' + b"E" * 65 + b'","req_id":"r"}', "40014"),
                          (b'{"biz_type":13,"exchange":"\xff"}', "40001")):
        ws.send(frame(TEXT, payload))
        env = json.loads(ws.recv_text())
        assert env["code"] == code, env
        if code == "40014":
            assert (env["biz_type"], env["req_id"]) == (13, "r")
    ws.send(frame(TEXT, b'{"biz_type":13,"exchange":"TEST"}'))
    assert json.loads(ws.recv_text())["code"] == "200"  # still open
    ws.send(frame(TEXT, nested(40_000)))  # 80 KB: over the message limit
    assert json.loads(ws.recv_text())["code"] == "40020"
    opcode, payload = ws.recv_frame()
    assert opcode == CLOSE and struct.unpack("!H", payload[:2])[0] == 1009
    ws.close()


def test_notice_socket_answers_every_message(srv):
    d = srv.demo()
    ws = RawWs(srv.info["notify_ws"], f"/?api_key={d['api_key']}&sign={ws_sign(d['api_key'], d['secret'])}")
    for opcode, payload, expected in ((TEXT, b" PING\n", "pong"), (TEXT, b'{"msg_type":"ping"}', "400"),
                                      (TEXT, b"\xff\xfe", "400"), (BINARY, b"ping", "40002"), (TEXT, b"ping", "pong")):
        ws.send(frame(opcode, payload))
        reply = ws.recv_text()
        assert (reply.decode() if expected == "pong" else json.loads(reply)["code"]) == expected, reply
    ws.send(frame(TEXT, b"x" * 5000))
    assert json.loads(ws.recv_text())["code"] == "40020"
    assert ws.recv_frame()[0] == CLOSE
    ws.close()


def test_market_socket_answers_every_message(srv):
    ws = RawWs(srv.info["market_ws"])
    ws.recv_text()  # greeting
    for payload in (b"[" * 50 + b"]" * 50, b'[{"msg_type":"subscribe-tick","exchange":[[[1]]]}]', b"\xff",
                    b"[" * 30_000 + b"]" * 30_000):
        ws.send(frame(TEXT, payload))
        (ack,) = json.loads(ws.recv_text())
        assert ack["code"] == 500 and ack["message"].startswith("invalid command"), ack
    ws.send(frame(TEXT, b'[{"msg_type":"subscribe-tick","exchange":{"a":1},"contract":"BTC/USDT"}]'))
    assert json.loads(ws.recv_text())[0]["code"] == 400
    ws.send(frame(TEXT, b'{"msg_type":"ping"}'))
    assert json.loads(ws.recv_text())["msg_type"] == "pong"
    ws.close()


def test_admin_port_answers_in_the_envelope(srv):
    for request, status, code in ((b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", 404, "404"),
                                  (b"POST /admin/create_key HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", 401,
                                   "40103"),
                                  (b"\x16\x03\x01\x00\xa5\x01\x00\x00", 400, "40024")):
        got, env = http_reply(raw_http(srv.info["admin"], request))
        assert (got, env["code"]) == (status, code), env
