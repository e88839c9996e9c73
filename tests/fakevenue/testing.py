"""Test helpers: a fake venue with one funded account and a ccxt exchange pointed at it."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import ccxt.async_support as ccxt
import pytest

from ceres.venues.live.factory import make_exchange
from tests.fakevenue.runner import FakeVenueHandle, start_fake_venue

VENUE_OF = {"binance": "BINANCE", "okx": "OKEX", "htx": "HUOBI", "bitfinex": "BITFINEX"}
TEST_SECONDS = 20  # every scenario is cancelled after this


class StaticBook:
    """A venue's public order book as ccxt's ``fetch_order_book`` returns it, set by the test:
    ``asks``/``bids`` as (price, amount) strings; ``read`` is the paper desk's book reader."""

    def __init__(self) -> None:
        self.asks: list[tuple[str, str]] = []
        self.bids: list[tuple[str, str]] = []

    async def read(self, symbol: str, limit: int) -> dict[str, Any]:
        return {"asks": [list(a) for a in self.asks], "bids": [list(b) for b in self.bids]}


@dataclass
class Session:
    fake: FakeVenueHandle
    exchange: Any
    key: str
    secret: str
    passphrase: str
    urls: list[str]  # every URL the exchange fetched, in order

    def exchange_with(self, **overrides: Any) -> Any:
        """Another exchange on the same fake (e.g. with a wrong secret); closed by the caller."""
        creds: dict[str, Any] = {"api_key": self.key, "secret": self.secret, "rest_url": self.fake.url,
                                 "timeout_ms": 2000}
        if self.passphrase:
            creds["password"] = self.passphrase
        return make_exchange(VENUE_OF[self.fake.venue.kind], **(creds | overrides))

    async def paths_seen(self, method: str | None = None) -> list[str]:
        return [r["path"] for r in await self.fake.control.requests() if method in (None, r["method"])]


def record_urls(exchange: Any) -> list[str]:
    """Wrap ``exchange.fetch`` (the last step before the socket) to keep every URL it is asked for."""
    urls: list[str] = []
    fetch = exchange.fetch

    async def recording_fetch(url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        urls.append(url)
        return await fetch(url, method, headers, body)

    exchange.fetch = recording_fetch
    return urls


@asynccontextmanager
async def venue_session(kind: str, balances: dict[str, str], *, timeout_ms: int = 2000,
                        load_markets: bool = True, streams: bool = False) -> AsyncIterator[Session]:
    """Start a fake ``kind`` venue with one account holding ``balances`` and a ccxt exchange on it
    (with ``streams``: the ccxt.pro class, its websockets on the fake's port)."""
    async with asyncio.timeout(TEST_SECONDS), await start_fake_venue(kind) as fake:
        key, secret = secrets.token_hex(32), secrets.token_hex(32)
        passphrase = "Ceres-Pass1" if kind == "okx" else ""
        await fake.control.add_account(key, secret, passphrase, balances)
        session = Session(fake, None, key, secret, passphrase, [])
        session.exchange = session.exchange_with(timeout_ms=timeout_ms,
                                                 **({"streams": True, "ws_url": fake.ws_url} if streams else {}))
        session.urls = record_urls(session.exchange)
        try:
            if load_markets:
                await session.exchange.load_markets()
            yield session
        finally:
            await session.exchange.close()


# -- scenarios every venue must pass (the venue test modules call them with their kind) -------
SYMBOL = "BTC/USDT"
FUNDS = {"USDT": "1000", "BTC": "0.5"}
ORDER_PATH = {"binance": "/api/v3/order", "okx": "/api/v5/trade/order", "htx": "/v1/order/orders/place",
              "bitfinex": "/v2/auth/w/order/submit"}
API_PATHS = {"htx": ("/v1/", "/v2/", "/market/"), "bitfinex": ("/v2/",)}  # where REST paths start (default /api/)


async def place(s: Session, amount: str = "0.01", price: str = "30000", cid: str = "cer123") -> Any:
    return await s.exchange.create_order(SYMBOL, "limit", "buy", amount, price, {"clientOrderId": cid})


async def sent_orders(s: Session) -> list[dict[str, Any]]:
    """The placements the venue received, decoded (Binance: form body; OKX: JSON)."""
    bodies = [r["body"] for r in await s.fake.control.requests()
              if r["method"] == "POST" and r["path"] == ORDER_PATH[s.fake.venue.kind]]
    return [json.loads(body) if body.startswith("{") else dict(parse_qsl(body)) for body in bodies]


async def check_unknown_outcome(kind: str, mode: str) -> None:
    """A placement whose reply never arrives. ccxt raises RequestTimeout (``hang_*``) or
    ExchangeNotAvailable (``drop*``), sends it once (``maxRetriesOnFailure=0``), and the order is at the
    venue (found by our client id, exactly once) iff the venue applied it (``*_after``)."""
    applied = mode.endswith("_after")
    error = ccxt.RequestTimeout if mode.startswith("hang") else ccxt.ExchangeNotAvailable
    async with venue_session(kind, FUNDS, timeout_ms=400) as s:
        await s.fake.control.fail_next(ORDER_PATH[kind], mode, method="POST", seconds=1.5)
        with pytest.raises(ccxt.NetworkError) as raised:
            await place(s)
        assert type(raised.value) is error
        if applied:
            found = await s.exchange.fetch_order_with_client_order_id("cer123", SYMBOL)
            assert (found["clientOrderId"], found["status"]) == ("cer123", "open")
        else:
            with pytest.raises(ccxt.OrderNotFound):
                await s.exchange.fetch_order_with_client_order_id("cer123", SYMBOL)
        open_ids = [o["clientOrderId"] for o in await s.exchange.fetch_open_orders(SYMBOL)]
        assert open_ids == (["cer123"] if applied else [])
        assert len(await sent_orders(s)) == 1


async def check_duplicate_client_id(kind: str, message: str) -> None:
    """A second placement with the client id of an open order: ccxt raises InvalidOrder, *not*
    DuplicateOrderId, and the venue keeps one order."""
    async with venue_session(kind, FUNDS) as s:
        await place(s)
        with pytest.raises(ccxt.InvalidOrder, match=message) as raised:
            await place(s)
        assert not isinstance(raised.value, ccxt.DuplicateOrderId)
        assert len(await s.fake.control.orders()) == 1


async def check_only_loopback(kind: str) -> None:
    """Every URL ccxt fetched (recorded at ``exchange.fetch``) went to the fake, which logged the same
    list, and no venue host is left anywhere in ``urls["api"]``."""
    async with venue_session(kind, FUNDS) as s:
        placed = await place(s)
        await s.exchange.fetch_order(placed["id"], SYMBOL)
        await s.exchange.cancel_order(placed["id"], SYMBOL)
        await s.exchange.fetch_balance()
        prefixes = tuple(s.fake.url + path for path in API_PATHS.get(kind, ("/api/",)))
        assert len(s.urls) >= 5 and all(url.startswith(prefixes) for url in s.urls)
        assert [r["url"] for r in await s.fake.control.requests()] == s.urls
        api_urls = [u for u in json.dumps(s.exchange.urls["api"]).split('"') if "://" in u]
        assert api_urls and all(url.startswith(s.fake.url) for url in api_urls)


# -- waiting on ccxt.pro streams (the websocket fakes' tests) ------------------------------------
STREAM_WAIT = 3.0  # seconds any single stream update may take on loopback


async def until(condition: Callable[[], bool], seconds: float = STREAM_WAIT) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"still not {condition} after {seconds} s")
        await asyncio.sleep(0.01)


def client_waits(s: Session, message_hash: str) -> bool:
    return any(message_hash in client.futures for client in (s.exchange.clients or {}).values())


async def pending(s: Session, watch: Coroutine[Any, Any, Any], message_hash: str,
                  ready: Callable[[], bool] = lambda: True) -> asyncio.Future[Any]:
    """Start ``watch`` and return once ccxt waits for ``message_hash`` and ``ready()`` holds at the fake."""
    task = asyncio.ensure_future(watch)
    await until(lambda: task.done() or (client_waits(s, message_hash) and ready()))
    return task
