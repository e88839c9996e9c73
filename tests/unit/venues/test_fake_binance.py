"""ccxt ``binance`` (built by ``make_exchange``) against the fake Binance spot venue over loopback HTTP.

Each test proves one behaviour Ceres relies on: what ccxt sends (client ids, endpoints), how it
parses the venue's answers (exact decimal strings) and which exception it raises for each venue error,
and that a failed placement is not retried. The unknown-outcome cases (timeouts, dropped connections),
duplicates and the loopback guarantee are run for both venues in ``test_factory.py``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import urllib.request
from pathlib import Path

import ccxt.async_support as ccxt
import pytest
from tests.fakevenue import Control, FakeVenueThread
from tests.fakevenue.testing import (
    FUNDS,
    SYMBOL,
    place,
    sent_orders,
    venue_session,
)

ROOT = Path(__file__).resolve().parents[3]


async def test_load_markets_uses_only_spot_exchange_info():
    async with venue_session("binance", FUNDS) as s:
        market = s.exchange.market(SYMBOL)
        assert (market["id"], market["spot"], market["active"]) == ("BTCUSDT", True, True)
        assert market["precision"] == {"amount": "0.00001000", "price": "0.01000000", "base": "0.00000001",
                                       "quote": "0.00000001"}
        assert market["limits"]["cost"]["min"] == "5.00000000"
        assert await s.paths_seen() == ["/api/v3/exchangeInfo"]  # no sapi/fapi/dapi, no capital/config


async def test_fetch_balance_gives_exact_strings():
    async with venue_session("binance", FUNDS) as s:
        balance = await s.exchange.fetch_balance()
        assert balance["USDT"] == {"free": "1000.00000000", "used": "0.00000000", "total": "1000"}
        assert balance["BTC"] == {"free": "0.50000000", "used": "0.00000000", "total": "0.5"}


async def test_create_order_sends_our_client_id_unchanged_and_freezes_funds():
    async with venue_session("binance", FUNDS) as s:
        order = await place(s)
        sent = (await sent_orders(s))[0]
        assert sent["newClientOrderId"] == "cer123"
        assert (sent["symbol"], sent["side"], sent["type"], sent["quantity"], sent["price"]) == (
            "BTCUSDT", "BUY", "LIMIT", "0.01", "30000")
        assert (order["clientOrderId"], order["status"], order["filled"], order["remaining"]) == (
            "cer123", "open", "0.00000000", "0.01")
        assert await s.fake.control.balances(s.key) == {
            "BTC": {"free": "0.5", "locked": "0"}, "USDT": {"free": "700", "locked": "300"}}


async def test_without_client_id_ccxt_sends_its_broker_prefix():
    async with venue_session("binance", FUNDS) as s:
        await s.exchange.create_order(SYMBOL, "limit", "buy", "0.01", "30000")
        assert (await sent_orders(s))[0]["newClientOrderId"].startswith("x-TKT5PX2F")


async def test_fetch_order_by_id_and_by_client_id_and_open_orders():
    async with venue_session("binance", FUNDS) as s:
        placed = await place(s)
        by_id = await s.exchange.fetch_order(placed["id"], SYMBOL)
        by_cid = await s.exchange.fetch_order_with_client_order_id("cer123", SYMBOL)
        assert by_id["id"] == by_cid["id"] == placed["id"]
        assert by_cid["clientOrderId"] == "cer123"
        queries = [r["query"] for r in await s.fake.control.requests() if r["path"] == "/api/v3/order"
                   and r["method"] == "GET"]
        assert queries[0]["orderId"] == placed["id"] and queries[1]["origClientOrderId"] == "cer123"
        assert [o["id"] for o in await s.exchange.fetch_open_orders(SYMBOL)] == [placed["id"]]
        assert [o["id"] for o in await s.exchange.fetch_open_orders()] == [placed["id"]]  # no symbol: no warning


async def test_partial_then_full_fill_shows_in_trades_order_and_balances():
    async with venue_session("binance", FUNDS) as s:
        placed = await place(s)
        fill = await s.fake.control.fill(placed["id"], "0.004")
        trades = await s.exchange.fetch_my_trades(SYMBOL)
        assert [(t["id"], t["order"], t["price"], t["amount"], t["cost"], t["takerOrMaker"]) for t in trades] == [
            (str(fill["id"]), placed["id"], "30000.00000000", "0.00400000", "120.00000000", "maker")]
        assert trades[0]["fee"] == {"currency": "BTC", "cost": "0.00000400"}
        partial = await s.exchange.fetch_order(placed["id"], SYMBOL)
        assert (partial["status"], partial["filled"], partial["remaining"], partial["average"]) == (
            "open", "0.00400000", "0.006", "30000")
        await s.fake.control.fill(placed["id"])
        done = await s.exchange.fetch_order(placed["id"], SYMBOL)
        assert (done["status"], done["filled"], done["remaining"]) == ("closed", "0.01000000", "0")
        balance = await s.exchange.fetch_balance()
        assert (balance["USDT"]["free"], balance["USDT"]["used"]) == ("700.00000000", "0.00000000")
        assert balance["BTC"]["free"] == "0.50999000"  # 0.5 + 0.01 - 0.1 % fee in BTC


async def test_cancel_releases_funds_and_a_second_cancel_is_order_not_found():
    async with venue_session("binance", FUNDS) as s:
        placed = await place(s)
        canceled = await s.exchange.cancel_order(placed["id"], SYMBOL)
        assert canceled["status"] == "canceled"
        # Binance's cancel reply carries the *cancel request's* id in clientOrderId; ours is origClientOrderId
        assert canceled["info"]["origClientOrderId"] == "cer123" and canceled["clientOrderId"] != "cer123"
        assert (await s.fake.control.balances(s.key))["USDT"] == {"free": "1000", "locked": "0"}
        with pytest.raises(ccxt.OrderNotFound, match="-2011"):
            await s.exchange.cancel_order(placed["id"], SYMBOL)
        with pytest.raises(ccxt.OrderNotFound, match="-2013"):
            await s.exchange.fetch_order("999999", SYMBOL)


async def test_authentication_failures():
    async with venue_session("binance", FUNDS) as s:
        bad_secret = s.exchange_with(secret="0" * 64)
        unknown_key = s.exchange_with(api_key="A" * 64)
        skewed = s.exchange_with()
        skewed.options["timeDifference"] = 60_000  # our clock 60 s behind: outside recvWindow (10 s)
        try:
            for exchange, error, code in ((bad_secret, ccxt.AuthenticationError, "-1022"),
                                          (unknown_key, ccxt.AuthenticationError, "-2015"),
                                          (skewed, ccxt.InvalidNonce, "-1021")):
                exchange.set_markets_from_exchange(s.exchange)
                with pytest.raises(error, match=code):
                    await exchange.fetch_balance()
            await s.exchange.fetch_balance()
            s.exchange.apiKey = "B" * 64
            # after one success, ccxt reads -2015 as a rate-limit ban (binance.handle_errors)
            with pytest.raises(ccxt.DDoSProtection, match="-2015"):
                await s.exchange.fetch_balance()
        finally:
            for exchange in (bad_secret, unknown_key, skewed):
                await exchange.close()


async def test_order_rejections_map_to_ccxt_exceptions():
    async with venue_session("binance", {"USDT": "100"}) as s:
        with pytest.raises(ccxt.InsufficientFunds, match="insufficient balance"):
            await place(s, amount="0.01", price="30000")
        with pytest.raises(ccxt.BadRequest, match="MIN_NOTIONAL"):
            await place(s, amount="0.0001", price="30000")  # 3 USDT < 5: ccxt maps -1013 to BadRequest
        # the venue moves to a coarser tick after ccxt cached the markets: ccxt sends 29000.5 as is
        await s.fake.control.set_market("BTCUSDT", tick="1")
        with pytest.raises(ccxt.InvalidOrder, match="PRICE_FILTER"):
            await place(s, amount="0.001", price="29000.5")
        await s.fake.control.set_market("BTCUSDT", step="0.001")
        with pytest.raises(ccxt.InvalidOrder, match="LOT_SIZE"):
            await place(s, amount="0.0015", price="29000")
        assert await s.fake.control.orders() == []





async def test_failed_placements_are_not_retried_by_ccxt():
    async with venue_session("binance", FUNDS) as s:
        await s.fake.control.fail_next("/api/v3/order", "error", method="POST", status=200,
                                       body='{"code": -1000, "msg": "An unknown error occurred."}')
        with pytest.raises(ccxt.OperationFailed, match="-1000"):  # the class fetch2 retries when allowed
            await place(s)
        await s.fake.control.fail_next("/api/v3/order", "error", method="POST", status=503, body="busy")
        with pytest.raises(ccxt.ExchangeNotAvailable):
            await place(s)
        assert len(await sent_orders(s)) == 2 and await s.fake.control.orders() == []



async def test_served_from_another_process_and_driven_over_http():
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "tests.fakevenue", "binance", "--port", "0",
                                                stdout=asyncio.subprocess.PIPE, cwd=ROOT)
    try:
        async with asyncio.timeout(15):
            url = json.loads(await proc.stdout.readline())["url"]
            assert url.startswith("http://127.0.0.1:")
            control = Control(url)
            await control.add_account("K" * 64, "S" * 64, balances={"USDT": "5"})
            assert await control.balances("K" * 64) == {"USDT": {"free": "5", "locked": "0"}}
    finally:
        proc.terminate()
        await proc.wait()


def test_thread_runner_serves_synchronous_callers():
    fake = FakeVenueThread("binance")
    try:
        with urllib.request.urlopen(fake.url + "/api/v3/time", timeout=5) as reply:
            assert isinstance(json.loads(reply.read())["serverTime"], int)
    finally:
        fake.stop()
