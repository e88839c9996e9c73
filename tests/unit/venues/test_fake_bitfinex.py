"""ccxt ``bitfinex`` (built by ``make_exchange`` for BITFINEX) against the fake Bitfinex v2 venue over loopback HTTP.

Same questions as for Binance, OKX and HTX, answered for Bitfinex: the request shapes (positional replies,
a signed amount, ``cid`` as ccxt passes it), what ccxt makes of them (significant-digit precision, Tether as
``UST``), which exception ccxt raises for each Bitfinex error, and what ccxt cannot do here: Ceres' client
ids (``cer<digits>``) are not Bitfinex client ids (an int45), ``fetch_order_with_client_order_id`` fails in
ccxt before sending anything, and ``fetch_order`` sees active orders only. The shared loopback scenario
runs with an integer client id; the unknown-outcome one is rebuilt from the lookups that do work.

ccxt's throttle spaces Bitfinex calls by 675 ms (``rateLimit`` 250 x cost 2.7), so the sessions here turn it
off once made (``session``); ``test_rest_url_keeps_every_request_on_loopback`` keeps it.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal, InvalidOperation
from typing import Any

import aiohttp
import ccxt.async_support as ccxt
import pytest
from tests.fakevenue import testing
from tests.fakevenue.bitfinex import utc_date
from tests.fakevenue.book import now_ms
from tests.fakevenue.testing import FUNDS, ORDER_PATH, SYMBOL, Session, check_only_loopback, sent_orders, venue_session
from tests.unit.venues.test_factory import floats

ORDER = ORDER_PATH["bitfinex"]
PAIR = "tBTCUST"
CONF_CURRENCIES = ("/v2/conf/pub:list:currency,pub:map:currency:sym,pub:map:currency:label,pub:map:currency:unit,"
                   "pub:map:currency:undl,pub:map:currency:pool,pub:map:currency:explorer,pub:map:currency:tx:fee,"
                   "pub:map:tx:method,pub:info:tx:status,pub:list:currency:margin")
CONF_MARKETS = "/v2/conf/pub:info:pair,pub:info:pair:futures,pub:list:pair:securities,pub:list:pair:margin"


@asynccontextmanager
async def session(balances: dict[str, str], **kwargs: Any) -> AsyncIterator[Session]:
    """``venue_session`` without ccxt's 675 ms spacing of Bitfinex calls."""
    async with venue_session("bitfinex", balances, load_markets=False, **kwargs) as s:
        s.exchange.enableRateLimit = False
        await s.exchange.load_markets()
        yield s


def other(s: Session, **overrides: Any) -> Any:
    """Another exchange on the same fake with the loaded markets and no throttle; closed by the caller."""
    exchange = s.exchange_with(**overrides)
    exchange.enableRateLimit = False
    exchange.set_markets_from_exchange(s.exchange)
    return exchange


async def place(s: Session, amount: str = "0.01", price: str = "30000", cid: Any = 123, side: str = "buy") -> Any:
    return await s.exchange.create_order(SYMBOL, "limit", side, amount, price, {"clientOrderId": cid})


async def bodies(s: Session, path: str) -> list[Any]:
    return [json.loads(r["body"]) for r in await s.fake.control.requests() if r["path"] == path]


def sign(secret: str, path: str, nonce: int, body: str) -> str:
    return hmac.new(secret.encode(), f"/api{path}{nonce}{body}".encode(), hashlib.sha384).hexdigest()


async def test_load_markets_reads_the_conf_labels_with_significant_digit_precision():
    async with session(FUNDS) as s:
        market = s.exchange.market(SYMBOL)
        assert (market["id"], market["baseId"], market["quoteId"], market["spot"], market["active"]) == (
            PAIR, "BTC", "UST", True, True)
        # SIGNIFICANT_DIGITS (3): the price precision is a count of significant digits, the amount one of
        # decimals, both ints (ccxt's int('5'), int('8')) whatever number=str says
        assert s.exchange.precisionMode == 3
        assert market["precision"] == {"amount": 8, "price": 5}
        assert market["limits"]["amount"] == {"min": "0.00004", "max": "2000.0"}  # the venue's strings
        assert market["limits"]["price"] == {"min": "1e-8", "max": None}  # ccxt's parse_number('1e-8')
        assert (market["taker"], market["maker"], market["margin"]) == (0.002, 0.001, True)
        assert s.exchange.market("ETH/USDT")["limits"]["amount"]["min"] == "0.0008"
        assert sorted(s.exchange.markets) == ["BTC/USDT", "ETH/USDT"]
        usdt = s.exchange.currencies["USDT"]
        assert (usdt["id"], usdt["name"], usdt["fee"], list(usdt["networks"])) == ("UST", "Tether USDt", "1.5",
                                                                                   ["ERC20"])
        assert await s.paths_seen() == [CONF_CURRENCIES, CONF_MARKETS]
        assert (await s.exchange.fetch_status())["status"] == "ok"
        # a filter changed at the venue shows after a reload
        await s.fake.control.set_market(PAIR, min_qty="0.0002")
        await s.exchange.load_markets(True)
        assert s.exchange.market(SYMBOL)["limits"]["amount"]["min"] == "0.0002"


async def test_fetch_balance_reads_the_exchange_wallets():
    async with session(FUNDS) as s:
        balance = await s.exchange.fetch_balance()
        assert balance["USDT"] == {"free": "1000", "used": "0", "total": "1000"}
        assert balance["BTC"] == {"free": "0.5", "used": "0", "total": "0.5"}
        await place(s)
        balance = await s.exchange.fetch_balance()
        assert balance["USDT"] == {"free": "700", "used": "300", "total": "1000"}  # used = total - available
        assert balance["info"] == [["exchange", "BTC", 0.5, 0, 0.5, None, None],
                                   ["exchange", "UST", 1000, 0, 700, None, None]]
        wallets = [r for r in await s.fake.control.requests() if r["path"] == "/v2/auth/r/wallets"]
        assert [(r["method"], r["body"]) for r in wallets] == [("POST", "{}")] * 2


async def test_create_order_sends_a_signed_amount_and_the_client_id_unchanged():
    async with session(FUNDS) as s:
        order = await place(s)
        sold = await place(s, amount="0.1", price="31000", cid=124, side="sell")
        assert await sent_orders(s) == [
            {"symbol": PAIR, "amount": "0.01", "price": "30000", "type": "EXCHANGE LIMIT", "cid": 123},
            {"symbol": PAIR, "amount": "-0.1", "price": "31000", "type": "EXCHANGE LIMIT", "cid": 124}]
        # the reply holds the order: ccxt returns it whole, clientOrderId as a string
        assert (order["id"], order["clientOrderId"], order["status"], order["symbol"], order["side"]) == (
            "120000000000", "123", "open", SYMBOL, "buy")
        assert (order["amount"], order["filled"], order["remaining"], order["price"], order["average"]) == (
            "0.01", "0", "0.01", "30000", None)
        assert (order["type"], order["timeInForce"], order["postOnly"]) == ("limit", "GTC", False)
        assert len(order["info"]) == 32 and order["info"][13] == "ACTIVE"
        assert (sold["side"], sold["amount"], sold["info"][6]) == ("sell", "0.1", -0.1)
        balances = await s.fake.control.balances(s.key)
        assert (balances["USDT"], balances["BTC"]) == ({"free": "700", "locked": "300"},
                                                        {"free": "0.4", "locked": "0.1"})
        request = next(r for r in await s.fake.control.requests() if r["path"] == ORDER)
        headers = {k.lower(): v for k, v in request["headers"].items()}
        assert headers["bfx-apikey"] == s.key and headers["content-type"] == "application/json"
        assert headers["bfx-signature"] == sign(s.secret, ORDER, int(headers["bfx-nonce"]), request["body"])


async def test_without_a_client_id_none_is_sent_and_the_venue_uses_the_creation_time():
    async with session(FUNDS) as s:
        order = await s.exchange.create_order(SYMBOL, "limit", "buy", "0.01", "30000")
        assert "cid" not in (await sent_orders(s))[0]  # no broker id added by ccxt's bitfinex
        assert order["clientOrderId"] == str(order["info"][4]) == str(order["timestamp"])


async def test_ceres_client_ids_are_refused_as_bitfinex_wants_an_int45():
    """Ceres passes ``clientOrderId="cer<oid>"``; ccxt puts it as it is in ``cid`` and Bitfinex answers
    ``cid: invalid`` (10020, ccxt BadRequest): nothing is placed. Only an integer below 2^45 is a cid; a
    reused one is taken (Bitfinex does not enforce uniqueness)."""
    async with session(FUNDS) as s:
        for cid in ("cer123", "123", 1 << 45, 0):
            with pytest.raises(ccxt.BadRequest, match="cid: invalid") as raised:
                await place(s, cid=cid)
            assert type(raised.value) is ccxt.BadRequest
        assert [b["cid"] for b in await sent_orders(s)] == ["cer123", "123", 1 << 45, 0]
        assert await s.fake.control.orders() == []
        first, again = await place(s), await place(s)
        assert first["clientOrderId"] == again["clientOrderId"] == "123" and first["id"] != again["id"]


async def test_fetch_order_sees_active_orders_only_and_closed_ones_need_fetch_closed_order():
    async with session(FUNDS) as s:
        placed = await place(s)
        fetched = await s.exchange.fetch_order(placed["id"], SYMBOL)
        assert (fetched["id"], fetched["clientOrderId"], fetched["status"], fetched["remaining"]) == (
            placed["id"], "123", "open", "0.01")
        assert await bodies(s, f"/v2/auth/r/orders/{PAIR}") == [{"id": [int(placed["id"])]}]
        opened = await s.exchange.fetch_open_orders(SYMBOL)
        assert [(o["id"], o["clientOrderId"], o["status"]) for o in opened] == [(placed["id"], "123", "open")]
        assert [o["id"] for o in await s.exchange.fetch_open_orders()] == [placed["id"]]  # /v2/auth/r/orders
        with pytest.raises(ccxt.OrderNotFound):
            await s.exchange.fetch_closed_order(placed["id"], SYMBOL)  # not finished: not in the history
        await s.fake.control.fill(placed["id"])
        # the active list no longer has it: ccxt's fetch_order parses the empty reply into an empty order
        gone = await s.exchange.fetch_order(placed["id"], SYMBOL)
        assert (gone["id"], gone["status"], gone["clientOrderId"], gone["filled"], gone["info"]) == (
            None, None, None, None, None)
        with pytest.raises(ccxt.OrderNotFound):
            await s.exchange.fetch_open_order(placed["id"], SYMBOL)
        closed = await s.exchange.fetch_closed_order(placed["id"], SYMBOL)
        assert (closed["id"], closed["status"], closed["filled"], closed["remaining"], closed["average"]) == (
            placed["id"], "closed", "0.01", "0", "30000")
        assert closed["info"][13] == "EXECUTED @ 30000.0(0.01)"
        assert await bodies(s, f"/v2/auth/r/orders/{PAIR}/hist") == [{"id": [int(placed["id"])]}] * 2
        assert [o["id"] for o in await s.exchange.fetch_closed_orders(SYMBOL)] == [placed["id"]]
        assert await s.exchange.fetch_open_orders(SYMBOL) == []


async def test_partial_then_full_fill_with_maker_and_taker_fees():
    async with session(FUNDS) as s:
        placed = await place(s)
        first = await s.fake.control.fill(placed["id"], "0.004")
        partial = await s.exchange.fetch_order(placed["id"], SYMBOL)
        assert (partial["status"], partial["filled"], partial["remaining"], partial["average"], partial["fee"]) == (
            "open", "0.004", "0.006", "30000", None)  # no fee in Bitfinex's order arrays
        assert partial["info"][13] == "PARTIALLY FILLED @ 30000.0(0.004)"
        trades = await s.exchange.fetch_my_trades(SYMBOL)
        assert [(t["id"], t["order"], t["side"], t["price"], t["amount"], t["cost"], t["takerOrMaker"], t["type"])
                for t in trades] == [(str(first["id"]), placed["id"], "buy", "30000", "0.004", "120", "maker", "limit")]
        assert trades[0]["fee"] == {"cost": "0.000004", "currency": "BTC"}  # 0.1 % of what the buy receives
        assert trades[0]["info"][8:] == [1, -4e-06, "BTC", 123]
        await s.fake.control.fill(placed["id"], maker=False)
        done = await s.exchange.fetch_closed_order(placed["id"], SYMBOL)
        assert (done["status"], done["filled"], done["remaining"]) == ("closed", "0.01", "0")
        assert done["info"][13] == "EXECUTED @ 30000.0(0.006): was PARTIALLY FILLED @ 30000.0(0.004)"
        trades = await s.exchange.fetch_my_trades(SYMBOL, placed["timestamp"] - 60_000)
        assert [(t["amount"], t["takerOrMaker"], t["fee"]["cost"]) for t in trades] == [
            ("0.004", "maker", "0.000004"), ("0.006", "taker", "0.000012")]  # the taker pays 0.2 %
        sent = await bodies(s, f"/v2/auth/r/trades/{PAIR}/hist")
        assert set(sent[0]) == {"end"} and set(sent[1]) == {"end", "start"}  # ccxt always sends end = now
        assert [t["id"] for t in await s.exchange.fetch_order_trades(placed["id"], SYMBOL)] == [t["id"] for t in trades]
        balance = await s.exchange.fetch_balance()
        assert (balance["USDT"]["total"], balance["BTC"]["total"]) == ("700", "0.509984")
        sold = await place(s, amount="0.1", price="31000", cid=7, side="sell")
        await s.fake.control.fill(sold["id"], maker=False)
        trade = (await s.exchange.fetch_my_trades(SYMBOL))[-1]
        assert (trade["side"], trade["cost"], trade["fee"], trade["info"][4]) == (
            "sell", "3100", {"cost": "6.2", "currency": "USDT"}, -0.1)  # fee currency UST, ccxt's USDT
        assert (await s.exchange.fetch_closed_order(sold["id"], SYMBOL))["info"][13] == "EXECUTED @ 31000.0(-0.1)"


async def test_cancel_replies_with_the_order_still_active():
    """Bitfinex answers a cancel "Submitted for cancellation; waiting for confirmation" with the order as it
    was: ccxt's cancel_order says ``open``. The history has it canceled; a second cancel is OrderNotFound."""
    async with session(FUNDS) as s:
        placed = await place(s)
        await s.fake.control.fill(placed["id"], "0.004")
        canceled = await s.exchange.cancel_order(placed["id"], SYMBOL)
        assert (canceled["id"], canceled["status"], canceled["filled"], canceled["remaining"]) == (
            placed["id"], "open", "0.004", "0.006")
        assert await bodies(s, "/v2/auth/w/order/cancel") == [{"id": int(placed["id"])}]
        ended = await s.exchange.fetch_closed_order(placed["id"], SYMBOL)
        assert (ended["status"], ended["filled"], ended["remaining"], ended["info"][13]) == (
            "canceled", "0.004", "0.006", "CANCELED was: PARTIALLY FILLED @ 30000.0(0.004)")
        assert (await s.fake.control.balances(s.key))["USDT"] == {"free": "880", "locked": "0"}
        for order_id in (placed["id"], "999999"):
            with pytest.raises(ccxt.OrderNotFound, match=r"Order not found\."):
                await s.exchange.cancel_order(order_id, SYMBOL)
        other_order = await place(s, cid=77)
        await s.fake.control.fill(other_order["id"])
        with pytest.raises(ccxt.OrderNotFound):
            await s.exchange.cancel_order(other_order["id"], SYMBOL)  # executed: no longer active


async def test_cancel_by_client_id_needs_its_date():
    async with session(FUNDS) as s:
        placed = await place(s, cid=555)
        with pytest.raises(ccxt.InvalidOrder, match="cid_date"):
            await s.exchange.cancel_order(placed["id"], SYMBOL, {"clientOrderId": 555})  # raised before sending
        day = utc_date(placed["timestamp"])
        with pytest.raises(ccxt.OrderNotFound):
            await s.exchange.cancel_order("", SYMBOL, {"clientOrderId": 555, "cidDate": "2001-01-01"})
        canceled = await s.exchange.cancel_order("", SYMBOL, {"clientOrderId": 555, "cidDate": day})
        assert (canceled["id"], canceled["clientOrderId"]) == (placed["id"], "555")
        # ccxt sends cid and cid_date, and leaves its own cidDate param in the body too
        assert await bodies(s, "/v2/auth/w/order/cancel") == [
            {"cid": 555, "cid_date": "2001-01-01", "cidDate": "2001-01-01"},
            {"cid": 555, "cid_date": day, "cidDate": day}]
        assert (await s.exchange.fetch_closed_order(placed["id"], SYMBOL))["status"] == "canceled"


async def test_ccxt_cannot_fetch_an_order_by_client_id_but_the_venue_can():
    """``fetch_order_with_client_order_id`` is ccxt's generic ``fetch_order('', ...)``; bitfinex.fetch_order
    turns ``''`` into a number and dies with decimal.InvalidOperation (not a ccxt error) before any request.
    The venue itself filters by ``cid`` + ``cid_date`` (active orders only)."""
    async with session(FUNDS) as s:
        placed = await place(s)
        await s.fake.control.clear_requests()
        with pytest.raises(InvalidOperation):
            await s.exchange.fetch_order_with_client_order_id("123", SYMBOL)
        assert await s.fake.control.requests() == []
        day = utc_date(placed["timestamp"])
        raw = s.exchange.private_post_auth_r_orders_symbol
        found = await raw({"symbol": PAIR, "cid": 123, "cid_date": day})
        assert [row[0] for row in found] == [int(placed["id"])]
        assert await raw({"symbol": PAIR, "cid": 123, "cid_date": "2001-01-01"}) == []
        with pytest.raises(ccxt.BadRequest, match="cid_date: invalid"):
            await raw({"symbol": PAIR, "cid": 123})
        with pytest.raises(ccxt.BadRequest, match="cid: invalid"):
            await raw({"symbol": PAIR, "cid": "cer123", "cid_date": day})
        await s.exchange.cancel_order(placed["id"], SYMBOL)
        assert await raw({"symbol": PAIR, "cid": 123, "cid_date": day}) == []  # finished: in the history only


@pytest.mark.parametrize("mode", ["hang_after", "hang_before", "drop", "drop_after"])
async def test_unknown_outcome_of_a_placement_is_sent_once_and_found_by_cid(mode):
    """The shared ``check_unknown_outcome`` looks the order up with ``fetch_order_with_client_order_id``, which
    ccxt cannot do here: the same scenario with the lookups that work (the cid filter, the open orders)."""
    applied = mode.endswith("_after")
    error = ccxt.RequestTimeout if mode.startswith("hang") else ccxt.ExchangeNotAvailable
    async with session(FUNDS, timeout_ms=400) as s:
        await s.fake.control.fail_next(ORDER, mode, method="POST", seconds=1.5)
        day = utc_date(now_ms())
        with pytest.raises(ccxt.NetworkError) as raised:
            await place(s)
        assert type(raised.value) is error
        found = await s.exchange.private_post_auth_r_orders_symbol({"symbol": PAIR, "cid": 123, "cid_date": day})
        assert [row[2] for row in found] == ([123] if applied else [])
        open_ids = [o["clientOrderId"] for o in await s.exchange.fetch_open_orders(SYMBOL)]
        assert open_ids == (["123"] if applied else [])
        assert len(await sent_orders(s)) == 1


async def test_order_rejections_map_to_ccxt_exceptions():
    async with session({"USDT": "100"}) as s:
        with pytest.raises(ccxt.InsufficientFunds,
                           match=r"not enough exchange balance for 0\.01 tBTCUST at 30000\.0"):
            await place(s)
        # every 10001 outside ccxt's broad table is PermissionDenied, an AuthenticationError
        with pytest.raises(ccxt.PermissionDenied, match=r"minimum size for BTC/UST is 0\.00004") as raised:
            await place(s, amount="0.00003")
        assert isinstance(raised.value, ccxt.AuthenticationError)
        with pytest.raises(ccxt.PermissionDenied, match=r"maximum size for BTC/UST is 2000"):
            await place(s, amount="2000.1", price="1")
        raw = s.exchange.private_post_auth_w_order_submit
        order = {"symbol": PAIR, "type": "EXCHANGE LIMIT", "amount": "0.001", "price": "30000"}
        with pytest.raises(ccxt.BadSymbol, match="symbol: invalid"):
            await raw(order | {"symbol": "tXRPUST"})
        with pytest.raises(ccxt.PermissionDenied, match="Invalid price: must be positive"):
            await raw(order | {"price": "0"})
        for field, value in (("amount", "0"), ("amount", "0.000000001"), ("type", "EXCHANGE MARKET"),
                             ("flags", -1)):
            with pytest.raises(ccxt.BadRequest, match=f"{field}: invalid") as raised:
                await raw(order | {field: value})
            assert type(raised.value) is ccxt.BadRequest
        assert await s.fake.control.orders() == []


async def test_a_price_beyond_5_significant_digits_is_refused_and_ccxt_rounds_before_sending():
    """The real venue rounds such a price; the fake refuses it (BadRequest) so that a test can show it was
    never sent. ccxt's price_to_precision rounds to 5 significant digits itself (30000.5 -> 30001), then
    truncates to 8 decimals; amounts are truncated to 8 decimals."""
    async with session(FUNDS) as s:
        raw = s.exchange.private_post_auth_w_order_submit
        order = {"symbol": PAIR, "type": "EXCHANGE LIMIT", "amount": "0.001"}
        for price, why in (("30000.5", "30000.5 has more than 5 significant digits"),
                           ("123456", "123456 has more than 5 significant digits"),
                           ("1.234567", "1.234567 has more than 5 significant digits"),
                           ("0.000000001", "0.000000001 has more than 8 decimals")):
            with pytest.raises(ccxt.BadRequest, match=rf"price: invalid \({why}\)"):
                await raw(order | {"price": price})
        assert await s.fake.control.orders() == []
        assert (await raw(order | {"price": "0.00012345"}))[6] == "SUCCESS"  # 5 digits, 8 decimals
        assert (await raw(order | {"price": "30001"}))[6] == "SUCCESS"
        rounded = await place(s, amount="0.0123456789", price="30000.5")
        assert (await sent_orders(s))[-1] | {"cid": 0} == {"symbol": PAIR, "amount": "0.01234567", "price": "30001",
                                                           "type": "EXCHANGE LIMIT", "cid": 0}
        assert (rounded["price"], rounded["amount"]) == ("30001", "0.01234567")


async def test_authentication_failures_and_nonces():
    async with session(FUNDS) as s:
        wrong = [other(s, secret="0" * 64), other(s, api_key="k" * 64)]
        try:
            for exchange, message in zip(wrong, ("apikey: digest invalid", "apikey: invalid"), strict=True):
                with pytest.raises(ccxt.AuthenticationError, match=message) as raised:
                    await exchange.fetch_balance()
                assert type(raised.value) is ccxt.AuthenticationError
        finally:
            for exchange in wrong:
                await exchange.close()
        # a second instance with the same key (its own nonce counter) sending a nonce already used
        await s.exchange.fetch_balance()
        late = other(s)
        last = s.fake.venue.nonces[s.key]
        late.nonce = lambda: last
        try:
            with pytest.raises(ccxt.InvalidNonce, match="nonce: small"):
                await late.create_order(SYMBOL, "limit", "buy", "0.01", "30000", {"clientOrderId": 9})
            assert await s.fake.control.orders() == []
            # its counter moved on (lastNonce + 1, above the venue's): the next request passes
            assert (await late.fetch_balance())["USDT"]["free"] == "1000"
            assert s.fake.venue.nonces[s.key] == last + 1
        finally:
            await late.close()
        assert isinstance(ccxt.InvalidNonce("x"), ccxt.NetworkError)  # ccxt ranks it a network error
        assert (await s.exchange.fetch_balance())["USDT"]["free"] == "1000"


async def test_unsigned_tampered_and_replayed_requests_are_refused_with_http_500():
    async with session(FUNDS) as s, aiohttp.ClientSession() as http:
        url = s.fake.url + "/v2/auth/r/wallets"
        async with http.post(url, data="{}") as response:
            assert (response.status, await response.json()) == (500, ["error", 10100, "apikey: invalid"])
        nonce = now_ms() * 1000  # far above ccxt's millisecond nonces
        body = '{"a":1}'
        headers = {"bfx-apikey": s.key, "bfx-nonce": str(nonce), "Content-Type": "application/json",
                   "bfx-signature": sign(s.secret, "/v2/auth/r/wallets", nonce, body)}
        async with http.post(url, data='{"a":2}', headers=headers) as response:  # body changed after signing
            assert (response.status, await response.json()) == (500, ["error", 10100, "apikey: digest invalid"])
        assert (await s.exchange.fetch_balance())["BTC"]["free"] == "0.5"  # a refused request used no nonce
        async with http.post(url, data=body, headers=headers) as response:
            assert response.status == 200 and (await response.json())[0][0] == "exchange"
        async with http.post(url, data=body, headers=headers) as response:  # replayed
            assert (response.status, await response.json()) == (500, ["error", 10114, "nonce: small"])
        with pytest.raises(ccxt.InvalidNonce, match="nonce: small"):
            await s.exchange.fetch_balance()  # ccxt's milliseconds are now below the key's last nonce


async def test_rest_url_keeps_every_request_on_loopback(monkeypatch):
    """The shared scenario, with an integer client id (Bitfinex refuses Ceres' ``cer123``)."""
    monkeypatch.setattr(testing, "place", functools.partial(testing.place, cid=123))
    await check_only_loopback("bitfinex")


async def test_number_str_leaves_no_float_in_orders_trades_and_balances():
    async with session(FUNDS) as s:
        order = await place(s, amount="0.00005", price="0.00012345")
        await s.fake.control.fill(order["id"], "0.00001", maker=False)
        parsed = {
            "order": await s.exchange.fetch_order(order["id"], SYMBOL),
            "open": await s.exchange.fetch_open_orders(SYMBOL),
            "trades": await s.exchange.fetch_my_trades(SYMBOL),
            "balance": await s.exchange.fetch_balance(),
            "canceled": await s.exchange.cancel_order(order["id"], SYMBOL),
            "closed": await s.exchange.fetch_closed_order(order["id"], SYMBOL),
        }
        assert floats(parsed) == []
        # JSON numbers below 1e-4 reach ccxt as Python writes floats ("2e-08"); Precise normalises them
        assert parsed["trades"][0]["fee"] == {"cost": "0.00000002", "currency": "BTC"}
        assert parsed["trades"][0]["info"][9] == -2e-08
        assert (parsed["order"]["amount"], parsed["order"]["remaining"], parsed["order"]["filled"]) == (
            "0.00005", "0.00004", "0.00001")
        assert parsed["order"]["price"] == "0.00012345"


async def test_public_ticker_book_trades_and_candles():
    async with session(FUNDS) as s:
        control = s.fake.control
        await control.set_book(PAIR, [("29990", "1.5"), ("29980", "2")], [("30010", "0.25")])
        start = (now_ms() // 60_000 - 3) * 60_000
        await control.public_trade(PAIR, "30000", "0.1", "buy", time=start + 1_000)
        await control.public_trade(PAIR, "30005", "0.2", "sell", time=start + 121_000)  # no trade in minute 2
        placed = await place(s, price="29995")
        await control.fill(placed["id"], "0.004", maker=False)  # our buy took: a taker buy on the tape
        ticker = await s.exchange.fetch_ticker(SYMBOL)
        assert (ticker["bid"], ticker["ask"], ticker["last"], ticker["high"], ticker["low"]) == (
            "29995", "30010", "29995", "30005", "29995")
        assert (ticker["change"], ticker["percentage"], ticker["open"], ticker["baseVolume"]) == (
            "-5", "-0.02", "30000", "0.304")  # percentage: the relative change (-0.0002, 4 decimals) x 100
        assert ticker["info"][:4] == [29995, 3.506, 30010, 0.25]  # sizes: the 25 best levels together
        assert (await s.exchange.fetch_tickers([SYMBOL]))[SYMBOL]["last"] == "29995"
        book = await s.exchange.fetch_order_book(SYMBOL)  # R0, ccxt's default: one row per order
        assert book["bids"] == [["29995", "0.006"], ["29990", "1.5"], ["29980", "2"]]
        assert book["asks"] == [["30010", "0.25"]]
        raw = await s.exchange.public_get_book_symbol_precision({"symbol": PAIR, "precision": "R0"})
        assert [row[0] for row in raw][:1] == [int(placed["id"])] and raw[-1][2] == -0.25
        await place(s, price="29990", cid=2)
        levels = await s.exchange.fetch_order_book(SYMBOL, 1, {"precision": "P0"})
        assert (levels["bids"], levels["asks"]) == ([["29995", "0.006"]], [["30010", "0.25"]])
        p0 = await s.exchange.public_get_book_symbol_precision({"symbol": PAIR, "precision": "P0"})
        assert p0 == [[29995, 1, 0.006], [29990, 2, 1.51], [29980, 1, 2], [30010, 1, -0.25]]  # [PRICE, COUNT, ±AMOUNT]
        with pytest.raises(ccxt.BadRequest, match="len: invalid"):
            await s.exchange.fetch_order_book(SYMBOL, 50)  # 1, 25 or 100
        trades = await s.exchange.fetch_trades(SYMBOL)
        assert [(t["price"], t["amount"], t["side"]) for t in trades] == [
            ("30000", "0.1", "buy"), ("30005", "0.2", "sell"), ("29995", "0.004", "buy")]
        assert [t["id"] for t in await s.exchange.fetch_trades(SYMBOL, start + 60_000, 1)] == [trades[1]["id"]]
        candles = await s.exchange.fetch_ohlcv(SYMBOL, "1m")  # [MTS, OPEN, HIGH, LOW, CLOSE, VOLUME] from ccxt
        assert candles[:2] == [[start, "30000", "30000", "30000", "30000", "0.1"],
                               [start + 120_000, "30005", "30005", "30005", "30005", "0.2"]]  # no empty minute
        assert candles[-1][4:] == ["29995", "0.004"] and len(candles) == 3
        later = await s.exchange.fetch_ohlcv(SYMBOL, "1m", since=start + 60_000, limit=1)
        assert [c[0] for c in later] == [start + 120_000]
        last = await s.exchange.public_get_candles_trade_timeframe_symbol_last({"timeframe": "1m", "symbol": PAIR})
        assert last[1:] == [29995, 29995, 29995, 29995, 0.004]  # one candle: [MTS, OPEN, CLOSE, HIGH, LOW, VOLUME]
        queries = [(r["path"], r["query"]) for r in await control.requests() if r["path"].startswith("/v2/candles/")]
        assert queries[:2] == [(f"/v2/candles/trade:1m:{PAIR}/hist", {"limit": "100"}),  # ccxt's default
                               (f"/v2/candles/trade:1m:{PAIR}/hist",
                                {"limit": "1", "start": str(start + 60_000), "sort": "1"})]
        seen = [(r["path"], r["query"]) for r in await control.requests()]
        assert (f"/v2/trades/{PAIR}/hist", {"sort": "-1"}) in seen
        with pytest.raises(ccxt.BadRequest, match="key: invalid"):
            await s.exchange.fetch_ohlcv(SYMBOL, "1M")  # calendar months: not in this fake
        with pytest.raises(ccxt.BadSymbol, match="symbol: invalid"):
            await s.exchange.public_get_ticker_symbol({"symbol": "tXRPUST"})
        assert Decimal(ticker["bid"]) < Decimal(ticker["ask"])
