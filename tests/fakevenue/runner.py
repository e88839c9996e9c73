"""Start a fake venue on loopback: in this event loop, in a background thread, or as a process.

In-process (pytest-asyncio)::

    async with await start_fake_venue("binance") as fake:
        await fake.control.add_account(KEY, SECRET, balances={"USDT": "1000"})
        exchange = make_exchange("BINANCE", api_key=KEY, secret=SECRET, rest_url=fake.url)
        # streams (Binance, OKX): make_exchange(..., streams=True, ws_url=fake.ws_url)

From another process: ``python -m tests.fakevenue binance --port 0`` prints ``{"url": ...}``.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from aiohttp import web

from tests.fakevenue.binance_ws import BinanceWsVenue
from tests.fakevenue.bitfinex import BitfinexVenue
from tests.fakevenue.control_http import HttpControl
from tests.fakevenue.htx import HtxVenue
from tests.fakevenue.okx_ws import OkxWsVenue
from tests.fakevenue.server import FakeVenue

VENUES: dict[str, type[FakeVenue]] = {"binance": BinanceWsVenue, "okx": OkxWsVenue,  # each: REST + streams
                                     "htx": HtxVenue, "bitfinex": BitfinexVenue}  # REST only



def paper_venue(url: str) -> str:
    """A server's configuration of BINANCE in paper mode on a fake Binance's public data at ``url``."""
    return (f'[venues.BINANCE]\nenabled = true\nmode = "paper"\npaper_fee = "0.001"\nrest_url = "{url}"\n'
            f'poll_ms = 200\n')

class Control(HttpControl):
    """Drives a fake venue through its ``/_fake/`` HTTP API (works across processes)."""

    async def add_account(self, key: str, secret: str, passphrase: str = "",
                          balances: dict[str, str] | None = None) -> Any:
        return await self._call("POST", "accounts", {"key": key, "secret": secret, "passphrase": passphrase,
                                                     "balances": balances or {}})

    async def fill(self, order_id: int | str, qty: str | None = None, *, maker: bool = True) -> Any:
        return await self._call("POST", "fill", {"order_id": int(order_id), "qty": qty, "maker": maker})

    async def fail_next(self, path: str, mode: str = "error", *, count: int = 1, method: str | None = None,
                        status: int = 503, body: str = '{"error": "injected"}', seconds: float = 5.0) -> Any:
        return await self._call("POST", "fail_next", {"path": path, "mode": mode, "count": count, "method": method,
                                                      "status": status, "body": body, "seconds": seconds})

    async def requests(self) -> list[dict[str, Any]]:
        return await self._call("GET", "requests")  # type: ignore[no-any-return]

    async def clear_requests(self) -> None:
        await self._call("DELETE", "requests")

    async def orders(self, key: str | None = None) -> list[dict[str, Any]]:
        return await self._call("GET", "orders", **({"key": key} if key else {}))  # type: ignore[no-any-return]

    async def balances(self, key: str) -> dict[str, dict[str, str]]:
        return await self._call("GET", "balances", key=key)  # type: ignore[no-any-return]

    async def set_market(self, symbol: str, **filters: str) -> Any:
        return await self._call("POST", "markets", {"symbol": symbol, **filters})

    async def set_book(self, symbol: str, bids: list[tuple[str, str]] | None = None,
                       asks: list[tuple[str, str]] | None = None) -> Any:
        """Replace the synthetic levels of ``symbol`` (``[(price, qty), ...]``); returns the merged book."""
        return await self._call("POST", "book", {"symbol": symbol, "bids": bids or [], "asks": asks or []})

    async def public_trade(self, symbol: str, price: str, qty: str, side: str = "buy", *,
                           time: int | None = None) -> Any:
        """A trade between other participants (``side``: the taker's), now or at ``time`` (ms)."""
        return await self._call("POST", "trade", {"symbol": symbol, "price": price, "qty": qty, "side": side,
                                                  "time": time})

    async def ws_down(self) -> Any:
        """Abort every open websocket and refuse new ones (HTTP 503) until :meth:`ws_up`."""
        return await self._call("POST", "ws", {"down": True})

    async def ws_up(self) -> Any:
        return await self._call("POST", "ws", {"down": False})

    async def ws_state(self) -> dict[str, Any]:
        return await self._call("GET", "ws")  # type: ignore[no-any-return]

    async def ws_close_on_failed_login(self, close: bool = True) -> Any:
        """OKX: close a connection right after a failed login (default: it stays open)."""
        return await self._call("POST", "ws", {"close_on_failed_login": close})


class FakeVenueHandle:
    """A running fake venue: ``url``, ``ws_url`` (the same port), ``venue`` (its state, in-process
    only), ``control``, ``stop()``."""

    def __init__(self, venue: FakeVenue, runner: web.AppRunner, url: str) -> None:
        self.venue, self._runner, self.url = venue, runner, url
        self.ws_url = "ws" + url.removeprefix("http")
        self.control = Control(url)

    async def stop(self) -> None:
        await self._runner.cleanup()

    async def __aenter__(self) -> FakeVenueHandle:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


async def start_fake_venue(kind: str, *, host: str = "127.0.0.1", port: int = 0) -> FakeVenueHandle:
    """Serve a fresh fake ``kind`` venue (``binance`` or ``okx``) on ``host:port`` (0: any free port)."""
    venue = VENUES[kind]()
    # a short shutdown: handlers parked by hang_* faults are cancelled instead of awaited
    runner = web.AppRunner(venue.app(), shutdown_timeout=0.2, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound_host, bound_port = runner.addresses[0][:2]
    return FakeVenueHandle(venue, runner, f"http://{bound_host}:{bound_port}")


class FakeVenueThread:
    """The same server on its own event loop in a daemon thread, for synchronous callers."""

    def __init__(self, kind: str, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"fake-{kind}", daemon=True)
        self._thread.start()
        self.handle = asyncio.run_coroutine_threadsafe(start_fake_venue(kind, host=host, port=port),
                                                       self._loop).result(timeout=10)
        self.url, self.ws_url, self.control = self.handle.url, self.handle.ws_url, self.handle.control

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.handle.stop(), self._loop).result(timeout=10)
        asyncio.run_coroutine_threadsafe(_cancel_pending(), self._loop).result(timeout=10)  # hung handlers
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


async def _cancel_pending() -> None:
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
