"""Helpers for the gateway integration tests (REST on 19000, biz_type WebSocket on 19001).

Everything here talks to a real ``ceres serve`` process over loopback sockets:

* :class:`Rest`: signed REST calls with the stdlib (``urllib``); the signature is computed
  here independently of ``ceres`` (plain ``hashlib``), and every part of the request (query
  text, raw body, signed pairs, headers) can be overridden to build malformed requests;
* :class:`Ws`: a sequential biz_type client on an aiohttp WebSocket, with raw access;
* :func:`raw_handshake`: an upgrade request on a plain TCP stream, to read the body of a
  refused handshake;
* :func:`make_product`: a second product funded on TEST spot (deposit, then transfer to
  account type 3), to provide counter-orders;
* ``check_*``: exact key sets and value types of the wire objects of API.md section 3.

Every wait is bounded (socket timeouts, ``asyncio.wait_for``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import aiohttp

API = "/api/v1/"
TIMEOUT = 10.0

ENVELOPE_KEYS = {"code", "data", "message"}
PLACE_KEYS = {"client_oid", "system_oid"}
ORDER_KEYS = {"system_oid", "client_oid", "contract", "entrust_bs", "future_dir", "entrust_price",
              "entrust_amount", "entrust_time", "average_dealt_price", "dealt_amount", "status",
              "lever", "profit_value", "stop_value", "commission"}
FILL_KEYS = {"system_oid", "system_tid", "client_oid", "contract", "entrust_bs", "future_dir",
             "dealt_amount", "dealt_price", "dealt_time", "commission", "commission_currency"}
ACCOUNT_KEYS = {"account_type", "balance", "currency", "frozen", "market_value"}
PAIR_KEYS = {"contract", "exchange", "kind", "tick_size", "volume_increment", "min_price",
             "min_volume", "min_change"}
SPOT_FILL_FUTURE_DIR = "币币交易，不区分"

ID_RE = re.compile(r"^[0-9]{18,19}$")
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
DECIMAL_RE = re.compile(r"^(0|[1-9][0-9]*)(\.[0-9]*[1-9])?$")  # plain, no exponent, no trailing 0
WIRE_TZ = timezone(timedelta(hours=8))  # server.timezone default "+08:00"


# --- signing (independent of ceres) ----------------------------------------------------------
def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sign_text(pairs: Iterable[tuple[str, str | None]], secret: str, *, keep_empty: bool = False) -> str:
    kept = sorted((k, v) for k, v in pairs if v is not None and (keep_empty or v != ""))
    head = "&".join(f"{k}={v}" for k, v in kept)
    return f"{head}&secret={secret}" if head else f"secret={secret}"


def sign(pairs: Iterable[tuple[str, str | None]], secret: str, *, keep_empty: bool = False) -> str:
    return sha256_hex(sign_text(pairs, secret, keep_empty=keep_empty))


def ws_sign(api_key: str, secret: str) -> str:
    return sha256_hex(f"api_key={api_key}&secret={secret}")


def json_text(value: Any) -> str | None:
    """How a JSON body value is signed: numbers as their literal, booleans true/false."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


# --- REST ------------------------------------------------------------------------------------
class Rest:
    """Signed REST calls. ``call`` returns ``(http_status, decoded_body)``."""

    def __init__(self, base_url: str, api_key: str, secret: str) -> None:
        self.base = base_url.rstrip("/")
        self.api_key = api_key
        self.secret = secret

    def raw(self, method: str, path: str, *, query: str = "", body: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, Any]:
        url = self.base + (path if path.startswith("/") else API + path)
        if query:
            url += "?" + query
        req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode("utf-8", "replace")

    def call(self, method: str, path: str, params: dict[str, Any] | None = None, *,
             body: bytes | None = None, signed: list[tuple[str, str | None]] | None = None,
             sign_value: str | None = None, api_key: str | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """GET/DELETE: ``params`` in the query; POST: ``params`` as the JSON body (or
        ``body`` verbatim). The sign covers ``signed`` if given, else ``params``."""
        params = dict(params or {})
        query = ""
        if method == "POST":
            if body is None:
                body = json.dumps(params, ensure_ascii=False).encode()
            default_signed = [(k, json_text(v)) for k, v in params.items()]
        else:
            query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
            default_signed = [(k, None if v is None else str(v)) for k, v in params.items()]
        pairs = default_signed if signed is None else signed
        h = {"Content-Type": "application/json", "api_key": api_key or self.api_key,
             "sign": sign_value if sign_value is not None else sign(pairs, self.secret)}
        if headers is not None:
            h = headers
        return self.raw(method, path, query=query, body=body, headers=h)

    def ok(self, method: str, path: str, params: dict[str, Any] | None = None, **kw: Any) -> Any:
        """``data`` of a successful call (asserts HTTP 200 and code "200")."""
        status, env = self.call(method, path, params, **kw)
        assert status == 200 and isinstance(env, dict) and env.get("code") == "200", (status, env)
        return env["data"]

    def delete_ids(self, ids: str, **kw: Any) -> tuple[int, Any]:
        return self.call("DELETE", f"trade/order/{ids}", signed=[("system_oid", ids)], **kw)

    # conveniences returning data
    def place(self, **fields: Any) -> dict:
        return self.ok("POST", "trade/input", fields)

    def cancel(self, ids: str) -> dict:
        status, env = self.delete_ids(ids)
        assert status == 200 and env["code"] == "200", env
        return env["data"]

    def account(self, **params: Any) -> list:
        return self.ok("GET", "trade/account", params)

    def orders(self, **params: Any) -> list:
        return self.ok("GET", "trade/order", params)

    def order(self, oid: str) -> dict:
        found = self.orders(system_oid=oid)
        assert len(found) == 1, found
        return found[0]

    def open_orders(self, **params: Any) -> dict:
        return self.ok("GET", "trade/open_orders", params)

    def all_open(self) -> list[dict]:
        out: list[dict] = []
        page = self.open_orders()
        out += page["orderDetailRes"]
        for _ in range(1000):
            if not page["nextFrom"]:
                break
            page = self.open_orders(**{"from": page["nextFrom"]})
            out += page["orderDetailRes"]
        return out

    def fills(self, exchange: str, contract: str, count: int) -> list:
        return self.ok("GET", "trade/trans", {"exchange": exchange, "contract": contract, "count": count})

    def state(self) -> tuple:
        """What an error must not change: balances, open orders and order history."""
        return (self.account(), self.all_open(), self.orders())


def balances(rows: list[dict], account_type: int = 3) -> dict[str, tuple[str, str]]:
    """``{currency: (balance, frozen)}`` of one account type."""
    return {r["currency"]: (r["balance"], r["frozen"]) for r in rows if r["account_type"] == account_type}


# --- WebSocket 19001 -----------------------------------------------------------------------
class Ws:
    """A biz_type socket used sequentially: ``request`` sends one message with a fresh
    ``req_id`` and expects the very next message to be its reply."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.n = 0

    @classmethod
    async def connect(cls, session: aiohttp.ClientSession, url: str, api_key: str, secret: str,
                      path: str = "") -> Ws:
        ws = await asyncio.wait_for(
            session.ws_connect(f"{url}{path}?api_key={api_key}&sign={ws_sign(api_key, secret)}",
                               autoping=True, max_msg_size=0), TIMEOUT)
        return cls(ws)

    async def send(self, message: str | dict) -> None:
        await self.ws.send_str(message if isinstance(message, str) else json.dumps(message, ensure_ascii=False))

    async def recv_msg(self, timeout: float = TIMEOUT) -> aiohttp.WSMessage:
        return await asyncio.wait_for(self.ws.receive(), timeout)

    async def recv(self, timeout: float = TIMEOUT) -> Any:
        """Next text message: ``"pong"`` as is, anything else JSON-decoded."""
        msg = await self.recv_msg(timeout)
        assert msg.type == aiohttp.WSMsgType.TEXT, (msg.type, msg.data, msg.extra)
        return msg.data if msg.data == "pong" else json.loads(msg.data)

    async def request(self, biz_type: int, **fields: Any) -> dict:
        self.n += 1
        req_id = f"q{self.n}"
        await self.send({"biz_type": biz_type, "req_id": req_id, **fields})
        reply = await self.recv()
        assert isinstance(reply, dict) and reply.get("req_id") == req_id, reply
        assert reply.get("biz_type") == biz_type, reply
        return reply

    async def ok(self, biz_type: int, **fields: Any) -> Any:
        reply = await self.request(biz_type, **fields)
        assert reply["code"] == "200", reply
        return reply["data"]

    async def ping(self) -> None:
        await self.send("ping")
        assert await self.recv() == "pong"

    async def close(self) -> None:
        await self.ws.close()


async def raw_handshake(port: int, target: str, timeout: float = TIMEOUT) -> tuple[int, dict, bytes]:
    """Send a WebSocket upgrade for ``target`` (path + query) and read the whole answer."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
    try:
        writer.write((f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
        body = b""
        if "content-length" in headers:
            body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), timeout)
        return status, headers, body
    finally:
        writer.close()


# --- products ----------------------------------------------------------------------------
def make_product(server: Any, name: str, funds: dict[str, str] | None = None,
                 permissions: str = "read,trade") -> Rest:
    """Create ``name`` with a key, fund it on TEST spot, return a REST client for it."""
    server.admin("create_product", name=name)
    cred = server.admin("create_key", product=name, permissions=permissions)
    for currency, amount in (funds or {}).items():
        server.admin("deposit", product=name, currency=currency, amount=amount)
        server.admin("transfer", product=name, currency=currency, amount=amount, from_type=2,
                     to_type=3, exchange="TEST")
    return Rest(server.http_url, cred["api_key"], cred["secret"])


def add_key(server: Any, product: str, permissions: str) -> Rest:
    cred = server.admin("create_key", product=product, permissions=permissions)
    return Rest(server.http_url, cred["api_key"], cred["secret"])


def demo_rest(server: Any) -> Rest:
    d = server.demo()
    return Rest(server.http_url, d["api_key"], d["secret"])


# --- exact shapes -------------------------------------------------------------------------
def is_decimal(value: Any) -> bool:
    return isinstance(value, str) and bool(DECIMAL_RE.match(value))


def check_wire_time(value: Any) -> None:
    assert isinstance(value, str) and TIME_RE.match(value), value
    stamp = datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=WIRE_TZ)
    assert abs((stamp - datetime.now(UTC)).total_seconds()) < 600, value


def check_envelope(env: Any, *, biz_type: int | None = None, req_id: str | None = None) -> None:
    keys = set(ENVELOPE_KEYS)
    if biz_type is not None:
        keys.add("biz_type")
        assert env["biz_type"] == biz_type and type(env["biz_type"]) is int
    if req_id is not None:
        keys.add("req_id")
        assert env["req_id"] == req_id
    assert set(env) == keys, env
    assert isinstance(env["code"], str) and isinstance(env["message"], str)
    if env["code"] == "200":
        assert env["message"] == "SUCESS"
    else:
        assert env["data"] is None and env["message"]


def check_place_reply(data: Any) -> None:
    assert set(data) == PLACE_KEYS, data
    assert isinstance(data["client_oid"], str) and ID_RE.match(data["system_oid"]), data


def check_order(o: Any) -> None:
    assert set(o) == ORDER_KEYS, sorted(set(o) ^ ORDER_KEYS)
    assert ID_RE.match(o["system_oid"]), o
    for k in ("client_oid", "contract", "future_dir"):
        assert isinstance(o[k], str), (k, o)
    assert o["entrust_bs"] in ("buy", "sell")
    for k in ("entrust_price", "entrust_amount", "average_dealt_price", "dealt_amount", "lever",
              "profit_value", "stop_value", "commission"):
        assert is_decimal(o[k]), (k, o[k])
    assert type(o["status"]) is int and o["status"] in (1, 2, 3, 4, 5, 6, 11, 12, 13, 14, 15)
    check_wire_time(o["entrust_time"])


def check_spot_order(o: Any) -> None:
    check_order(o)
    assert (o["future_dir"], o["lever"], o["profit_value"], o["stop_value"]) == ("", "1", "0", "0"), o


def check_fill(f: Any) -> None:
    assert set(f) == FILL_KEYS, sorted(set(f) ^ FILL_KEYS)
    assert ID_RE.match(f["system_oid"]) and ID_RE.match(f["system_tid"]), f
    assert f["entrust_bs"] in ("buy", "sell")
    for k in ("dealt_amount", "dealt_price", "commission"):
        assert is_decimal(f[k]), (k, f[k])
    for k in ("client_oid", "contract", "future_dir", "commission_currency"):
        assert isinstance(f[k], str)
    check_wire_time(f["dealt_time"])


def check_account_row(r: Any) -> None:
    expected = ACCOUNT_KEYS | ({"exchange"} if r.get("account_type") in (3, 4) else set())
    assert set(r) == expected, r
    assert type(r["account_type"]) is int and r["account_type"] in (1, 2, 3, 4)
    assert isinstance(r["currency"], str)
    for k in ("balance", "frozen", "market_value"):
        assert is_decimal(r[k]), (k, r)
    if "exchange" in r:
        assert isinstance(r["exchange"], str) and r["exchange"]


def check_pair(p: Any) -> None:
    assert set(p) == PAIR_KEYS, p
    assert isinstance(p["kind"], str) and p["kind"].isdigit(), p
    for k in ("tick_size", "volume_increment", "min_price", "min_volume", "min_change"):
        assert is_decimal(p[k]), (k, p)
    assert p["min_change"] == p["tick_size"]


def wire(d: Any) -> str:
    """A Decimal in the wire's plain notation, trailing zeros stripped (API.md section 1)."""
    text = format(d, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def new_spot_product(server: Any, name: str, spot: dict[str, str], exchange: str = "TEST") -> Any:
    """A product funded on the spot account, with a read+trade key; returns its RestClient
    (raising on error codes)."""
    from ceres.client import RestClient

    server.admin("create_product", name=name)
    cred = server.admin("create_key", product=name, permissions="read,trade")
    for currency, amount in spot.items():
        server.admin("deposit", product=name, currency=currency, amount=amount)
        server.admin("transfer", product=name, currency=currency, amount=amount, from_type=2, to_type=3,
                     exchange=exchange)
    return RestClient(server.http_url, cred["api_key"], cred["secret"], raise_for_code=True)
