"""Random bytes and half-valid HTTP / WebSocket on every port of a real server: REST
(19000), the trade, notice and market WebSockets, and admin (``garbage.py``, seeded).

Each connection sends its bytes, half-closes, and reads what comes back (bounded). What
the server may answer: nothing, a close, WebSocket frames, or HTTP responses; an HTTP
response with an error status always carries JSON with a ``code`` (never plain text,
never an echo of the input). Meanwhile and afterwards other clients are served: a
trade socket and a market socket opened before the noise answer, REST answers, the
server logged no traceback and counted no internal error.
"""

from __future__ import annotations

import asyncio
import json
import random

import pytest

from tests.fuzz import budget
from tests.fuzz.garbage import cases
from tests.fuzz.wsraw import RawWs, frame
from tests.integration.api_helpers import ws_sign
from tests.serverproc import ServerProcess

CONFIG = """
[limits]
header_timeout_ms = 1500
body_timeout_ms = 1500
idle_timeout_ms = 1500
handshake_timeout_ms = 1500
"""
PORTS = ("http", "trade_ws", "notify_ws", "market_ws", "admin")
READ_S = 3.0  # a connection that says nothing for this long is left (the server's timeouts are 1.5 s)
AT_ONCE = 100


@pytest.fixture(scope="module")
def noisy_server(tmp_path_factory):
    proc = ServerProcess(tmp_path_factory.mktemp("noise") / "data", extra_args=("--no-simulator",),
                         config=CONFIG).start()
    yield proc
    proc.stop()


async def one(port: int, data: bytes) -> bytes:
    """Send ``data`` on a new connection; what the server sent until it closed, until a
    complete HTTP response other than an upgrade came, or ``READ_S``."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), READ_S)
    except (OSError, TimeoutError):
        return b"<refused>"
    out = b""
    try:
        writer.write(data)
        async with asyncio.timeout(READ_S):
            while chunk := await reader.read(65536):
                out += chunk
                responses = http_responses(out)
                if responses and responses[-1][0] != 101 and complete(out):
                    break
    except (OSError, TimeoutError):
        pass
    finally:
        writer.close()
    return out


def complete(data: bytes) -> bool:
    head, sep, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    return bool(sep) and len(body) >= length


def http_responses(data: bytes) -> list[tuple[int, bytes, bytes]]:
    """``(status, head, body)`` of the complete HTTP responses at the start of ``data``."""
    out = []
    while data.startswith(b"HTTP/1."):
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            break
        status = int(head.split(b" ", 2)[1])
        length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        if len(rest) < length:  # cut short: reading stopped before its body came
            break
        out.append((status, head, rest[:length]))
        if status == 101:
            break
        data = rest[length:]
    return out


def check_reply(sent: bytes, got: bytes) -> None:
    for status, head, body in http_responses(got):
        if status < 400:
            continue
        assert b"content-type: application/json" in head.lower(), (sent[:200], head)
        reply = json.loads(body)
        assert isinstance(reply, dict) and isinstance(reply.get("code"), str) and reply.get("message"), reply
        assert sent[:30] not in body or len(sent) < 30, "the reply echoes the request"


def test_every_port_survives_noise(noisy_server):
    srv = noisy_server
    demo = srv.demo()
    signed = f"/?api_key={demo['api_key']}&sign={ws_sign(demo['api_key'], demo['secret'])}"
    trade = RawWs(srv.info["trade_ws"], signed)
    market = RawWs(srv.info["market_ws"])
    market.recv_text()  # greeting
    rng = random.Random(budget.SEED)
    per_port = budget.cases(60)
    work = []
    for name in PORTS:
        target = signed if name in ("trade_ws", "notify_ws") else "/"
        gen = cases(rng, ws=name not in ("http", "admin"), target=target)
        work += [(srv.info[name], next(gen)) for _ in range(per_port)]
    rng.shuffle(work)

    async def run() -> list[bytes]:
        results: list[bytes] = []
        for i in range(0, len(work), AT_ONCE):
            batch = work[i:i + AT_ONCE]
            results += await asyncio.gather(*(one(port, data) for port, data in batch))
            # between batches, the clients opened before the noise are still served
            trade.send(frame(0x1, json.dumps({"biz_type": 13, "exchange": "TEST", "req_id": str(i)}).encode()))
            assert json.loads(trade.recv_text())["req_id"] == str(i)
            market.send(frame(0x1, b'{"msg_type":"ping"}'))
            assert json.loads(market.recv_text())["msg_type"] == "pong"
        return results

    results = asyncio.run(asyncio.wait_for(run(), 600))
    for (_, sent), got in zip(work, results, strict=True):
        check_reply(sent, got)
    budget.count("random_bytes", cases=len(work))
    errors = sum(1 for got in results for status, _, _ in http_responses(got) if status >= 400)
    assert errors > len(work) // 2, errors  # most noise got a refusal it could read (and was checked)
    assert srv.rest().call("GET", "basic/contracts", exchange="TEST")["code"] == "200"
    trade.close()
    market.close()
    assert srv.proc.poll() is None
    assert "Traceback" not in srv.logs()
    from tests.integration.conn_helpers import metrics

    assert "ceres_internal_errors_total{" not in metrics(srv.http_url)
