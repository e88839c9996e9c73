"""The Python SDK (``ceres.client``) for the issue-13 operations: the sign of a batch body
(the worked vector of API.md 2.1, checked against the server's own signing path), the
requests each convenience sends over REST and the biz_type socket, and the
``cancel_on_disconnect`` handshake option (in the query, outside the sign). No server:
``urllib`` and the aiohttp session are stubbed."""

from __future__ import annotations

import asyncio
import hashlib
import json
import urllib.parse
import urllib.request
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ceres import client
from ceres.client import RestClient, TradeSocket, handshake_query, rest_sign, ws_sign
from ceres.gateway import auth, protocol
from ceres.wire import codec

API_MD = (Path(__file__).resolve().parents[3] / "docs" / "API.md").read_text(encoding="utf-8")

# the worked vector of API.md 2.1 ("Arrays and objects")
KEY = "bGppXpZqNrzVOptf"
SECRET = "TQAFrtRS4WrUn1hHKByszao3ozWvIMkF"
ORDERS = [
    {"exchange": "TEST", "contract": "BTC/USDT", "price_type": "limit", "entrust_price": "100.5",
     "entrust_vol": "0.5", "entrust_bs": "buy", "client_oid": "b-1", "post_only": True},
    {"exchange": "TEST", "contract": "ETH/USDT", "price_type": "limit", "entrust_price": "2500",
     "entrust_vol": "0.1", "entrust_bs": "sell", "client_oid": "b-2", "stp": "cancel_both"},
]
PAYLOAD = (
    'orders=[{"exchange":"TEST","contract":"BTC/USDT","price_type":"limit","entrust_price":"100.5",'
    '"entrust_vol":"0.5","entrust_bs":"buy","client_oid":"b-1","post_only":true},'
    '{"exchange":"TEST","contract":"ETH/USDT","price_type":"limit","entrust_price":"2500",'
    '"entrust_vol":"0.1","entrust_bs":"sell","client_oid":"b-2","stp":"cancel_both"}]'
    f"&secret={SECRET}"
)
SIGN = "72a7f8e4cf8a70af4a213278d03c17bc29aab03135a55024c6b6631e2ca22f73"


def server_sign(body: bytes, secret: str = SECRET) -> str:
    """What the server computes for a POST body (``ceres.gateway.http``: decode, pairs, sign)."""
    return auth.compute_sign(protocol.sign_params(codec.decode_json_object(body)), secret)


# --- the sign of arrays and objects ----------------------------------------------------------------
def test_batch_vector() -> None:
    assert hashlib.sha256(PAYLOAD.encode()).hexdigest() == SIGN
    assert rest_sign({"orders": ORDERS}, SECRET) == SIGN
    # the server signs the body as received: spaces and line breaks in the body do not matter
    for body in (json.dumps({"orders": ORDERS}), json.dumps({"orders": ORDERS}, indent=2),
                 json.dumps({"orders": ORDERS}, separators=(",", ":"))):
        assert server_sign(body.encode()) == SIGN
    assert auth.sign_payload(protocol.sign_params(codec.decode_json_object(json.dumps({"orders": ORDERS}))),
                             SECRET) == PAYLOAD


def test_the_vector_is_the_one_documented() -> None:
    assert SIGN in API_MD
    assert PAYLOAD.replace(f"&secret={SECRET}", "") in API_MD


def test_keys_keep_the_order_sent() -> None:
    reordered = [dict(reversed(list(o.items()))) for o in ORDERS]
    assert rest_sign({"orders": reordered}, SECRET) != SIGN
    assert rest_sign({"orders": reordered}, SECRET) == server_sign(json.dumps({"orders": reordered}).encode())


@pytest.mark.parametrize("value", [
    [{"client_oid": 'é"\\\n\t\x01€𝄞/<>&', "n": None, "x": [], "y": {}}],
    {"nested": {"a": 1, "b": -2, "c": False, "d": 0.5}},
    ["1179505372465987584", 7, True, None],
    [],
])
def test_escapes_numbers_and_nulls_sign_as_the_server_reads_them(value: Any) -> None:
    """Non-ASCII as itself, JSON escapes as JSON writes them, nested nulls kept, numbers as
    their text: the SDK's sign of a value equals the server's for the body the SDK sends."""
    params = {"orders": value, "exchange": "TEST"}
    assert rest_sign(params, SECRET) == server_sign(json.dumps(params).encode())


def test_top_level_values_sign_as_before() -> None:
    params = {"contract": "ADA_BTC", "count": 2, "exchange": "TEST", "flag": True, "empty": "", "none": None}
    assert rest_sign(params, SECRET) == hashlib.sha256(
        f"contract=ADA_BTC&count=2&exchange=TEST&flag=true&secret={SECRET}".encode()).hexdigest()


# --- REST requests -------------------------------------------------------------------------------------
class _Resp:
    def __init__(self, body: bytes) -> None:
        self.status, self._body = 200, body

    def read(self) -> bytes:
        return self._body

    def __enter__(self) -> _Resp:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[urllib.request.Request]:
    out: list[urllib.request.Request] = []

    def urlopen(req: urllib.request.Request, timeout: float = 0, context: Any = None) -> _Resp:
        out.append(req)
        return _Resp(json.dumps({"code": "200", "data": [], "message": "SUCESS"}).encode())

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    return out


def _split(req: urllib.request.Request) -> tuple[str, str, dict[str, str]]:
    url = urllib.parse.urlsplit(req.full_url)
    return req.get_method(), url.path, dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))


def test_batch_place_sends_the_orders_and_signs_them(sent: list[urllib.request.Request]) -> None:
    api = RestClient("http://h:1", KEY, SECRET)
    api.batch_place([*ORDERS[:1], {**ORDERS[1], "time_in_force": None}])  # None fields are left out
    (req,) = sent
    assert _split(req)[:2] == ("POST", "/api/v1/trade/batch_input")
    assert json.loads(req.data) == {"orders": ORDERS}  # type: ignore[arg-type]
    assert req.get_header("Sign") == SIGN == server_sign(req.data)  # type: ignore[arg-type]
    assert req.get_header("Api_key") == KEY


def test_place_with_the_new_fields(sent: list[urllib.request.Request]) -> None:
    api = RestClient("http://h:1", KEY, SECRET)
    api.place(exchange="TEST", contract="BTC/USDT", price_type="limit", entrust_price="100", entrust_vol="1",
              entrust_bs="buy", time_in_force="GTC", post_only=True, stp="cancel_maker")
    (req,) = sent
    body = json.loads(req.data)  # type: ignore[arg-type]
    assert body["post_only"] is True and body["stp"] == "cancel_maker" and body["time_in_force"] == "GTC"
    assert req.get_header("Sign") == server_sign(req.data)  # type: ignore[arg-type]
    assert "&post_only=true&price_type=limit&stp=cancel_maker&time_in_force=GTC&secret=" in auth.sign_payload(
        protocol.sign_params(codec.decode_json_object(req.data)), SECRET)  # type: ignore[arg-type]


def test_batch_cancel_cancel_all_dead_man_and_amend(sent: list[urllib.request.Request]) -> None:
    api = RestClient("http://h:1", KEY, SECRET)
    ids = ["1179505372465987584", "1179505372465987585"]
    api.batch_cancel(ids)
    api.cancel_all(exchange="TEST", contract="BTC/USDT", entrust_bs=None)
    api.cancel_all_after(5000, exchange="TEST")
    api.cancel_all_after(0)
    api.amend("1179505372465987584", vol="0.3")
    method, path, query = _split(sent[0])
    assert (method, path, query) == ("DELETE", "/api/v1/trade/batch_order", {"system_oid": ",".join(ids)})
    assert sent[0].data is None
    assert sent[0].get_header("Sign") == auth.compute_sign(list(query.items()), SECRET)
    bodies = [(_split(r)[0], _split(r)[1], json.loads(r.data)) for r in sent[1:]]  # type: ignore[arg-type]
    assert bodies == [
        ("POST", "/api/v1/trade/cancel_all", {"exchange": "TEST", "contract": "BTC/USDT"}),
        ("POST", "/api/v1/trade/cancel_all_after", {"timeout_ms": 5000, "exchange": "TEST"}),
        ("POST", "/api/v1/trade/cancel_all_after", {"timeout_ms": 0}),
        ("POST", "/api/v1/trade/amend", {"system_oid": "1179505372465987584", "entrust_vol": "0.3"}),
    ]
    for r in sent[1:]:
        assert r.get_header("Sign") == server_sign(r.data)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        api.amend("1179505372465987584")


def test_id_list() -> None:
    assert client.id_list("1,2") == "1,2"
    assert client.id_list(["1", 2]) == "1,2"
    assert client.id_list(7) == "7"


# --- the biz_type socket -------------------------------------------------------------------------------
class FakeWS:
    """Answers every JSON request with an envelope carrying its req_id and biz_type."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.inbox: asyncio.Queue[str | None] = asyncio.Queue()

    async def send_str(self, text: str) -> None:
        msg = json.loads(text)
        self.sent.append(msg)
        await self.inbox.put(json.dumps({"code": "200", "data": [], "message": "SUCESS",
                                         "biz_type": msg["biz_type"], "req_id": msg["req_id"]}))

    def __aiter__(self) -> FakeWS:
        return self

    async def __anext__(self) -> Any:
        text = await self.inbox.get()
        if text is None:
            raise StopAsyncIteration
        return SimpleNamespace(type=SimpleNamespace(name="TEXT"), data=text)

    async def close(self) -> None:
        await self.inbox.put(None)


class FakeSession:
    def __init__(self) -> None:
        self.urls: list[str] = []
        self.ws = FakeWS()

    async def ws_connect(self, url: str, ssl: Any = True) -> FakeWS:
        self.urls.append(url)
        return self.ws


def _query(url: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


@pytest.mark.parametrize("timestamp", [False, True])
async def test_cancel_on_disconnect_is_in_the_query_and_not_signed(timestamp: bool) -> None:
    session = FakeSession()
    sock = await TradeSocket.connect(session, "ws://h:1/", KEY, SECRET, timestamp=timestamp,
                                     cancel_on_disconnect=True)
    await sock.close()
    url = session.urls[0]
    assert url.endswith("&cancel_on_disconnect=1")
    query = _query(url)
    assert query["cancel_on_disconnect"] == "1"
    assert query["sign"] == ws_sign(KEY, SECRET, query.get("timestamp"))  # over api_key (and timestamp) only
    assert set(query) == {"api_key", "sign", "cancel_on_disconnect"} | ({"timestamp"} if timestamp else set())


async def test_without_the_option_the_handshake_is_unchanged() -> None:
    session = FakeSession()
    sock = await TradeSocket.connect(session, "ws://h:1/", KEY, SECRET)
    await sock.close()
    assert session.urls == [f"ws://h:1/?api_key={KEY}&sign={ws_sign(KEY, SECRET)}"]
    assert handshake_query(KEY, SECRET) == f"api_key={KEY}&sign={ws_sign(KEY, SECRET)}"
    assert handshake_query(KEY, SECRET, cancel_on_disconnect=True) == (
        f"api_key={KEY}&sign={ws_sign(KEY, SECRET)}&cancel_on_disconnect=1")


async def test_socket_conveniences_send_biz_types_21_to_25() -> None:
    session = FakeSession()
    sock = await TradeSocket.connect(session, "ws://h:1/", KEY, SECRET)
    replies = [
        await sock.place(exchange="TEST", contract="BTC/USDT", price_type="limit", entrust_price="100",
                         entrust_vol="1", entrust_bs="buy", post_only="true"),
        await sock.batch_place(ORDERS),
        await sock.batch_cancel(["1", "2"]),
        await sock.cancel_all(exchange="TEST", contract=None),
        await sock.cancel_all_after(60_000, exchange="TEST"),
        await sock.cancel_all_after(0),
        await sock.amend("1179505372465987584", price="101"),
    ]
    await sock.close()
    assert [r["biz_type"] for r in replies] == [11, 21, 22, 23, 24, 24, 25]
    sent = [{k: v for k, v in m.items() if k != "req_id"} for m in session.ws.sent]
    assert sent[1:] == [
        {"biz_type": 21, "orders": ORDERS},
        {"biz_type": 22, "system_oid": "1,2"},
        {"biz_type": 23, "exchange": "TEST"},
        {"biz_type": 24, "timeout_ms": 60000, "exchange": "TEST"},
        {"biz_type": 24, "timeout_ms": 0},
        {"biz_type": 25, "system_oid": "1179505372465987584", "entrust_price": "101"},
    ]
    assert sent[0]["post_only"] == "true"
