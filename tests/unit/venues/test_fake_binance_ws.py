"""ccxt.pro ``binance`` (``make_exchange(streams=True, ws_url=...)``) against the fake Binance streams.

The websockets share the fake REST server's port (``tests/fakevenue/binance_ws.py``): the user data
stream of the WebSocket API (``watch_orders``, ``watch_my_trades``), the public market streams
(``watch_trades``, ``watch_ticker``, ``watch_order_book``), the public REST history ccxt reads
(``fetch_trades``, ``fetch_ohlcv``) and what ccxt does when the streams drop. What these tests pin
down about ccxt 4.5.90 itself:

- a ``watch_*`` call returns the *next* update after it is pending: an event that arrives before
  (e.g. the NEW of an order placed before ``watch_orders`` subscribed) is not returned later; so the
  tests wait until ccxt's client holds the future (and the fake the subscription) before acting. The
  REST reply of a placement can arrive before its NEW event. With ``newUpdates`` (the default) a
  call returns only what arrived since the previous call.
- a refused user data subscription (wrong secret, unknown key) surfaces as ``KeyError('spot')``,
  with the ``AuthenticationError`` only as its ``__context__``: ``handle_ws_error`` already deleted the
  ``spot`` flag that ``ensure_user_data_stream_ws_subscribe_signature``'s ``except`` deletes again.
  That KeyError also skips the rejection of ccxt's single-flight future, so every later
  ``watch_orders`` on that instance waits forever: throw the instance away.
- order books are floats even with ``number=str`` (``handle_delta`` uses ``safe_float``; the REST
  ``fetch_order_book`` too), unlike orders, trades, tickers and candles (strings).
- a dropped socket fails each pending watch at once with ``NetworkError`` ("Connection closed by
  remote server, closing code 1006"); ccxt does not reconnect or resubscribe by itself: the next
  ``watch_*`` call dials again (after a dial backoff of 0.2 s, 0.4 s, ... 30 s once a dial failed).
  A failed dial (HTTP 503) is a ``NetworkError`` too.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

import aiohttp
import ccxt.async_support as ccxt
import pytest
from tests.fakevenue.testing import FUNDS, SYMBOL, Session, pending, place, until, venue_session
from tests.fakevenue.testing import STREAM_WAIT as WAIT


def fake_streams(s: Session) -> set[str]:
    return {name for names in s.fake.venue.ws_state()["streams"].values() for name in names}


def user_subscriptions(s: Session) -> int:
    return int(s.fake.venue.ws_state()["subscriptions"].get("/ws-api/v3", 0))


async def watch_orders(s: Session) -> asyncio.Future[Any]:
    return await pending(s, s.exchange.watch_orders(SYMBOL), f"orders:{SYMBOL}", lambda: user_subscriptions(s) > 0)


def streaming(balances: dict[str, str] = FUNDS) -> Any:
    return venue_session("binance", balances, streams=True)


# -- private: the user data stream of the WebSocket API ------------------------------------------
async def test_watch_orders_sees_new_then_filled_then_canceled():
    async with streaming() as s:
        new = await watch_orders(s)
        placed = await place(s)
        order = (await asyncio.wait_for(new, WAIT))[-1]
        assert (order["id"], order["clientOrderId"], order["status"], order["amount"], order["filled"],
                order["price"], order["side"]) == (placed["id"], "cer123", "open", "0.01000000", "0.00000000",
                                                   "30000.00000000", "buy")
        assert (order["info"]["x"], order["info"]["X"]) == ("NEW", "NEW")

        filled = await watch_orders(s)
        await s.fake.control.fill(placed["id"])
        order = (await asyncio.wait_for(filled, WAIT))[-1]
        assert (order["clientOrderId"], order["status"], order["filled"], order["remaining"], order["cost"]) == (
            "cer123", "closed", "0.01000000", "0", "300.00000000")
        assert (order["info"]["x"], order["info"]["X"], order["info"]["l"]) == ("TRADE", "FILLED", "0.01000000")

        new = await watch_orders(s)
        other = await place(s, cid="cer124")
        await asyncio.wait_for(new, WAIT)  # its NEW: the REST reply may come back before it
        canceled = await watch_orders(s)
        await s.exchange.cancel_order(other["id"], SYMBOL)
        order = (await asyncio.wait_for(canceled, WAIT))[-1]
        assert (order["id"], order["clientOrderId"], order["status"], order["info"]["x"]) == (
            other["id"], "cer124", "canceled", "CANCELED")
        assert order["info"]["c"] != "cer124"  # like Binance: c is the cancel's id, C the order's


async def test_watch_my_trades_sees_each_partial_fill():
    async with streaming() as s:
        placed = await place(s)
        first = await pending(s, s.exchange.watch_my_trades(SYMBOL), f"myTrades:{SYMBOL}",
                              lambda: user_subscriptions(s) > 0)
        fill = await s.fake.control.fill(placed["id"], "0.004")
        trades = await asyncio.wait_for(first, WAIT)
        assert [(t["id"], t["order"], t["price"], t["amount"], t["cost"], t["takerOrMaker"], t["side"], t["fee"])
                for t in trades] == [(str(fill["id"]), placed["id"], "30000.00000000", "0.00400000", "120.00000000",
                                      "maker", "buy", {"cost": "0.00000400", "currency": "BTC"})]
        second = await pending(s, s.exchange.watch_my_trades(SYMBOL), f"myTrades:{SYMBOL}")
        rest = await s.fake.control.fill(placed["id"], maker=False)
        trades = await asyncio.wait_for(second, WAIT)  # newUpdates (the default): only what is new
        assert [(t["id"], t["price"], t["amount"], t["takerOrMaker"], t["fee"]) for t in trades] == [
            (str(rest["id"]), "30000.00000000", "0.00600000", "taker", {"cost": "0.00000600", "currency": "BTC"})]
        assert [t["id"] for t in await s.exchange.fetch_my_trades(SYMBOL)] == [str(fill["id"]), str(rest["id"])]


@pytest.mark.parametrize(("override", "code"), [({"secret": "0" * 64}, "-1022"), ({"api_key": "A" * 64}, "-2015")])
async def test_a_refused_subscription_raises_key_error_from_authentication_error(override, code):
    async with streaming() as s:
        bad = s.exchange_with(streams=True, ws_url=s.fake.ws_url, **override)
        try:
            bad.set_markets_from_exchange(s.exchange)
            with pytest.raises(KeyError, match="spot") as raised:
                await asyncio.wait_for(bad.watch_orders(SYMBOL), WAIT)
            assert type(raised.value.__context__) is ccxt.AuthenticationError
            assert code in str(raised.value.__context__)
            assert user_subscriptions(s) == 0
            with pytest.raises(TimeoutError):  # the instance is stuck on its single-flight future
                await asyncio.wait_for(bad.watch_orders(SYMBOL), 0.5)
        finally:
            await bad.close()


# -- public market streams ----------------------------------------------------------------------
async def test_watch_trades_sees_an_injected_trade_and_an_account_fill():
    async with streaming() as s:
        first = await pending(s, s.exchange.watch_trades(SYMBOL), f"trade::{SYMBOL}",
                              lambda: "btcusdt@trade" in fake_streams(s))
        injected = await s.fake.control.public_trade("BTCUSDT", "30005", "0.1", "sell")
        trades = await asyncio.wait_for(first, WAIT)
        assert [(t["id"], t["price"], t["amount"], t["side"], t["timestamp"]) for t in trades] == [
            (str(injected["id"]), "30005.00000000", "0.10000000", "sell", injected["time"])]
        placed = await place(s)
        second = await pending(s, s.exchange.watch_trades(SYMBOL), f"trade::{SYMBOL}")
        fill = await s.fake.control.fill(placed["id"], "0.004")  # our bid was the maker: the taker sold
        trades = await asyncio.wait_for(second, WAIT)
        assert (trades[-1]["id"], trades[-1]["price"], trades[-1]["amount"], trades[-1]["side"]) == (
            str(fill["id"]), "30000.00000000", "0.00400000", "sell")
        mine = await s.exchange.fetch_my_trades(SYMBOL)
        assert [t["id"] for t in mine] == [str(fill["id"])]  # the injected trade is nobody's


async def test_watch_ticker_gets_24h_stats_from_the_trades():
    async with streaming() as s:
        for price, qty in (("30000", "0.1"), ("30100", "0.2"), ("29900", "0.3")):
            await s.fake.control.public_trade("BTCUSDT", price, qty)
        ticker = await asyncio.wait_for(s.exchange.watch_ticker(SYMBOL), WAIT)  # one on subscribing
        assert {k: ticker[k] for k in ("last", "open", "high", "low", "baseVolume", "quoteVolume")} == {
            "last": "29900.00000000", "open": "30000.00000000", "high": "30100.00000000", "low": "29900.00000000",
            "baseVolume": "0.60000000", "quoteVolume": "17990.00000000"}
        assert "btcusdt@miniTicker" in fake_streams(s)  # ccxt's default: no bid/ask in it
        update = await pending(s, s.exchange.watch_ticker(SYMBOL), f"ticker:miniTicker@{SYMBOL}")
        await s.fake.control.public_trade("BTCUSDT", "30200", "0.4")
        ticker = await asyncio.wait_for(update, WAIT)
        assert (ticker["last"], ticker["high"], ticker["baseVolume"]) == ("30200.00000000", "30200.00000000",
                                                                          "1.00000000")
        await s.fake.control.set_book("BTCUSDT", bids=[["29990", "1.5"]], asks=[["30010", "2"]])
        full = await asyncio.wait_for(s.exchange.watch_ticker(SYMBOL, {"name": "ticker"}), WAIT)
        assert (full["bid"], full["bidVolume"], full["ask"], full["askVolume"], full["last"]) == (
            "29990.00000000", "1.50000000", "30010.00000000", "2.00000000", "30200.00000000")


async def test_watch_order_book_matches_the_synthetic_book_and_resting_orders_and_follows_changes():
    async with streaming() as s:
        await s.fake.control.set_book("BTCUSDT", bids=[["29990", "1.5"], ["29980", "2"]],
                                      asks=[["30010", "2"], ["30020", "1"]])
        placed = await place(s, amount="0.01", price="29990")  # joins the synthetic 29990 level
        book = await asyncio.wait_for(s.exchange.watch_order_book(SYMBOL, 5), WAIT)
        assert (book["bids"], book["asks"]) == ([[29990.0, 1.51], [29980.0, 2.0]], [[30010.0, 2.0], [30020.0, 1.0]])
        rest = await s.exchange.public_get_depth({"symbol": "BTCUSDT", "limit": 5})
        assert book["nonce"] == rest["lastUpdateId"]
        assert "limit=5" in next(u for u in s.urls if "/api/v3/depth" in u)  # the snapshot ccxt asked for

        changed = await pending(s, s.exchange.watch_order_book(SYMBOL, 5), f"orderbook::{SYMBOL}")
        await s.exchange.cancel_order(placed["id"], SYMBOL)
        book = await asyncio.wait_for(changed, WAIT)
        assert book["bids"][0] == [29990.0, 1.5] and book["nonce"] == rest["lastUpdateId"] + 1

        changed = await pending(s, s.exchange.watch_order_book(SYMBOL, 5), f"orderbook::{SYMBOL}")
        await s.fake.control.set_book("BTCUSDT", bids=[["29995", "1"]], asks=[["30005", "0.5"]])
        book = await asyncio.wait_for(changed, WAIT)
        assert (book["bids"], book["asks"]) == ([[29995.0, 1.0]], [[30005.0, 0.5]])
        rest = await s.exchange.public_get_depth({"symbol": "BTCUSDT"})
        assert book["nonce"] == rest["lastUpdateId"]
        assert rest["bids"] == [["29995.00000000", "1.00000000"]]


# -- public REST history --------------------------------------------------------------------------
async def test_fetch_trades_and_ohlcv_return_exactly_the_injected_history():
    async with streaming() as s:
        base = (time.time_ns() // 1_000_000 // 3_600_000 - 3) * 3_600_000  # an hour boundary, 3 h ago
        history = [(-1, "1", "0.9", "buy"), (0, "30000", "0.1", "buy"), (30_000, "30010", "0.2", "sell"),
                   (65_000, "29990", "0.3", "buy"), (180_000, "30020", "0.05", "sell"),
                   (3_600_000, "30030", "0.01", "buy"), (3_600_001, "2", "0.9", "sell")]
        ids = [(await s.fake.control.public_trade("BTCUSDT", p, q, side, time=base + dt))["id"]
               for dt, p, q, side in history]
        trades = await s.exchange.fetch_trades(SYMBOL, base, 10)  # ccxt asks for [since, since + 1 h]
        assert [(t["id"], t["timestamp"] - base, t["price"], t["amount"], t["side"]) for t in trades] == [
            (str(ids[1]), 0, "30000.00000000", "0.10000000", "buy"),
            (str(ids[2]), 30_000, "30010.00000000", "0.20000000", "sell"),
            (str(ids[3]), 65_000, "29990.00000000", "0.30000000", "buy"),
            (str(ids[4]), 180_000, "30020.00000000", "0.05000000", "sell"),
            (str(ids[5]), 3_600_000, "30030.00000000", "0.01000000", "buy")]
        assert (await s.paths_seen())[-1] == "/api/v3/aggTrades"
        assert [t["id"] for t in await s.exchange.fetch_trades(SYMBOL, base, 2)] == [str(ids[1]), str(ids[2])]
        assert [t["id"] for t in await s.exchange.fetch_trades(SYMBOL, limit=2)] == [str(ids[5]), str(ids[6])]

        candles = await s.exchange.fetch_ohlcv(SYMBOL, "1m", base, 4)
        assert candles == [
            [base, "30000.00000000", "30010.00000000", "30000.00000000", "30010.00000000", "0.30000000"],
            [base + 60_000, "29990.00000000", "29990.00000000", "29990.00000000", "29990.00000000", "0.30000000"],
            [base + 120_000, "29990.00000000", "29990.00000000", "29990.00000000", "29990.00000000", "0.00000000"],
            [base + 180_000, "30020.00000000", "30020.00000000", "30020.00000000", "30020.00000000", "0.05000000"]]
        rows = await s.exchange.public_get_klines({"symbol": "BTCUSDT", "interval": "5m", "startTime": base + 1,
                                                   "endTime": base + 3_600_000})
        assert rows[0][:2] == [base + 300_000, "30020.00000000"]  # the open time must be >= startTime
        assert rows[-1][0] == base + 3_600_000 and len(rows) == 12  # ... and <= endTime, inclusive
        hour = (await s.exchange.public_get_klines({"symbol": "BTCUSDT", "interval": "1h", "startTime": base,
                                                    "limit": 1}))[0]
        assert hour == [base, "30000.00000000", "30020.00000000", "29990.00000000", "30020.00000000", "0.65000000",
                        base + 3_599_999, "19500.00000000", 4, "0.40000000", "11997.00000000", "0"]
        for bad in ({"interval": "7m"}, {"interval": "1m", "limit": 1001}):
            with pytest.raises(ccxt.BadRequest):
                await s.exchange.public_get_klines({"symbol": "BTCUSDT", **bad})
        assert Decimal(hour[9]) == Decimal("0.1") + Decimal("0.3")  # taker buys: the buyer was no maker


# -- stream faults --------------------------------------------------------------------------------
async def test_ws_down_fails_pending_and_new_watches_and_ws_up_restores_them():
    async with streaming() as s:
        orders = await watch_orders(s)
        trades = await pending(s, s.exchange.watch_trades(SYMBOL), f"trade::{SYMBOL}",
                               lambda: "btcusdt@trade" in fake_streams(s))
        assert (await s.fake.control.ws_state())["connections"] == {"/ws-api/v3": 1, "/ws/0": 1}
        started = time.monotonic()
        state = await s.fake.control.ws_down()
        assert state["down"] and state["connections"] == {}
        for task in (orders, trades):
            with pytest.raises(ccxt.NetworkError, match="closing code 1006") as raised:
                await asyncio.wait_for(task, WAIT)
            assert type(raised.value) is ccxt.NetworkError
        assert time.monotonic() - started < 1.0  # a reset is noticed at once (no ping timeout needed)

        with pytest.raises(ccxt.NetworkError, match="503"):
            await asyncio.wait_for(s.exchange.watch_trades(SYMBOL), WAIT)
        assert (await s.fake.control.ws_state())["connections"] == {}

        await s.fake.control.ws_up()
        again = await pending(s, s.exchange.watch_trades(SYMBOL), f"trade::{SYMBOL}",
                              lambda: "btcusdt@trade" in fake_streams(s))
        injected = await s.fake.control.public_trade("BTCUSDT", "30001", "0.5", "buy")
        assert (await asyncio.wait_for(again, WAIT))[-1]["id"] == str(injected["id"])
        orders = await watch_orders(s)  # the private stream subscribes again on a new connection
        placed = await place(s)
        assert (await asyncio.wait_for(orders, WAIT))[-1]["id"] == placed["id"]


# -- the wire protocol itself (what ccxt does not exercise) ---------------------------------------
async def test_raw_protocol_of_the_stream_endpoints():
    async with streaming() as s, aiohttp.ClientSession() as http:
        async with http.ws_connect(s.fake.ws_url + "/stream?streams=btcusdt@trade") as combined:
            trade = await s.fake.control.public_trade("BTCUSDT", "30000", "0.1", "buy")
            event = await combined.receive_json(timeout=WAIT)
            assert event["stream"] == "btcusdt@trade"
            assert {k: event["data"][k] for k in ("e", "s", "t", "p", "q", "T", "m")} == {
                "e": "trade", "s": "BTCUSDT", "t": trade["id"], "p": "30000.00000000", "q": "0.10000000",
                "T": trade["time"], "m": False}
            await combined.send_json({"method": "SUBSCRIBE", "params": ["btcusdt@kline_1m"], "id": 7})
            assert (await combined.receive_json(timeout=WAIT))["error"]["code"] == 2
            await combined.send_json({"method": "SUBSCRIBE", "params": ["ethusdt@depth"], "id": 8})
            assert await combined.receive_json(timeout=WAIT) == {"result": None, "id": 8}
            await combined.send_json({"method": "LIST_SUBSCRIPTIONS", "id": 9})
            assert await combined.receive_json(timeout=WAIT) == {"result": ["btcusdt@trade", "ethusdt@depth"],
                                                                  "id": 9}
        async with http.ws_connect(s.fake.ws_url + "/ws/btcusdt@aggTrade") as raw:
            await until(lambda: "btcusdt@aggTrade" in fake_streams(s))
            trade = await s.fake.control.public_trade("BTCUSDT", "30001", "0.2", "sell")
            event = await raw.receive_json(timeout=WAIT)
            assert (event["e"], event["a"], event["f"], event["l"], event["m"]) == (
                "aggTrade", trade["id"], trade["id"], trade["id"], True)
        async with http.ws_connect(s.fake.ws_url + "/ws-api/v3") as api:
            for method, expected in (("ping", {}), ("session.subscriptions", [])):
                await api.send_json({"id": method, "method": method})
                assert await api.receive_json(timeout=WAIT) == {"id": method, "status": 200, "result": expected}
            await api.send_json({"id": "x", "method": "order.place", "params": {}})
            reply = await api.receive_json(timeout=WAIT)
            assert (reply["status"], reply["error"]["code"]) == (400, -1000)
            await api.send_json({"id": "s", "method": "userDataStream.subscribe.signature",
                                 "params": {"apiKey": s.key, "timestamp": time.time_ns() // 1_000_000 - 60_000,
                                            "signature": "00"}})
            reply = await api.receive_json(timeout=WAIT)
            assert (reply["status"], reply["error"]["code"]) == (400, -1022)  # the signature is checked first
