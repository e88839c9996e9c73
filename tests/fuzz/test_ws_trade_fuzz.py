"""hypothesis against the WebSocket ports of a real server (``messages.py``: random
``biz_type``, fields, value types and sizes, nesting, encodings, binary frames,
fragments).

19001: every message gets exactly one reply on the same socket, a well-formed envelope
with a documented code; what the client can read back is echoed (``biz_type`` when it
is an integer, ``req_id``) once the message is JSON within the bounds; a message that is
not UTF-8, not JSON, or nested or wide beyond the bounds is 40001, a binary frame 40002,
``ping`` is ``pong``. Then the same socket and a second client are still served, and the
server's log grew by a few lines per error class, without a traceback.
19003 and 18003: every message gets its protocol's answer (``pong``, an error envelope;
an array of acks), and the socket stays open.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, seed, settings

from ceres.domain.errors import ErrorCode
from tests.fuzz import budget
from tests.fuzz.messages import Sent, messages, within_bounds
from tests.fuzz.wsraw import TEXT, RawWs, frame
from tests.integration.api_helpers import ws_sign

CODES = {m.code for m in ErrorCode} | {"200"}
ENVELOPE = {"code", "data", "message"}
SETTINGS = settings(max_examples=budget.cases(300), deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


class Conn:
    """A socket that is reopened if a failing example left it in an unknown state."""

    def __init__(self, open_: Any) -> None:
        self.open_ = open_
        self.ws = open_()

    def exchange(self, sent: Sent) -> bytes:
        try:
            self.ws.send(*sent.frames)
            return self.ws.recv_text()
        except BaseException:
            self.ws.close()
            self.ws = self.open_()
            raise


def signed_target(srv: Any) -> str:
    demo = srv.demo()
    return f"/?api_key={demo['api_key']}&sign={ws_sign(demo['api_key'], demo['secret'])}"


@pytest.fixture(scope="module")
def trade(fuzz_server):
    conn = Conn(lambda: RawWs(fuzz_server.info["trade_ws"], signed_target(fuzz_server)))
    yield conn
    conn.ws.close()


def ints_fit(value: Any) -> bool:
    """Every integer within what the server's JSON decoder holds (64 bits)."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, int) and not isinstance(node, bool) and not -(2**63) <= node < 2**64:
            return False
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return True


def decoded(payload: bytes) -> tuple[str, Any]:
    """What the server must make of ``payload``: ``("bad", None)`` (40001), ``("json",
    obj)``, or ``("unsure", None)`` where Python's and the server's JSON differ (NaN,
    Infinity, lone surrogate escapes)."""
    try:
        obj = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: nested thousands deep
        return "bad", None
    text = payload.decode("utf-8")
    if any(word in text for word in ("NaN", "Infinity", "\\ud8", "\\ud9", "\\uda", "\\udb", "\\udc", "\\udd",
                                     "\\ude", "\\udf", "\\uD")):
        return "unsure", None
    if not (within_bounds(obj) and ints_fit(obj) and isinstance(obj, dict)):
        return "bad", None
    return "json", obj


def check_envelope(reply: bytes) -> dict[str, Any]:
    env = json.loads(reply)
    assert isinstance(env, dict) and ENVELOPE <= set(env) <= ENVELOPE | {"biz_type", "req_id"}, env
    assert env["code"] in CODES, env
    if env["code"] == "200":
        assert env["message"] == "SUCESS", env
    else:
        assert env["data"] is None and isinstance(env["message"], str) and env["message"], env
    return env


def check_trade_reply(sent: Sent, reply: bytes) -> str:
    if sent.text and sent.payload == b"ping":
        assert reply == b"pong"
        return "pong"
    env = check_envelope(reply)
    if not sent.text:
        assert env["code"] == "40002" and "biz_type" not in env, env
        return env["code"]
    kind, obj = decoded(sent.payload)
    if kind == "bad":
        assert env["code"] == "40001" and "biz_type" not in env and "req_id" not in env, (sent.payload[:300], env)
    elif kind == "json":
        req_id = obj.get("req_id")
        if isinstance(req_id, str) and len(req_id) <= 64:
            assert env.get("req_id") == req_id, env
            biz = obj.get("biz_type")
            if isinstance(biz, int) and not isinstance(biz, bool):
                assert env.get("biz_type") == biz, env
        if obj.get("biz_type") not in range(11, 18) and obj.get("biz_type") not in [str(n) for n in range(11, 18)]:
            assert env["code"] != "200", env
    return env["code"]


SEEN: dict[str, int] = {}


@seed(budget.SEED)
@SETTINGS
@given(sent=messages)
def test_trade_socket_answers_every_message(trade, sent):
    code = check_trade_reply(sent, trade.exchange(sent))
    SEEN[code] = SEEN.get(code, 0) + 1
    budget.count("ws_trade_fuzz", cases=1)


def test_trade_socket_survives_and_logs_little(fuzz_server, trade):
    """After the fuzzing above: the same socket answers a valid request, a new client is
    served, and the log holds no traceback and at most a few lines per error class."""
    assert SEEN, "the fuzzing test did not run first"
    trade.ws.send_message(json.dumps({"biz_type": 13, "exchange": "TEST", "req_id": "after"}).encode())
    assert check_envelope(trade.ws.recv_text())["code"] == "200"
    other = RawWs(fuzz_server.info["trade_ws"], signed_target(fuzz_server))
    other.send(frame(TEXT, b'{"biz_type":14,"req_id":"second"}'))
    assert check_envelope(other.recv_text())["req_id"] == "second"
    other.close()
    log = fuzz_server.logs()
    assert "Traceback" not in log
    messages_sent = sum(SEEN.values())
    reject_lines = log.count("ceres.rejects")
    assert reject_lines <= 8 * len(SEEN) + 10 < messages_sent, (reject_lines, SEEN)


# --- 19003 and 18003 -----------------------------------------------------------------------------
small = messages.filter(lambda sent: len(sent.payload) <= 4096)  # 19003 closes a socket over 4 KiB (1009)


@pytest.fixture(scope="module")
def notify(fuzz_server):
    conn = Conn(lambda: RawWs(fuzz_server.info["notify_ws"], signed_target(fuzz_server)))
    yield conn
    conn.ws.close()


@seed(budget.SEED)
@settings(SETTINGS, max_examples=budget.cases(100))
@given(sent=small)
def test_notify_socket_answers_every_message(notify, sent):
    reply = notify.exchange(sent)
    if sent.text and sent.payload.strip().lower() == b"ping":
        assert reply == b"pong"
    else:
        assert check_envelope(reply)["code"] == ("400" if sent.text else "40002")
    budget.count("ws_notify_fuzz", cases=1)


def decoded_list(payload: bytes) -> Any:
    try:
        return json.loads(payload.decode("utf-8").strip())
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


class MarketConn(Conn):
    def exchange(self, sent: Sent) -> bytes:
        """The answer to ``sent``: an ack array or a pong (pushes of what a lucky message
        subscribed to are skipped)."""
        reply = super().exchange(sent)
        while reply.startswith(b"{") and b'"push-' in reply[:40]:
            reply = self.ws.recv_text()
        return reply


@pytest.fixture(scope="module")
def market(fuzz_server):
    def open_() -> RawWs:
        ws = RawWs(fuzz_server.info["market_ws"])
        assert b'"info"' in ws.recv_text()  # the greeting
        return ws

    conn = MarketConn(open_)
    yield conn
    conn.ws.close()


@seed(budget.SEED)
@settings(SETTINGS, max_examples=budget.cases(100))
@given(sent=messages)
def test_market_socket_answers_every_message(market, sent):
    reply = json.loads(market.exchange(sent))
    if isinstance(reply, dict):
        assert reply["msg_type"] == "pong" and reply["time"].isdigit(), reply
    else:
        assert isinstance(reply, list), reply
        assert reply or decoded_list(sent.payload) == [], (sent.payload[:200], reply)  # no request, no ack
        for ack in reply:
            assert set(ack) == {"msg_type", "exchange", "contract", "duration", "code", "message"}, ack
            assert ack["code"] in (200, 201, 400, 500) and isinstance(ack["message"], str), ack
    budget.count("ws_market_fuzz", cases=1)
