"""Streams of a live venue through Ceres (issue 11, items 5 and 8): a real server with BINANCE
(or OKEX) pointed at the fake Binance (or OKX) on loopback for REST (``rest_url``) and streams
(``ws_url``).

* A product's private stream (ccxt.pro ``watch_my_trades`` / ``watch_orders``) brings fills
  without a REST poll once it is up; while the stream is down the desk polls, so a fill made
  meanwhile is found by reconciliation; the stream comes back by itself.
* 18003 topics on the venue (tick, trade, depth10 from its streams; candles from
  ``fetch_ohlcv``) push in TEST's shapes, start with the first subscriber and stop after the
  last; the same with REST polling when only ``rest_url`` is set.
* Market REST ``trade`` and ``candle`` answer from the venue with the range rules.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from typing import Any

import aiohttp
import pytest

from tests.fakevenue.runner import FakeVenueThread
from tests.serverproc import ServerProcess

from .api_helpers import demo_rest
from .test_live_orders import at_venue, order, place, until
from .test_live_orders import start as start_venue

DEADLINE_S = 20


# fake kind -> (exchange, the REST paths of the product's trade list)
VENUES = {"binance": ("BINANCE", ("/api/v3/myTrades",)),
          "okx": ("OKEX", ("/api/v5/trade/fills", "/api/v5/trade/fills-history"))}


def start(tmp_path, *, streams: bool, kind: str = "binance") -> tuple[ServerProcess, FakeVenueThread, str]:
    return start_venue(tmp_path, kind, streams=streams)


@pytest.fixture
def streaming(tmp_path):
    srv, fake, key = start(tmp_path, streams=True)
    yield srv, fake, key
    srv.stop()
    fake.stop()


@pytest.fixture(params=sorted(VENUES))
def streaming_venue(request, tmp_path):
    srv, fake, key = start(tmp_path, streams=True, kind=request.param)
    yield srv, fake, key, request.param
    srv.stop()
    fake.stop()


@pytest.fixture(params=[("binance", "streams"), ("binance", "polling"), ("okx", "streams")], ids="-".join)
def market_venue(request, tmp_path):
    kind, mode = request.param
    srv, fake, key = start(tmp_path, streams=mode == "streams", kind=kind)
    yield srv, fake, key, mode
    srv.stop()
    fake.stop()


def get_json(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def venue_health(srv: ServerProcess, exchange: str = "BINANCE") -> dict[str, Any]:
    return get_json(srv.http_url + "/health")[1]["venues"][exchange]


def wait_for(check: Any, what: str, seconds: float = DEADLINE_S) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not reached in {seconds} s: {what}")


def my_trades_polls(fake: FakeVenueThread) -> int:
    paths = VENUES[fake.handle.venue.kind][1]
    return sum(r["path"] in paths for r in asyncio.run(fake.control.requests()))


def test_fills_come_by_the_stream_and_by_reconciliation_while_it_is_down(streaming_venue):
    srv, fake, key, kind = streaming_venue
    exchange = VENUES[kind][0]

    def venue_health(srv: ServerProcess) -> dict[str, Any]:
        return get_json(srv.http_url + "/health")[1]["venues"][exchange]

    oid = place(srv, vol="0.003", price="30000", exchange=exchange)
    until(srv, oid, 3)
    venue_id = at_venue(fake, key, oid)[0]["id"]
    wait_for(lambda: venue_health(srv)["streams_up"] == 1, "the product's stream is up")
    time.sleep(0.8)  # the reconciling poll that follows the stream coming up
    asyncio.run(fake.control.clear_requests())

    asyncio.run(fake.control.fill(venue_id, "0.001"))
    found = until(srv, oid, 4, seconds=5)
    assert found["dealt_amount"] == "0.001", found
    assert my_trades_polls(fake) == 0  # the stream brought it: no REST poll since

    asyncio.run(fake.control.ws_down())
    wait_for(lambda: venue_health(srv)["streams_down"] == 1, "Ceres sees the stream down")
    asyncio.run(fake.control.fill(venue_id, "0.001"))  # made while the stream is down
    wait_for(lambda: order(srv, oid)["dealt_amount"] == "0.002", "the fill found by polling")
    assert my_trades_polls(fake) >= 1
    health = venue_health(srv)
    assert health["stream_failures"] >= 1 and health["streams_up"] == 0, health

    asyncio.run(fake.control.ws_up())
    wait_for(lambda: venue_health(srv)["streams_up"] == 1, "the stream is back by itself")
    time.sleep(0.8)
    asyncio.run(fake.control.clear_requests())
    asyncio.run(fake.control.fill(venue_id))  # the rest
    found = until(srv, oid, 5, seconds=5)
    assert (found["dealt_amount"], my_trades_polls(fake)) == ("0.003", 0), found
    fills = demo_rest(srv).call("GET", "trade/trans", {"exchange": exchange, "contract": "BTC/USDT",
                                                       "count": 10})[1]["data"]
    mine = [f for f in fills if f["system_oid"] == oid]
    assert [f["dealt_amount"] for f in mine] == ["0.001"] * 3, fills  # each once
    # the fee as the venue charged it (0.1% of what a buy receives), by stream or by poll alike
    assert {(f["commission"], f["commission_currency"]) for f in mine} == {("0.000001", "BTC")}, mine
    def metrics() -> str:
        with urllib.request.urlopen(srv.http_url + "/metrics", timeout=10) as resp:
            return resp.read().decode()  # type: ignore[no-any-return]

    wait_for(lambda: f'ceres_venue_streams_up{{venue="{exchange}"}} 0' in metrics(), "no open order: stream stopped")
    assert f'ceres_venue_stream_failures_total{{venue="{exchange}"}}' in metrics()


class Inbox:
    """One 18003 connection's messages, kept in order: ``next`` takes the first matching one,
    however many others came before it."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.kept: list[Any] = []

    async def next(self, want: Any) -> Any:
        async with asyncio.timeout(DEADLINE_S):
            while True:
                for i, message in enumerate(self.kept):
                    if want(message):
                        return self.kept.pop(i)
                self.kept.append(await self.ws.receive_json())

    async def push(self, msg_type: str, check: Any = lambda m: True) -> dict[str, Any]:
        return await self.next(  # type: ignore[no-any-return]
            lambda m: isinstance(m, dict) and m.get("msg_type") == msg_type and check(m))

    async def acks(self) -> list[dict[str, Any]]:
        return await self.next(lambda m: isinstance(m, list))  # type: ignore[no-any-return]


async def _subscribe(session: aiohttp.ClientSession, srv: ServerProcess, topics: list[dict[str, Any]]) -> Inbox:
    inbox = Inbox(await session.ws_connect(srv.ws_url("market_ws")))
    await inbox.next(lambda m: isinstance(m, dict) and "info" in m)  # the greeting
    await inbox.ws.send_json(topics)
    acks = await inbox.acks()
    assert [a["code"] for a in acks] == [200] * len(topics), acks
    return inbox


SYMBOL_AT = {"binance": "BTCUSDT", "okx": "BTC-USDT"}  # the venue's own id of BTC/USDT


def test_market_topics_on_18003(market_venue):
    srv, fake, _, mode = market_venue
    c = fake.control
    kind = fake.handle.venue.kind
    exchange, symbol = VENUES[kind][0], SYMBOL_AT[kind]
    asyncio.run(c.set_book(symbol, bids=[("29990", "1.5"), ("29980", "2")], asks=[("30010", "0.7")]))
    asyncio.run(c.public_trade(symbol, "30000", "0.25", "buy"))

    async def run() -> None:
        topic = {"exchange": exchange, "contract": "BTC/USDT", "duration": None}
        async with aiohttp.ClientSession() as session:
            ws = await _subscribe(session, srv, [{"msg_type": f"subscribe-{k}", **topic}
                                                 for k in ("tick", "trade", "depth10")]
                                  + [{"msg_type": "subscribe-candle", **topic, "duration": "1m"}])
            depth = await ws.push("push-depth10")
            assert depth == {"msg_type": "push-depth10", "exchange": exchange, "contract": "BTC/USDT",
                             "asks": [{"price": "30010", "volume": "0.7"}],
                             "bids": [{"price": "29990", "volume": "1.5"}, {"price": "29980", "volume": "2"}]}
            tick = await ws.push("push-tick")
            assert (tick["last"], tick["volume"], tick["change"], tick["change_rate"]) == ("30000", "0.25", "0", "0")
            candle = await ws.push("push-candle")
            assert (candle["duration"], candle["close"], candle["volume"]) == ("1m", "30000", "0.25"), candle
            if mode == "streams":  # the venue's public streams (Binance: over sockets /ws/N; OKX: /ws/v5/public)
                async with asyncio.timeout(DEADLINE_S):  # each watcher subscribes after its first REST round
                    while True:
                        subscribed = (await asyncio.to_thread(asyncio.run, c.ws_state()))["subscriptions"]
                        if sum(subscribed.values()) >= 3:
                            break
                        await asyncio.sleep(0.1)  # another process's state: polled
                assert all(p.startswith("/ws/") for p in subscribed) and sum(subscribed.values()) == 3, subscribed
            else:
                assert (await asyncio.to_thread(asyncio.run, c.ws_state()))["open"] == 0
            await asyncio.sleep(0.8 if mode == "polling" else 0.3)  # the poll's first round is history

            await asyncio.to_thread(asyncio.run, c.public_trade(symbol, "30300", "0.1", "sell"))
            trade = await ws.push("push-trade")
            assert {k: trade[k] for k in ("exchange", "contract", "price", "volume", "side")} == {
                "exchange": exchange, "contract": "BTC/USDT", "price": "30300", "volume": "0.1", "side": "s"}
            tick = await ws.push("push-tick", lambda m: m["last"] == "30300")
            assert (tick["open"], tick["high"], tick["change"], tick["change_rate"]) == ("30000", "30300", "300",
                                                                                         "0.01"), tick
            await asyncio.to_thread(asyncio.run, c.set_book(symbol, bids=[("29995", "1")], asks=[]))
            depth = await ws.push("push-depth10", lambda m: m["bids"][0]["price"] == "29995")
            assert depth["asks"] == [] and len(depth["bids"]) == 1

            # a second subscriber to a running topic gets its last state at once
            ws2 = await _subscribe(session, srv, [{"msg_type": "subscribe-depth10", **topic}])
            assert (await ws2.push("push-depth10"))["bids"] == [{"price": "29995", "volume": "1"}]
            await ws2.ws.close()
            await ws.ws.send_json([{"msg_type": "unsubscribe-trade", **topic}])
            assert [(a["msg_type"], a["code"]) for a in await ws.acks()] == [("unsubscribed-trade", 200)]
            await ws.ws.close()

    asyncio.run(run())
    # the last subscriber gone: the venue's watchers stop, and their sockets close
    wait_for(lambda: asyncio.run(c.ws_state())["open"] == 0, "no socket left at the venue")


def test_unknown_contract_on_18003_is_a_400_ack(streaming):
    srv, _, _ = streaming

    async def run() -> list[dict[str, Any]]:
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(srv.ws_url("market_ws"))
            await ws.receive_json()
            await ws.send_json([{"msg_type": "subscribe-tick", "exchange": "BINANCE", "contract": "NOPE/USDT"}])
            acks = await ws.receive_json()
            await ws.close()
            return acks  # type: ignore[no-any-return]

    [ack] = asyncio.run(run())
    assert (ack["msg_type"], ack["code"]) == ("subscribed-tick", 400) and "NOPE/USDT" in ack["message"], ack


def test_market_rest_trades_and_candles_from_the_venue(streaming):
    srv, fake, _ = streaming
    base = 1_800_000_000_000 - 1_800_000_000_000 % 60_000  # a minute boundary
    for i, (price, qty) in enumerate([("30000", "0.1"), ("30100", "0.2"), ("29900", "0.3"), ("30050", "0.4")]):
        asyncio.run(fake.control.public_trade("BTCUSDT", price, qty, "buy" if i % 2 else "sell",
                                              time=base + i * 30_000))  # two per minute

    def market(path: str, **params: Any) -> tuple[int, Any]:
        query = "&".join(f"{k}={v}" for k, v in params.items())
        return get_json(f"{srv.http_url}/api/v1/market/{path}?exchange=BINANCE&contract=BTC/USDT&{query}")

    status, trades = market("trade", begin=base + 30_000, end=base + 60_000)
    assert status == 200 and trades == {"exchange": "BINANCE", "contract": "BTC/USDT", "detail": [
        {"time": str(base + 30_000), "price": "30100", "volume": "0.2", "side": "b"},
        {"time": str(base + 60_000), "price": "29900", "volume": "0.3", "side": "s"}]}, trades
    assert [t["price"] for t in market("trade", begin=base, size=3)[1]["detail"]] == ["30000", "30100", "29900"]
    assert [t["price"] for t in market("trade", size=2)[1]["detail"]] == ["29900", "30050"]

    status, candles = market("candle", duration="1m", begin=base, end=base + 60_000)
    assert status == 200 and candles["detail"] == [
        {"time": str(base), "open": "30000", "high": "30100", "low": "30000", "close": "30100", "volume": "0.3"},
        {"time": str(base + 60_000), "open": "29900", "high": "30050", "low": "29900", "close": "30050",
         "volume": "0.7"}], candles
    assert [b["time"] for b in market("candle", duration="1m", end=base + 60_000, size=1)[1]["detail"]] == [
        str(base + 60_000)]
    status, bad = market("candle", duration="2m", size=1)
    assert status == 400 and "duration" in bad["message"], bad
