"""ccxt ``htx`` (built by ``make_exchange`` for HUOBI) against the fake HTX spot venue over loopback HTTP.

Same questions as for Binance and OKX, answered for HTX: the request shapes (the spot ``account-id``
looked up once, ``client-order-id`` in a JSON body, the signature over the real host name), the parsed
decimal strings (HTX's 18-decimal order amounts come through as they are), which exception ccxt raises
for each HTX error (several are plain ``ExchangeError``), the shared unknown-outcome and loopback
scenarios, and the public market data (JSON numbers: order books are floats).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import ccxt.async_support as ccxt
import pytest
from tests.fakevenue.book import now_ms
from tests.fakevenue.testing import (
    FUNDS,
    ORDER_PATH,
    SYMBOL,
    check_only_loopback,
    check_unknown_outcome,
    place,
    sent_orders,
    venue_session,
)

ORDER = ORDER_PATH["htx"]
SPOT, POINT = "50000001", "70000001"  # the fake's account ids of its first key
AUTH = ("AccessKeyId", "SignatureMethod", "SignatureVersion", "Timestamp", "Signature")


def business(query: dict[str, str]) -> dict[str, str]:
    """A signed query without its authentication parameters."""
    return {k: v for k, v in query.items() if k not in AUTH}


def floats(node: Any, path: str = "") -> list[str]:
    if isinstance(node, dict):
        return [p for key, value in node.items() if key != "info" for p in floats(value, f"{path}.{key}")]
    if isinstance(node, list):
        return [p for i, value in enumerate(node) for p in floats(value, f"{path}[{i}]")]
    return [path] if isinstance(node, float) else []


async def test_load_markets_reads_spot_symbols_and_public_currencies():
    async with venue_session("htx", FUNDS) as s:
        market = s.exchange.market(SYMBOL)
        assert (market["id"], market["spot"], market["active"], market["margin"]) == ("btcusdt", True, True, False)
        assert market["precision"] == {"amount": "0.00001", "price": "0.01", "cost": "0.00000001"}
        assert (market["limits"]["amount"]["min"], market["limits"]["cost"]["min"]) == ("0.0001", "5")
        assert s.exchange.market("ETH/USDT")["precision"]["amount"] == "0.0001"
        # spot only (make_exchange's fetchMarkets types); htx.fetch_currencies is public and always runs
        assert await s.paths_seen() == ["/v2/reference/currencies", "/v1/common/symbols"]
        assert {"BTC", "USDT", "ETH"} <= set(s.exchange.currencies)
        # HTX sends filters as JSON numbers: ccxt's string is Python's str() of the float
        await s.fake.control.set_market("btcusdt", min_qty="0.00001")
        await s.exchange.load_markets(True)
        assert s.exchange.market(SYMBOL)["limits"]["amount"]["min"] == "1e-05"
        assert isinstance(await s.exchange.fetch_time(), int)


async def test_fetch_balance_looks_up_the_spot_account_once():
    async with venue_session("htx", FUNDS) as s:
        balance = await s.exchange.fetch_balance()
        assert balance["USDT"] == {"free": "1000", "used": "0", "total": "1000"}
        assert balance["BTC"] == {"free": "0.5", "used": "0", "total": "0.5"}
        await place(s)
        balance = await s.exchange.fetch_balance()
        assert balance["USDT"] == {"free": "700", "used": "300", "total": "1000"}
        # the point account is listed first; ccxt picks the spot one by type and caches the list
        assert s.exchange.accounts[0]["type"] == "point"
        assert await s.paths_seen("GET") == ["/v2/reference/currencies", "/v1/common/symbols",
                                             "/v1/account/accounts", f"/v1/account/accounts/{SPOT}/balance",
                                             f"/v1/account/accounts/{SPOT}/balance"]


async def test_create_order_sends_the_spot_account_and_our_client_id_unchanged():
    async with venue_session("htx", FUNDS) as s:
        order = await place(s)
        assert await sent_orders(s) == [{"account-id": SPOT, "symbol": "btcusdt", "type": "buy-limit",
                                         "client-order-id": "cer123", "amount": "0.01", "price": "30000"}]
        # HTX answers a placement with the order id only: ccxt leaves clientOrderId, status and symbol None
        assert (order["id"], order["clientOrderId"], order["status"], order["symbol"], order["filled"]) == (
            "1000", None, None, None, None)
        assert (await s.fake.control.balances(s.key))["USDT"] == {"free": "700", "locked": "300"}
        signed = next(r for r in await s.fake.control.requests() if r["path"] == ORDER)
        assert sorted(signed["query"]) == sorted(AUTH)  # a POST's body is not signed, its query is


async def test_without_client_id_ccxt_sends_its_broker_id():
    async with venue_session("htx", FUNDS) as s:
        await s.exchange.create_order(SYMBOL, "limit", "buy", "0.01", "30000")
        sent = (await sent_orders(s))[0]["client-order-id"]
        assert sent.startswith("AA03022abc") and len(sent) <= 64


async def test_fetch_order_by_id_and_by_client_id_and_open_orders():
    async with venue_session("htx", FUNDS) as s:
        placed = await place(s)
        by_id = await s.exchange.fetch_order(placed["id"], SYMBOL)
        by_cid = await s.exchange.fetch_order_with_client_order_id("cer123", SYMBOL)
        assert by_id["id"] == by_cid["id"] == placed["id"]
        assert (by_cid["clientOrderId"], by_cid["status"], by_cid["side"], by_cid["type"]) == (
            "cer123", "open", "buy", "limit")
        # HTX's own spelling comes through: 18 decimals, "0.0" for nothing filled; remaining is computed
        assert (by_cid["amount"], by_cid["price"], by_cid["filled"], by_cid["cost"], by_cid["remaining"]) == (
            "0.010000000000000000", "30000.000000000000000000", "0.0", "0.0", "0.01")
        assert Decimal(by_cid["amount"]) == Decimal("0.01")
        requests = await s.fake.control.requests()
        assert [(r["path"], business(r["query"])) for r in requests
            if r["method"] == "GET" and r["path"].startswith("/v1/order/orders/")] \
            == [(f"/v1/order/orders/{placed['id']}", {}),
                ("/v1/order/orders/getClientOrder", {"clientOrderId": "cer123"})]  # no symbol: ids are global
        opened = await s.exchange.fetch_open_orders(SYMBOL)
        assert [(o["id"], o["clientOrderId"], o["status"]) for o in opened] == [(placed["id"], "cer123", "open")]
        query = [business(r["query"]) for r in await s.fake.control.requests() if r["path"] == "/v1/order/openOrders"]
        assert query == [{"account-id": SPOT, "symbol": "btcusdt"}]


async def test_partial_then_full_fill_shows_in_trades_order_and_balances():
    async with venue_session("htx", FUNDS) as s:
        placed = await place(s)
        fill = await s.fake.control.fill(placed["id"], "0.004")
        trades = await s.exchange.fetch_my_trades(SYMBOL)
        assert [(t["id"], t["order"], t["side"], t["price"], t["amount"], t["cost"], t["takerOrMaker"])
                for t in trades] == [(str(fill["id"]), placed["id"], "buy", "30000", "0.004", "120", "maker")]
        assert trades[0]["fee"] == {"currency": "BTC", "cost": "0.000004"}
        matched = [business(r["query"]) for r in await s.fake.control.requests()
                   if r["path"] == "/v1/order/matchresults"]
        assert matched == [{"symbol": "btcusdt"}]
        partial = await s.exchange.fetch_order(placed["id"], SYMBOL)
        assert (partial["info"]["state"], partial["status"], partial["remaining"], partial["average"]) == (
            "partial-filled", "open", "0.006", "30000")
        assert Decimal(partial["filled"]) == Decimal("0.004")
        assert partial["fee"] == {"cost": "0.000004000000000000", "currency": "BTC"}  # field-fees: 18 decimals
        assert Decimal((await s.exchange.fetch_open_orders(SYMBOL))[0]["filled"]) == Decimal("0.004")
        await s.fake.control.fill(placed["id"])
        done = await s.exchange.fetch_order(placed["id"], SYMBOL)
        assert (done["status"], done["remaining"], Decimal(done["filled"]), Decimal(done["fee"]["cost"])) == (
            "closed", "0", Decimal("0.01"), Decimal("0.00001"))
        assert done["info"]["finished-at"] > 0 and done["info"]["canceled-at"] == 0
        assert await s.exchange.fetch_open_orders(SYMBOL) == []
        balance = await s.exchange.fetch_balance()
        assert (balance["USDT"]["free"], balance["USDT"]["used"], balance["BTC"]["free"]) == ("700", "0", "0.50999")
        order_trades = await s.exchange.fetch_order_trades(placed["id"], SYMBOL)
        assert [t["amount"] for t in order_trades] == ["0.004", "0.006"]


async def test_a_taker_sell_pays_its_fee_in_the_quote():
    async with venue_session("htx", FUNDS) as s:
        order = await s.exchange.create_order(SYMBOL, "limit", "sell", "0.1", "31000", {"clientOrderId": "cer-s1"})
        assert (await sent_orders(s))[0]["type"] == "sell-limit"
        await s.fake.control.fill(order["id"], maker=False)
        trade = (await s.exchange.fetch_my_trades(SYMBOL))[0]
        assert (trade["side"], trade["takerOrMaker"], trade["cost"], trade["fee"]) == (
            "sell", "taker", "3100", {"currency": "USDT", "cost": "3.1"})
        assert (await s.exchange.fetch_order(order["id"], SYMBOL))["fee"]["currency"] == "USDT"
        assert (await s.exchange.fetch_balance())["USDT"]["free"] == "4096.9"


async def test_cancel_then_cancel_again_and_unknown_orders():
    async with venue_session("htx", FUNDS) as s:
        placed = await place(s)
        canceled = await s.exchange.cancel_order(placed["id"], SYMBOL)
        # ccxt drops the submitcancel reply (the order id) and fills in id and status, nothing else
        assert (canceled["id"], canceled["status"], canceled["clientOrderId"], canceled["filled"]) == (
            placed["id"], "canceled", None, None)
        assert canceled["info"] == {}
        fetched = await s.exchange.fetch_order(placed["id"], SYMBOL)
        assert (fetched["status"], fetched["info"]["state"], fetched["filled"]) == ("canceled", "canceled", "0.0")
        assert (await s.fake.control.balances(s.key))["USDT"] == {"free": "1000", "locked": "0"}
        with pytest.raises(ccxt.OrderNotFound, match=r'order-orderstate-error.*"order-state": 7'):
            await s.exchange.cancel_order(placed["id"], SYMBOL)
        with pytest.raises(ccxt.OrderNotFound, match="base-record-invalid"):
            await s.exchange.fetch_order("999999", SYMBOL)
        with pytest.raises(ccxt.OrderNotFound, match="base-record-invalid"):
            await s.exchange.cancel_order("999999", SYMBOL)
        with pytest.raises(ccxt.OrderNotFound, match="base-record-invalid"):
            await s.exchange.fetch_order_with_client_order_id("nope", SYMBOL)


async def test_a_partly_filled_order_cancels_to_partial_canceled_and_a_filled_one_not_at_all():
    async with venue_session("htx", FUNDS) as s:
        first, second = await place(s, cid="cer-a"), await place(s, cid="cer-b")
        await s.fake.control.fill(first["id"], "0.004")
        await s.exchange.cancel_order(first["id"], SYMBOL)
        partly = await s.exchange.fetch_order(first["id"], SYMBOL)
        assert (partly["info"]["state"], partly["status"], partly["remaining"]) == ("partial-canceled", "canceled",
                                                                                   "0.006")
        assert partly["info"]["canceled-at"] == partly["info"]["finished-at"] > 0
        await s.fake.control.fill(second["id"])
        with pytest.raises(ccxt.OrderNotFound, match='"order-state": 6'):
            await s.exchange.cancel_order(second["id"], SYMBOL)
        assert (await s.fake.control.balances(s.key))["USDT"] == {"free": "580", "locked": "0"}


async def test_cancel_by_client_id_answers_a_status_code_ccxt_reads_as_canceled():
    """``submitCancelClientOrder`` answers ``"status": "ok"`` with a code in ``data`` (10 cancelling, 5/6/7 the
    state of an order that already ended, -1 no such client id); ccxt's htx drops the reply (``info`` is
    ``{}``: it treats a spot market as ``linear`` there) and says ``canceled`` whatever the code."""
    async with venue_session("htx", FUNDS) as s:
        placed = await place(s)
        canceled = await s.exchange.cancel_order(placed["id"], SYMBOL, {"clientOrderId": "cer123"})
        assert (canceled["id"], canceled["status"], canceled["info"]) == (placed["id"], "canceled", {})
        bodies = [r["body"] for r in await s.fake.control.requests()
                  if r["path"] == "/v1/order/orders/submitCancelClientOrder"]
        assert bodies == ['{"client-order-id":"cer123"}']
        assert (await s.exchange.fetch_order(placed["id"], SYMBOL))["status"] == "canceled"
        for cid in ("cer123", "never-used"):
            assert (await s.exchange.cancel_order(placed["id"], SYMBOL, {"clientOrderId": cid}))["status"] == "canceled"
        raw = s.exchange.spotPrivatePostV1OrderOrdersSubmitCancelClientOrder
        assert [(await raw({"client-order-id": cid}))["data"] for cid in ("cer123", "never-used")] == [7, -1]
        other = await place(s, cid="cer-2")
        await s.fake.control.fill(other["id"])
        assert (await raw({"client-order-id": "cer-2"}))["data"] == 6


async def test_a_client_id_is_refused_once_used_even_after_its_order_ended():
    """HTX refuses any reuse of a client-order-id (not only of an open order's, as Binance and OKX do),
    and ccxt raises plain ExchangeError for it: neither InvalidOrder nor DuplicateOrderId."""
    async with venue_session("htx", FUNDS) as s:
        placed = await place(s)
        with pytest.raises(ccxt.ExchangeError, match="invalid-client-order-id") as raised:
            await place(s)
        assert type(raised.value) is ccxt.ExchangeError
        await s.exchange.cancel_order(placed["id"], SYMBOL)
        with pytest.raises(ccxt.ExchangeError, match=r"invalid\.client\.order\.id \(NT\)"):
            await place(s)
        assert len(await s.fake.control.orders()) == 1
        assert len(await sent_orders(s)) == 3  # each refusal sent once, never retried


async def test_order_rejections_map_to_ccxt_exceptions():
    async with venue_session("htx", {"USDT": "100"}) as s:
        with pytest.raises(ccxt.InsufficientFunds, match=r"account-frozen-balance-insufficient-error.*left: `100`"):
            await place(s, amount="0.01", price="30000", cid="c1")
        with pytest.raises(ccxt.InvalidOrder, match=r"order-limitorder-amount-min-error.*min: `0\.0001`"):
            await place(s, amount="0.00005", price="30000", cid="c2")
        with pytest.raises(ccxt.InvalidOrder, match="order-value-min-error"):
            await place(s, amount="0.0001", price="30000", cid="c3")
        await s.fake.control.set_market("btcusdt", tick="1", step="0.001")  # after ccxt cached the markets
        with pytest.raises(ccxt.InvalidOrder, match=r"order-orderprice-precision-error.*scale: `0`"):
            await place(s, amount="0.001", price="29000.5", cid="c4")
        with pytest.raises(ccxt.ExchangeError, match=r"order-orderamount-precision-error.*scale: `3`") as raised:
            await place(s, amount="0.0015", price="29000", cid="c5")
        assert type(raised.value) is ccxt.ExchangeError  # not InvalidOrder: ccxt's table lacks this code
        with pytest.raises(ccxt.ExchangeError, match="account-get-accounts-inexistent-error") as raised:
            await s.exchange.create_order(SYMBOL, "limit", "buy", "0.001", "29000",
                                          {"clientOrderId": "c6", "account-id": POINT})  # overrides ccxt's spot id
        assert type(raised.value) is ccxt.ExchangeError
        with pytest.raises(ccxt.BadSymbol, match="base-symbol-error"):
            await s.exchange.spot_private_post_v1_order_orders_place(
                {"account-id": SPOT, "symbol": "xrpusdt", "type": "buy-limit", "amount": "1", "price": "1"})
        with pytest.raises(ccxt.BadSymbol, match="invalid symbol"):
            await s.exchange.spot_public_get_market_depth({"symbol": "xrpusdt", "type": "step0"})
        assert await s.fake.control.orders() == []


async def test_authentication_failures():
    async with venue_session("htx", FUNDS) as s:
        wrong = [s.exchange_with(secret="0" * 64), s.exchange_with(api_key="k" * 64), s.exchange_with(),
                 s.exchange_with()]
        wrong[2].options["timeDifference"] = 301_000  # our clock 5 min 1 s behind: HTX allows 5 minutes
        wrong[3].urls["hostnames"]["spot"] = "api.hbdm.com"  # signs for another host than the one it reaches
        try:
            for exchange, message in zip(wrong, ("Verification failure", "Incorrect Access key",
                                                 "Invalid submission time", "Verification failure"), strict=True):
                exchange.set_markets_from_exchange(s.exchange)
                with pytest.raises(ccxt.AuthenticationError, match=message) as raised:
                    await exchange.fetch_balance()
                assert not isinstance(raised.value, ccxt.InvalidNonce)
        finally:
            for exchange in wrong:
                await exchange.close()
        right = [s.exchange_with(), s.exchange_with(), s.exchange_with()]
        right[0].options["timeDifference"] = 240_000  # 4 minutes behind: still inside the window
        right[1].urls["hostnames"]["spot"] = "api-aws.huobi.pro"  # HTX's other documented host
        right[2].urls["hostnames"]["spot"] = s.fake.url.removeprefix("http://")  # the host actually reached
        try:
            for exchange in right:
                exchange.set_markets_from_exchange(s.exchange)
                assert (await exchange.fetch_balance())["USDT"]["free"] == "1000"
        finally:
            for exchange in right:
                await exchange.close()


async def test_unsigned_or_tampered_requests_are_refused():
    async with venue_session("htx", FUNDS) as s, aiohttp.ClientSession() as http:
        async with http.get(s.fake.url + "/v1/account/accounts") as response:
            assert (response.status, (await response.json())["err-code"]) == (200, "login-required")
        stamp = ccxt.Exchange.ymdhms(now_ms(), "T")
        params = {"AccessKeyId": s.key, "SignatureMethod": "HmacSHA256", "SignatureVersion": "2",
                  "Timestamp": stamp, "symbol": "btcusdt"}
        query = urlencode(sorted(params.items()), quote_via=quote)
        payload = f"GET\napi.huobi.pro\n/v1/order/openOrders\n{query}"
        signature = base64.b64encode(hmac.new(s.secret.encode(), payload.encode(), hashlib.sha256).digest()).decode()
        signed = f"{s.fake.url}/v1/order/openOrders?{query}&{urlencode({'Signature': signature})}"
        async with http.get(signed) as response:
            assert await response.json() == {"status": "ok", "data": []}
        async with http.get(signed.replace("symbol=btcusdt", "symbol=ethusdt")) as response:
            body = await response.json()
        assert (body["err-code"], body["data"]) == ("api-signature-not-valid", None)


@pytest.mark.parametrize("mode", ["hang_after", "hang_before", "drop", "drop_after"])
async def test_unknown_outcome_of_a_placement_is_sent_once(mode):
    await check_unknown_outcome("htx", mode)


async def test_rest_url_keeps_every_request_on_loopback():
    await check_only_loopback("htx")


async def test_number_str_leaves_no_float_in_orders_trades_and_balances():
    async with venue_session("htx", {"USDT": "1000"}) as s:
        order = await place(s)
        await s.fake.control.fill(order["id"], "0.004")
        parsed = {
            "order": await s.exchange.fetch_order(order["id"], SYMBOL),
            "open": await s.exchange.fetch_open_orders(SYMBOL),
            "trades": await s.exchange.fetch_my_trades(SYMBOL),
            "balance": await s.exchange.fetch_balance(),
            "canceled": await s.exchange.cancel_order(order["id"], SYMBOL),
        }
        assert floats(parsed) == []


async def test_public_ticker_book_trades_and_candles():
    async with venue_session("htx", FUNDS) as s:
        control = s.fake.control
        await control.set_book("btcusdt", [("29990", "1.5"), ("29980.5", "2")], [("30010", "0.25")])
        start = (now_ms() // 60_000 - 3) * 60_000
        await control.public_trade("btcusdt", "30000", "0.1", "buy", time=start + 1_000)
        await control.public_trade("btcusdt", "30005.5", "0.2", "sell", time=start + 61_000)
        placed = await place(s, price="29995")
        await control.fill(placed["id"], "0.004", maker=False)  # our buy took: a public trade, taker buy
        ticker = await s.exchange.fetch_ticker(SYMBOL)
        assert (ticker["bid"], ticker["bidVolume"], ticker["ask"], ticker["askVolume"]) == ("29995", "0.006", "30010",
                                                                                           "0.25")
        assert (ticker["open"], ticker["high"], ticker["low"], ticker["last"]) == ("30000", "30005.5", "29995", "29995")
        assert (ticker["baseVolume"], ticker["quoteVolume"]) == ("0.304", "9121.08")
        book = await s.exchange.fetch_order_book(SYMBOL)
        # JSON numbers: ccxt's order book holds floats even with number=str
        assert book["bids"] == [[29995.0, 0.006], [29990.0, 1.5], [29980.5, 2.0]] and book["asks"] == [[30010.0, 0.25]]
        assert book["nonce"] == s.fake.venue.versions["btcusdt"]
        assert len((await s.exchange.fetch_order_book(SYMBOL, 5))["bids"]) == 3
        with pytest.raises(ccxt.BadRequest):
            await s.exchange.fetch_order_book(SYMBOL, 50)  # ccxt allows 5, 10, 20 or 150 (default)
        trades = await s.exchange.fetch_trades(SYMBOL)
        assert [(t["price"], t["amount"], t["side"]) for t in trades] == [
            ("30000", "0.1", "buy"), ("30005.5", "0.2", "sell"), ("29995", "0.004", "buy")]
        candles = await s.exchange.fetch_ohlcv(SYMBOL, "1m")
        assert candles[:3] == [[start, "30000", "30000", "30000", "30000", "0.1"],
                               [start + 60_000, "30005.5", "30005.5", "30005.5", "30005.5", "0.2"],
                               [start + 120_000, "30005.5", "30005.5", "30005.5", "30005.5", "0"]]
        assert candles[-1][4:] == ["29995", "0.004"]
        later = await s.exchange.fetch_ohlcv(SYMBOL, "1m", since=start + 60_000, limit=2)
        assert [c[0] for c in later] == [start + 60_000, start + 120_000]
        latest = await s.exchange.fetch_ohlcv(SYMBOL, "1m", params={"useHistoricalEndpointForSpot": False})
        assert latest == candles
        queries = [(r["path"], r["query"]) for r in await control.requests() if r["path"].startswith("/market/")]
        assert queries[-3:] == [
            ("/market/history/candles", {"period": "1min", "symbol": "btcusdt"}),
            ("/market/history/candles", {"period": "1min", "symbol": "btcusdt", "from": str((start + 60_000) // 1000),
                                         "size": "2"}),
            ("/market/history/kline", {"period": "1min", "symbol": "btcusdt"})]
        assert ("/market/history/trade", {"size": "1000", "symbol": "btcusdt"}) in queries
