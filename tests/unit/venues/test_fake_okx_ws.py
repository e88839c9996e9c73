"""ccxt.pro ``okx`` (``make_exchange(streams=True, ws_url=...)``) against the fake OKX v5 websockets.

The websockets share the fake REST server's port (``tests/fakevenue/okx_ws.py``): ``/ws/v5/private``
(login, the ``orders`` channel behind ``watch_orders`` and ``watch_my_trades``), ``/ws/v5/public``
(``trades``, ``tickers``, ``books``/``books5``) and ``/ws/v5/business`` (candles), plus the public REST
market data (``fetch_order_book``, ``fetch_ticker``, ``fetch_trades``). What these tests pin down about
ccxt 4.5.90 itself:

- as for Binance, a ``watch_*`` call returns the *next* update after it is pending, so the tests wait
  until ccxt's client holds the future and the fake holds the subscription before acting.
- ``watch_my_trades`` needs nothing special: it subscribes to the same ``orders`` channel (``instType``
  ``SPOT`` from the market, a second subscription next to ``watch_orders``' ``instId`` one) and makes a
  trade of each push with a ``tradeId``. But the trade's ``fee.cost`` is OKX's raw ``fillFee``, which is
  *negative* for a charge (``"-0.000004"``; REST ``fetch_my_trades`` negates it: ``"0.000004"``), and
  its ``cost`` is the *order's* cumulative cost (``accFillSz * avgPx``), not the fill's price x amount.
- a failed login (wrong passphrase ``60024``, secret ``60007``, key ``60005``) is a plain
  ``AuthenticationError`` for the pending watch (``handle_error_message`` rejects every future of the
  private client). OKX keeps the connection open, and then that instance's private side is stuck:
  ``client.subscriptions["authenticated"]`` stays set, so the next ``watch_orders`` never sends a
  login again and waits forever (public streams of the same instance still work). If the server closes
  the connection after the error (``close_on_failed_login``), each later watch dials again and fails
  with the same ``AuthenticationError``: the instance stays usable.
- order books are floats (``handle_delta`` uses ``safe_float``), the ``books`` nonce is OKX's ``seqId``
  and ccxt checks ``prevSeqId`` (a gap is ``InvalidNonce``) but does not verify the CRC32 ``checksum``;
  the REST and ``books5`` levels get a third element, the count ccxt reads from OKX's deprecated
  liquidated-orders field (always ``0``).
- a dropped socket fails each pending watch at once with ``NetworkError`` ("closing code 1006"); a
  refused dial (HTTP 503) is a ``NetworkError`` too; ccxt does not reconnect by itself, the next watch
  dials again and logs in again.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
import zlib
from typing import Any

import aiohttp
import ccxt.async_support as ccxt
import pytest
from tests.fakevenue.testing import FUNDS, SYMBOL, Session, pending, place, until, venue_session
from tests.fakevenue.testing import STREAM_WAIT as WAIT

PRIVATE, PUBLIC, BUSINESS = "/ws/v5/private", "/ws/v5/public", "/ws/v5/business"


def fake_streams(s: Session, path: str = PUBLIC) -> list[str]:
    return list(s.fake.venue.ws_state()["streams"].get(path, []))


async def watch_orders(s: Session) -> asyncio.Future[Any]:
    return await pending(s, s.exchange.watch_orders(SYMBOL), "orders:BTC-USDT",
                         lambda: "orders:BTC-USDT" in fake_streams(s, PRIVATE))


async def watch_trades(s: Session) -> asyncio.Future[Any]:
    return await pending(s, s.exchange.watch_trades(SYMBOL), f"trades:{SYMBOL}",
                         lambda: "trades:BTC-USDT" in fake_streams(s))


def streaming(balances: dict[str, str] = FUNDS) -> Any:
    return venue_session("okx", balances, streams=True)


def okx_checksum(bids: list[list[str]], asks: list[list[str]]) -> int:
    """OKX docs: CRC32 of ``bid1px:bid1sz:ask1px:ask1sz:...`` over 25 levels per side, as a signed int32."""
    parts = [value for i in range(25) for side in (bids, asks) if i < len(side) for value in side[i][:2]]
    crc = zlib.crc32(":".join(parts).encode())
    return crc - (1 << 32) if crc >= 1 << 31 else crc


# -- private: login and the orders channel --------------------------------------------------------
async def test_watch_orders_sees_live_then_filled_then_canceled():
    async with streaming() as s:
        new = await watch_orders(s)
        placed = await place(s)
        order = (await asyncio.wait_for(new, WAIT))[-1]
        assert (order["id"], order["clientOrderId"], order["status"], order["amount"], order["filled"],
                order["remaining"], order["price"], order["side"], order["symbol"]) == (
            placed["id"], "cer123", "open", "0.01", "0", "0.01", "30000", "buy", SYMBOL)
        assert {k: order["info"][k] for k in ("instId", "state", "tradeId", "fillSz")} == {
            "instId": "BTC-USDT", "state": "live", "tradeId": "", "fillSz": "0"}
        assert s.fake.venue.ws_state()["logins"] == {PRIVATE: 1}

        partly = await watch_orders(s)
        fill = await s.fake.control.fill(placed["id"], "0.004")
        order = (await asyncio.wait_for(partly, WAIT))[-1]
        assert (order["status"], order["filled"], order["remaining"], order["average"]) == (
            "open", "0.004", "0.006", "30000")
        assert {k: order["info"][k] for k in ("state", "tradeId", "fillPx", "fillSz", "fillFee", "fillFeeCcy",
                                              "accFillSz", "avgPx", "execType")} == {
            "state": "partially_filled", "tradeId": str(fill["id"]), "fillPx": "30000", "fillSz": "0.004",
            "fillFee": "-0.000004", "fillFeeCcy": "BTC", "accFillSz": "0.004", "avgPx": "30000", "execType": "M"}

        filled = await watch_orders(s)
        await s.fake.control.fill(placed["id"], maker=False)
        order = (await asyncio.wait_for(filled, WAIT))[-1]
        assert (order["status"], order["filled"], order["remaining"], order["cost"], order["fee"]) == (
            "closed", "0.01", "0", "300", {"cost": "0.00001", "currency": "BTC"})
        assert (order["info"]["state"], order["info"]["fillSz"], order["info"]["execType"]) == ("filled", "0.006", "T")

        new = await watch_orders(s)
        other = await place(s, cid="cer124")
        await asyncio.wait_for(new, WAIT)  # its live push: the REST reply may come back before it
        canceled = await watch_orders(s)
        await s.exchange.cancel_order(other["id"], SYMBOL)
        order = (await asyncio.wait_for(canceled, WAIT))[-1]
        assert (order["id"], order["clientOrderId"], order["status"], order["info"]["state"]) == (
            other["id"], "cer124", "canceled", "canceled")


async def test_watch_my_trades_sees_each_partial_fill_with_a_negative_fee_and_the_order_cost():
    async with streaming() as s:
        placed = await place(s)
        first = await pending(s, s.exchange.watch_my_trades(SYMBOL), f"orders::myTrades::{SYMBOL}",
                              lambda: "orders:SPOT" in fake_streams(s, PRIVATE))
        fill = await s.fake.control.fill(placed["id"], "0.004")
        trades = await asyncio.wait_for(first, WAIT)
        assert [(t["id"], t["order"], t["symbol"], t["price"], t["amount"], t["cost"], t["takerOrMaker"], t["side"],
                 t["fee"], t["timestamp"]) for t in trades] == [
            (str(fill["id"]), placed["id"], SYMBOL, "30000", "0.004", "120", "maker", "buy",
             {"cost": "-0.000004", "currency": "BTC"}, fill["time"])]
        second = await pending(s, s.exchange.watch_my_trades(SYMBOL), f"orders::myTrades::{SYMBOL}")
        rest = await s.fake.control.fill(placed["id"], maker=False)
        trades = await asyncio.wait_for(second, WAIT)  # newUpdates (the default): only what is new
        assert [(t["id"], t["price"], t["amount"], t["cost"], t["takerOrMaker"], t["fee"]) for t in trades] == [
            (str(rest["id"]), "30000", "0.006", "300", "taker", {"cost": "-0.000006", "currency": "BTC"})]
        # REST tells the same fills with the fill's own cost and a positive fee
        assert [(t["id"], t["amount"], t["cost"], t["fee"]) for t in await s.exchange.fetch_my_trades(SYMBOL)] == [
            (str(fill["id"]), "0.004", "120", {"cost": "0.000004", "currency": "BTC"}),
            (str(rest["id"]), "0.006", "180", {"cost": "0.000006", "currency": "BTC"})]


@pytest.mark.parametrize(("override", "code"), [({"password": "Wrong-Pass1"}, "60024"),
                                                ({"secret": "0" * 64}, "60007"), ({"api_key": "A" * 32}, "60005")])
async def test_a_failed_login_is_authentication_error_then_the_private_side_is_stuck(override, code):
    async with streaming() as s:
        bad = s.exchange_with(streams=True, ws_url=s.fake.ws_url, **override)
        try:
            bad.set_markets_from_exchange(s.exchange)
            with pytest.raises(ccxt.AuthenticationError, match=code) as raised:
                await asyncio.wait_for(bad.watch_orders(SYMBOL), WAIT)
            assert type(raised.value) is ccxt.AuthenticationError
            state = s.fake.venue.ws_state()
            assert (state["connections"], state["logins"], state["subscriptions"]) == ({PRIVATE: 1}, {}, {PRIVATE: 0})
            with pytest.raises(TimeoutError):  # "authenticated" stays subscribed: no second login is sent
                await asyncio.wait_for(bad.watch_orders(SYMBOL), 0.5)
            assert s.fake.venue.ws_state()["logins"] == {}
            trades = asyncio.ensure_future(bad.watch_trades(SYMBOL))  # the public side is another client
            await until(lambda: "trades:BTC-USDT" in fake_streams(s))
            injected = await s.fake.control.public_trade("BTC-USDT", "30000", "0.1")
            assert (await asyncio.wait_for(trades, WAIT))[-1]["id"] == str(injected["id"])
        finally:
            await bad.close()


async def test_when_the_server_closes_after_a_failed_login_every_watch_fails_again():
    async with streaming() as s:
        await s.fake.control.ws_close_on_failed_login()
        bad = s.exchange_with(streams=True, ws_url=s.fake.ws_url, password="Wrong-Pass1")
        try:
            bad.set_markets_from_exchange(s.exchange)
            for _ in range(2):  # a fresh connection and login each time: the instance stays usable
                with pytest.raises(ccxt.AuthenticationError, match="60024"):
                    await asyncio.wait_for(bad.watch_orders(SYMBOL), WAIT)
                await until(lambda: s.fake.venue.ws_state()["open"] == 0)
        finally:
            await bad.close()
        new = await watch_orders(s)  # the right passphrase still logs in
        placed = await place(s)
        assert (await asyncio.wait_for(new, WAIT))[-1]["id"] == placed["id"]


# -- public market streams ----------------------------------------------------------------------
async def test_watch_trades_sees_an_injected_trade_and_an_account_fill():
    async with streaming() as s:
        first = await watch_trades(s)
        injected = await s.fake.control.public_trade("BTC-USDT", "30005", "0.1", "sell")
        trades = await asyncio.wait_for(first, WAIT)
        assert [(t["id"], t["price"], t["amount"], t["side"], t["timestamp"]) for t in trades] == [
            (str(injected["id"]), "30005", "0.1", "sell", injected["time"])]
        placed = await place(s)
        second = await watch_trades(s)
        fill = await s.fake.control.fill(placed["id"], "0.004")  # our bid was the maker: the taker sold
        trades = await asyncio.wait_for(second, WAIT)
        assert (trades[-1]["id"], trades[-1]["price"], trades[-1]["amount"], trades[-1]["side"]) == (
            str(fill["id"]), "30000", "0.004", "sell")
        assert [t["id"] for t in await s.exchange.fetch_my_trades(SYMBOL)] == [str(fill["id"])]
        recent = await s.exchange.fetch_trades(SYMBOL)  # REST market/trades: newest first, ccxt sorts
        assert [(t["id"], t["side"]) for t in recent] == [(str(injected["id"]), "sell"), (str(fill["id"]), "sell")]


async def test_watch_ticker_gets_24h_stats_and_the_best_bid_and_ask():
    async with streaming() as s:
        for price, qty in (("30000", "0.1"), ("30100", "0.2"), ("29900", "0.3")):
            await s.fake.control.public_trade("BTC-USDT", price, qty)
        ticker = await asyncio.wait_for(s.exchange.watch_ticker(SYMBOL), WAIT)  # one on subscribing
        assert {k: ticker[k] for k in ("last", "open", "high", "low", "baseVolume", "quoteVolume", "bid")} == {
            "last": "29900", "open": "30000", "high": "30100", "low": "29900", "baseVolume": "0.6",
            "quoteVolume": "17990", "bid": None}
        update = await pending(s, s.exchange.watch_ticker(SYMBOL), f"tickers::{SYMBOL}")
        await s.fake.control.public_trade("BTC-USDT", "30200", "0.4")
        ticker = await asyncio.wait_for(update, WAIT)
        assert (ticker["last"], ticker["high"], ticker["baseVolume"]) == ("30200", "30200", "1")
        update = await pending(s, s.exchange.watch_ticker(SYMBOL), f"tickers::{SYMBOL}")
        await s.fake.control.set_book("BTC-USDT", bids=[["29990", "1.5"]], asks=[["30010", "2"]])
        ticker = await asyncio.wait_for(update, WAIT)  # a new best bid/ask is pushed without a trade
        assert (ticker["bid"], ticker["bidVolume"], ticker["ask"], ticker["askVolume"], ticker["last"]) == (
            "29990", "1.5", "30010", "2", "30200")
        rest = await s.exchange.fetch_ticker(SYMBOL)
        assert {k: rest[k] for k in ("last", "open", "bid", "ask", "baseVolume")} == {
            "last": "30200", "open": "30000", "bid": "29990", "ask": "30010", "baseVolume": "1"}


async def test_watch_order_book_is_the_synthetic_book_and_resting_orders_and_follows_changes():
    async with streaming() as s:
        await s.fake.control.set_book("BTC-USDT", bids=[["29990", "1.5"], ["29980", "2"]],
                                      asks=[["30010", "2"], ["30020", "1"]])
        placed = await place(s, amount="0.01", price="29990")  # joins the synthetic 29990 level
        book = await asyncio.wait_for(s.exchange.watch_order_book(SYMBOL), WAIT)  # channel "books"
        assert (book["bids"], book["asks"]) == ([[29990.0, 1.51], [29980.0, 2.0]], [[30010.0, 2.0], [30020.0, 1.0]])
        assert "books:BTC-USDT" in fake_streams(s)
        seq = book["nonce"]
        assert seq == s.fake.venue.seq_ids["BTC-USDT"]
        rest = await s.exchange.fetch_order_book(SYMBOL, 5)  # REST market/books, sz=5
        assert (rest["bids"], rest["asks"]) == ([[29990.0, 1.51, 0], [29980.0, 2.0, 0]],
                                                [[30010.0, 2.0, 0], [30020.0, 1.0, 0]])
        assert "sz=5" in next(u for u in s.urls if "/api/v5/market/books" in u)

        changed = await pending(s, s.exchange.watch_order_book(SYMBOL), f"books:{SYMBOL}")
        await s.exchange.cancel_order(placed["id"], SYMBOL)
        book = await asyncio.wait_for(changed, WAIT)
        assert book["bids"][0] == [29990.0, 1.5] and book["nonce"] == seq + 1

        changed = await pending(s, s.exchange.watch_order_book(SYMBOL), f"books:{SYMBOL}")
        await s.fake.control.set_book("BTC-USDT", bids=[["29995", "1"]], asks=[["30005", "0.5"]])
        book = await asyncio.wait_for(changed, WAIT)
        assert (book["bids"], book["asks"], book["nonce"]) == ([[29995.0, 1.0]], [[30005.0, 0.5]], seq + 2)

        top = await asyncio.wait_for(s.exchange.watch_order_book(SYMBOL, 5), WAIT)  # limit 5: channel books5
        assert (top["bids"], top["asks"]) == ([[29995.0, 1.0, 0]], [[30005.0, 0.5, 0]])
        assert "books5:BTC-USDT" in fake_streams(s)


async def test_watch_ohlcv_reads_candles_from_the_business_socket():
    async with streaming() as s:
        await s.fake.control.public_trade("BTC-USDT", "30000", "0.1")
        first = await asyncio.wait_for(s.exchange.watch_ohlcv(SYMBOL, "1m"), WAIT)  # the latest on subscribing
        minute = time.time_ns() // 1_000_000 // 60_000 * 60_000
        assert first[-1][1:] == ["30000", "30000", "30000", "30000", "0.1"]
        assert first[-1][0] in (minute, minute - 60_000)
        assert fake_streams(s, BUSINESS) == ["candle1m:BTC-USDT"]
        update = await pending(s, s.exchange.watch_ohlcv(SYMBOL, "1m"), "candle1m:BTC-USDT")
        trade = await s.fake.control.public_trade("BTC-USDT", "30010", "0.2")
        candle = (await asyncio.wait_for(update, WAIT))[-1]  # the candle of the trade's minute, not closed
        assert (candle[0], candle[2], candle[4]) == (trade["time"] // 60_000 * 60_000, "30010", "30010")
        assert candle[5] in ("0.3", "0.2")  # "0.2" when the minute turned between the two trades


# -- stream faults --------------------------------------------------------------------------------
async def test_ws_down_fails_pending_and_new_watches_and_ws_up_restores_them():
    async with streaming() as s:
        orders = await watch_orders(s)
        trades = await watch_trades(s)
        assert (await s.fake.control.ws_state())["connections"] == {PRIVATE: 1, PUBLIC: 1}
        started = time.monotonic()
        state = await s.fake.control.ws_down()
        assert state["down"] and state["connections"] == {}
        for task in (orders, trades):
            with pytest.raises(ccxt.NetworkError, match="closing code 1006") as raised:
                await asyncio.wait_for(task, WAIT)
            assert type(raised.value) is ccxt.NetworkError
        assert time.monotonic() - started < 1.0  # a reset is noticed at once

        with pytest.raises(ccxt.NetworkError, match="503"):
            await asyncio.wait_for(s.exchange.watch_trades(SYMBOL), WAIT)
        with pytest.raises(ccxt.NetworkError, match="503"):
            await asyncio.wait_for(s.exchange.watch_orders(SYMBOL), WAIT)
        assert (await s.fake.control.ws_state())["connections"] == {}

        await s.fake.control.ws_up()
        again = await watch_trades(s)
        injected = await s.fake.control.public_trade("BTC-USDT", "30001", "0.5", "buy")
        assert (await asyncio.wait_for(again, WAIT))[-1]["id"] == str(injected["id"])
        orders = await watch_orders(s)  # a new connection: ccxt logs in and subscribes again
        placed = await place(s)
        assert (await asyncio.wait_for(orders, WAIT))[-1]["id"] == placed["id"]
        assert (await s.fake.control.ws_state())["logins"] == {PRIVATE: 1}


# -- the wire protocol itself (what ccxt does not exercise) ---------------------------------------
def login_args(s: Session, stamp: float | None = None, **override: str) -> dict[str, Any]:
    timestamp = str(int(time.time() if stamp is None else stamp))
    sign = base64.b64encode(hmac.new(s.secret.encode(), f"{timestamp}GET/users/self/verify".encode(),
                                     hashlib.sha256).digest()).decode()
    return {"op": "login", "args": [{"apiKey": s.key, "passphrase": s.passphrase, "timestamp": timestamp,
                                     "sign": sign} | override]}


async def test_raw_private_protocol_login_errors_and_orders_pushes():
    async with streaming() as s, aiohttp.ClientSession() as http, http.ws_connect(s.fake.ws_url + PRIVATE) as ws:
        await ws.send_str("ping")
        assert await ws.receive_str(timeout=WAIT) == "pong"
        for request, code in (("not json", "60012"), ({"op": "order", "args": []}, "60019"),
                              ({"op": "subscribe", "args": [{"channel": "orders", "instType": "SPOT"}]}, "60011"),
                              (login_args(s, time.time() - 60), "60006"), (login_args(s, sign="AAAA"), "60007"),
                              (login_args(s, passphrase="x"), "60024"), (login_args(s, apiKey="x"), "60005"),
                              (login_args(s, timestamp="soon"), "60004"), (login_args(s, sign=""), "60027")):
            await (ws.send_str(request) if isinstance(request, str) else ws.send_json(request))
            reply = await ws.receive_json(timeout=WAIT)
            assert (reply["event"], reply["code"]) == ("error", code), request
        await ws.send_json(login_args(s) | {"id": "7"})
        reply = await ws.receive_json(timeout=WAIT)
        assert {k: reply[k] for k in ("id", "event", "code", "msg")} == {"id": "7", "event": "login", "code": "0",
                                                                         "msg": ""}
        for bad in ({"channel": "tickers", "instId": "BTC-USDT"}, {"channel": "orders", "instType": "SPOTS"}):
            await ws.send_json({"op": "subscribe", "args": [{"channel": "orders", "instType": "ANY"}, bad]})
            assert (await ws.receive_json(timeout=WAIT))["code"] == "60018"  # nothing subscribed
        assert s.fake.venue.ws_state()["subscriptions"] == {PRIVATE: 0}
        arg = {"channel": "orders", "instType": "ANY"}
        for _ in range(2):  # twice: one subscription, each push once
            await ws.send_json({"op": "subscribe", "args": [arg]})
            assert {k: v for k, v in (await ws.receive_json(timeout=WAIT)).items() if k != "connId"} == {
                "event": "subscribe", "arg": arg}
        placed = await place(s)
        push = await ws.receive_json(timeout=WAIT)
        assert push["arg"]["channel"] == "orders" and push["arg"]["instType"] == "ANY" and push["arg"]["uid"]
        assert [(d["ordId"], d["clOrdId"], d["state"]) for d in push["data"]] == [(placed["id"], "cer123", "live")]
        await s.exchange.cancel_order(placed["id"], SYMBOL)
        assert (await ws.receive_json(timeout=WAIT))["data"][0]["state"] == "canceled"
        await ws.send_str("ping")
        assert await ws.receive_str(timeout=WAIT) == "pong"  # nothing else was queued before it


async def test_raw_books_snapshot_and_updates_carry_seq_ids_and_okx_checksums():
    async with streaming() as s, aiohttp.ClientSession() as http, http.ws_connect(s.fake.ws_url + PUBLIC) as ws:
        await s.fake.control.set_book("BTC-USDT", bids=[[str(29000 - i), "1"] for i in range(30)],
                                      asks=[["30010", "2"], ["30020.5", "0.25"]])
        arg = {"channel": "books", "instId": "BTC-USDT"}
        await ws.send_json({"op": "subscribe", "args": [arg]})
        assert (await ws.receive_json(timeout=WAIT))["event"] == "subscribe"
        snapshot = await ws.receive_json(timeout=WAIT)
        data = snapshot["data"][0]
        assert (snapshot["arg"], snapshot["action"], data["prevSeqId"], len(data["bids"])) == (arg, "snapshot", -1, 30)
        assert data["asks"] == [["30010", "2", "0", "1"], ["30020.5", "0.25", "0", "1"]]
        assert data["checksum"] == okx_checksum(data["bids"], data["asks"])
        book = {"bids": {b[0]: b for b in data["bids"]}, "asks": {a[0]: a for a in data["asks"]}}
        seq = data["seqId"]

        placed = await place(s, amount="0.03", price="30010")  # a bid at the best ask: it rests here
        await s.fake.control.set_book("BTC-USDT", bids=[["29000", "1"]], asks=[["30020.5", "0.25"]])
        for _ in range(2):
            update = await ws.receive_json(timeout=WAIT)
            data = update["data"][0]
            assert (update["action"], data["prevSeqId"], data["seqId"]) == ("update", seq, seq + 1)
            seq = data["seqId"]
            for side in ("bids", "asks"):
                for level in data[side]:
                    if level[1] == "0":
                        book[side].pop(level[0])
                    else:
                        book[side][level[0]] = level
            bids = sorted(book["bids"].values(), key=lambda level: -float(level[0]))
            asks = sorted(book["asks"].values(), key=lambda level: float(level[0]))
            assert data["checksum"] == okx_checksum(bids, asks)  # the diff rebuilds the venue's book
        assert (bids, asks) == ([["30010", "0.03", "0", "1"], ["29000", "1", "0", "1"]],
                                [["30020.5", "0.25", "0", "1"]])
        rest = (await s.exchange.public_get_market_books({"instId": "BTC-USDT", "sz": "400"}))["data"][0]
        assert (rest["bids"], rest["asks"]) == (bids, asks)

        await ws.send_json({"op": "unsubscribe", "args": [arg]})
        assert (await ws.receive_json(timeout=WAIT))["event"] == "unsubscribe"
        await s.exchange.cancel_order(placed["id"], SYMBOL)
        await ws.send_str("ping")
        assert await ws.receive_str(timeout=WAIT) == "pong"  # no update after unsubscribing
        for bad in ({"channel": "candle1m", "instId": "BTC-USDT"}, {"channel": "books", "instId": "BTC-EUR"},
                    {"channel": "books"}):
            await ws.send_json({"op": "subscribe", "args": [bad]})
            assert (await ws.receive_json(timeout=WAIT))["code"] == "60018"
        with pytest.raises(ccxt.BadRequest, match="51000"):
            await s.exchange.public_get_market_books({"instId": "BTC-USDT", "sz": "401"})
