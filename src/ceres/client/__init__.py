"""Python SDK for the CoinCeres protocol as Ceres speaks it (API.md).

* :class:`RestClient` (sync, stdlib ``urllib``): signed REST calls;
* :class:`AsyncRestClient` (aiohttp);
* :class:`TradeSocket` (aiohttp): the biz_type WebSocket with ``req_id`` matching.

Besides the 2019 operations, the clients name the issue-13 extensions (API.md 4.12-4.16,
biz_type 21-25): ``batch_place``, ``batch_cancel``, ``cancel_all``, ``cancel_all_after``
(the dead-man's switch) and ``amend``; ``place`` takes ``time_in_force``, ``post_only`` and
``stp`` like any other field; ``TradeSocket.connect(..., cancel_on_disconnect=True)`` asks
the server to cancel the orders placed through the socket when it closes.

All return the decoded envelope (``{"code","data","message"}``); ``raise_for_code=True``
turns an error code into :class:`ApiError`. Signing follows API.md section 2 exactly.

``timestamp=True`` signs a fresh ``timestamp`` into every request and handshake (needed
for keys that require it, and by servers with the strict profile; a captured request
then expires after the server's window). For a server with TLS, give ``https://`` /
``wss://`` URLs; :func:`tls_context` builds a context that trusts a given CA file (e.g.
a self-signed certificate): ``RestClient(..., ssl_context=ctx)``, and for aiohttp
``TradeSocket.connect(..., ssl=ctx)`` or ``session.request(..., ssl=ctx)``.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["ApiError", "AsyncRestClient", "RestClient", "TradeSocket", "handshake_query", "id_list", "now_ms",
           "rest_sign", "tls_context", "ws_sign"]


class ApiError(Exception):
    def __init__(self, code: str, message: str, status: int = 200) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message
        self.status = status


def _text(value: Any) -> str | None:
    """How a parameter's value is written in the string to sign (API.md 2.1): booleans as
    ``true``/``false``; an array or object (a batch's ``orders``) as its compact JSON text,
    no spaces, keys in the order given, non-ASCII characters as themselves (the text the
    server re-encodes from the body it received); anything else as ``str``."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def rest_sign(params: dict[str, Any], secret: str) -> str:
    """sha256 hex of ``k=v&...&secret=SECRET`` over non-empty params sorted by key (an array
    or object value as its compact JSON text)."""
    pairs = sorted((k, _text(v)) for k, v in params.items() if _text(v) not in (None, ""))
    head = "&".join(f"{k}={v}" for k, v in pairs)
    payload = f"{head}&secret={secret}" if head else f"secret={secret}"
    return hashlib.sha256(payload.encode()).hexdigest()


def ws_sign(api_key: str, secret: str, timestamp: str | None = None) -> str:
    """Handshake sign: sha256 hex of ``api_key=K&secret=S``, or ``api_key=K&timestamp=T&secret=S``."""
    stamp = "" if timestamp is None else f"&timestamp={timestamp}"
    return hashlib.sha256(f"api_key={api_key}{stamp}&secret={secret}".encode()).hexdigest()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def handshake_query(api_key: str, secret: str, *, timestamp: bool = False,
                    cancel_on_disconnect: bool = False) -> str:
    """The query of a 19001/19003 handshake URL (with a fresh signed timestamp if asked).
    ``cancel_on_disconnect`` (19001 only) appends ``&cancel_on_disconnect=1``, which is
    not signed: the sign covers ``api_key`` (and ``timestamp``) only."""
    if not timestamp:
        query = f"api_key={api_key}&sign={ws_sign(api_key, secret)}"
    else:
        ts = str(now_ms())
        query = f"api_key={api_key}&timestamp={ts}&sign={ws_sign(api_key, secret, ts)}"
    return f"{query}&cancel_on_disconnect=1" if cancel_on_disconnect else query


def tls_context(cafile: str | None = None) -> ssl.SSLContext:
    """A client context verifying the server against ``cafile`` (None: the system's CAs)."""
    return ssl.create_default_context(cafile=cafile)


def id_list(ids: str | int | Iterable[str | int]) -> str:
    """Order ids as the wire's comma-separated list (a string is taken as it is)."""
    if isinstance(ids, (str, int)):
        return str(ids)
    return ",".join(str(i) for i in ids)


def _batch_orders(orders: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The ``orders`` of a batch: each item a place request, fields that are None left out
    (so the body and the sign agree without them)."""
    return [{k: v for k, v in order.items() if v is not None} for order in orders]


def _amend_fields(system_oid: str | int, price: Any, vol: Any) -> dict[str, Any]:
    if price is None and vol is None:
        raise ValueError("amend needs a new price, a new volume, or both")
    return {"system_oid": str(system_oid), "entrust_price": price, "entrust_vol": vol}


def _stamped(params: dict[str, Any], timestamp: bool) -> dict[str, Any]:
    return {**params, "timestamp": str(now_ms())} if timestamp and params.get("timestamp") is None else params


def _request_parts(method: str, path: str, params: dict[str, Any]) -> tuple[str, dict[str, Any], bytes | None]:
    """URL suffix, params to sign, body for one call."""
    params = {k: v for k, v in params.items() if v is not None}
    if method == "POST":
        return path, params, json.dumps(params).encode()
    if method == "DELETE" and "system_oid" in params and path.endswith("trade/order"):
        ids = params.pop("system_oid")
        suffix = f"{path}/{urllib.parse.quote(str(ids), safe=',')}"
        query = urllib.parse.urlencode({k: _text(v) for k, v in params.items()})  # e.g. timestamp
        return (f"{suffix}?{query}" if query else suffix), {"system_oid": ids, **params}, None
    # query values as they are signed (booleans as true/false, not Python's True/False)
    query = urllib.parse.urlencode({k: _text(v) for k, v in params.items()})
    return (f"{path}?{query}" if query else path), params, None


class RestClient:
    def __init__(self, base_url: str, api_key: str = "", secret: str = "", *,
                 raise_for_code: bool = False, timeout: float = 10.0, timestamp: bool = False,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.base = base_url.rstrip("/") + "/api/v1/"
        self.api_key = api_key
        self.secret = secret
        self.raise_for_code = raise_for_code
        self.timeout = timeout
        self.timestamp = timestamp
        self.ssl_context = ssl_context

    def call(self, method: str, path: str, **params: Any) -> dict[str, Any]:
        suffix, signed, body = _request_parts(method, path, _stamped(params, self.timestamp))
        headers = {"api_key": self.api_key, "sign": rest_sign(signed, self.secret),
                   "Content-Type": "application/json"}
        req = urllib.request.Request(self.base + suffix, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout, context=self.ssl_context) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        reply = json.loads(raw) if raw else {}
        if self.raise_for_code and reply.get("code") != "200":
            raise ApiError(reply.get("code", str(status)), reply.get("message", ""), status)
        reply["_status"] = status
        return reply

    # conveniences named after the operations
    def pairs(self, exchange: str = "TEST", **kw: Any) -> dict[str, Any]:
        return self.call("GET", "basic/contracts", exchange=exchange, **kw)

    def account(self, **kw: Any) -> dict[str, Any]:
        return self.call("GET", "trade/account", **kw)

    def place(self, **kw: Any) -> dict[str, Any]:
        return self.call("POST", "trade/input", **kw)

    def close(self, **kw: Any) -> dict[str, Any]:
        return self.call("POST", "trade/close", **kw)

    def cancel(self, system_oid: str) -> dict[str, Any]:
        return self.call("DELETE", "trade/order", system_oid=system_oid)

    def orders(self, **kw: Any) -> dict[str, Any]:
        return self.call("GET", "trade/order", **kw)

    def open_orders(self, **kw: Any) -> dict[str, Any]:
        return self.call("GET", "trade/open_orders", **kw)

    def positions(self, **kw: Any) -> dict[str, Any]:
        return self.call("GET", "trade/position", **kw)

    def fills(self, exchange: str, contract: str, count: int) -> dict[str, Any]:
        return self.call("GET", "trade/trans", exchange=exchange, contract=contract, count=count)

    # issue 13 (API.md 4.12-4.16)
    def batch_place(self, orders: Iterable[Mapping[str, Any]], **kw: Any) -> dict[str, Any]:
        """Up to 20 placements in one request; ``data`` has one result per item, in order."""
        return self.call("POST", "trade/batch_input", orders=_batch_orders(orders), **kw)

    def batch_cancel(self, ids: str | int | Iterable[str | int], **kw: Any) -> dict[str, Any]:
        """Cancel up to 100 orders; ``data`` has one result per id, in order."""
        return self.call("DELETE", "trade/batch_order", system_oid=id_list(ids), **kw)

    def cancel_all(self, **filters: Any) -> dict[str, Any]:
        """Cancel every open order of the product (``exchange``, ``contract``, ``entrust_bs``
        narrow it); ``data`` lists the cancelled ids."""
        return self.call("POST", "trade/cancel_all", **filters)

    def cancel_all_after(self, timeout_ms: int, exchange: str | None = None, **kw: Any) -> dict[str, Any]:
        """The dead-man's switch: cancel all open orders (of ``exchange``) unless called again
        within ``timeout_ms`` (1000..86400000); 0 disarms it."""
        return self.call("POST", "trade/cancel_all_after", timeout_ms=int(timeout_ms), exchange=exchange, **kw)

    def amend(self, system_oid: str | int, price: Any = None, vol: Any = None, **kw: Any) -> dict[str, Any]:
        """New ``entrust_price`` and/or ``entrust_vol`` (the new total volume) of a resting
        limit order; ``data`` is the order object."""
        return self.call("POST", "trade/amend", **_amend_fields(system_oid, price, vol), **kw)


class AsyncRestClient:
    def __init__(self, session: Any, base_url: str, api_key: str = "", secret: str = "", *,
                 timestamp: bool = False) -> None:
        self.session = session
        self.base = base_url.rstrip("/") + "/api/v1/"
        self.api_key = api_key
        self.secret = secret
        self.timestamp = timestamp

    async def call(self, method: str, path: str, **params: Any) -> dict[str, Any]:
        suffix, signed, body = _request_parts(method, path, _stamped(params, self.timestamp))
        headers = {"api_key": self.api_key, "sign": rest_sign(signed, self.secret),
                   "Content-Type": "application/json"}
        async with self.session.request(method, self.base + suffix, data=body, headers=headers) as resp:
            reply: dict[str, Any] = await resp.json(content_type=None)
            reply["_status"] = resp.status
            return reply

    async def place(self, **kw: Any) -> dict[str, Any]:
        return await self.call("POST", "trade/input", **kw)

    async def batch_place(self, orders: Iterable[Mapping[str, Any]], **kw: Any) -> dict[str, Any]:
        return await self.call("POST", "trade/batch_input", orders=_batch_orders(orders), **kw)

    async def batch_cancel(self, ids: str | int | Iterable[str | int], **kw: Any) -> dict[str, Any]:
        return await self.call("DELETE", "trade/batch_order", system_oid=id_list(ids), **kw)

    async def cancel_all(self, **filters: Any) -> dict[str, Any]:
        return await self.call("POST", "trade/cancel_all", **filters)

    async def cancel_all_after(self, timeout_ms: int, exchange: str | None = None, **kw: Any) -> dict[str, Any]:
        return await self.call("POST", "trade/cancel_all_after", timeout_ms=int(timeout_ms), exchange=exchange, **kw)

    async def amend(self, system_oid: str | int, price: Any = None, vol: Any = None, **kw: Any) -> dict[str, Any]:
        return await self.call("POST", "trade/amend", **_amend_fields(system_oid, price, vol), **kw)


class TradeSocket:
    """The biz_type socket. ``request`` tags each message with a ``req_id`` and waits for
    the reply carrying it; ``send_raw``/``recv`` give raw access for tests."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self._ids = itertools.count(1)
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._reader: asyncio.Task[None] | None = None
        self.unmatched: asyncio.Queue[Any] = asyncio.Queue()

    @classmethod
    async def connect(cls, session: Any, url: str, api_key: str, secret: str, *, timestamp: bool = False,
                      ssl: Any = True, cancel_on_disconnect: bool = False) -> TradeSocket:
        """``timestamp``: a handshake URL that expires (required for some keys); ``ssl``:
        aiohttp's (an ``ssl.SSLContext`` for ``wss://`` with a private CA);
        ``cancel_on_disconnect``: when this connection closes, for any reason, the server
        cancels every order placed through it that is still open (API.md section 5)."""
        query = handshake_query(api_key, secret, timestamp=timestamp, cancel_on_disconnect=cancel_on_disconnect)
        ws = await session.ws_connect(f"{url}?{query}", ssl=ssl)
        sock = cls(ws)
        sock._reader = asyncio.ensure_future(sock._read())
        return sock

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type.name != "TEXT":
                continue
            if msg.data == "pong":
                await self.unmatched.put(msg.data)
                continue
            reply = json.loads(msg.data)
            fut = self._waiting.pop(str(reply.get("req_id")), None)
            if fut is not None and not fut.done():
                fut.set_result(reply)
            else:
                await self.unmatched.put(reply)
        for fut in self._waiting.values():
            if not fut.done():
                fut.set_exception(ConnectionError("socket closed"))

    async def request(self, biz_type: int, **fields: Any) -> dict[str, Any]:
        req_id = f"r{next(self._ids)}"
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[req_id] = fut
        await self.ws.send_str(json.dumps({"biz_type": biz_type, "req_id": req_id, **fields}))
        return await fut

    # conveniences named after the operations (biz_type 11 and the issue-13 ones, 21-25)
    async def place(self, **fields: Any) -> dict[str, Any]:
        return await self.request(11, **fields)

    async def batch_place(self, orders: Iterable[Mapping[str, Any]], **fields: Any) -> dict[str, Any]:
        return await self.request(21, orders=_batch_orders(orders), **fields)

    async def batch_cancel(self, ids: str | int | Iterable[str | int], **fields: Any) -> dict[str, Any]:
        return await self.request(22, system_oid=id_list(ids), **fields)

    async def cancel_all(self, **filters: Any) -> dict[str, Any]:
        return await self.request(23, **{k: v for k, v in filters.items() if v is not None})

    async def cancel_all_after(self, timeout_ms: int, exchange: str | None = None, **fields: Any) -> dict[str, Any]:
        extra = {} if exchange is None else {"exchange": exchange}
        return await self.request(24, timeout_ms=int(timeout_ms), **extra, **fields)

    async def amend(self, system_oid: str | int, price: Any = None, vol: Any = None, **fields: Any) -> dict[str, Any]:
        amended = {k: v for k, v in _amend_fields(system_oid, price, vol).items() if v is not None}
        return await self.request(25, **amended, **fields)

    async def send_raw(self, text: str) -> None:
        await self.ws.send_str(text)

    async def recv(self, timeout: float = 5.0) -> Any:
        return await asyncio.wait_for(self.unmatched.get(), timeout)

    async def close(self) -> None:
        await self.ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
