"""ccxt ``okx`` (built by ``make_exchange``) against the fake OKX v5 venue over loopback HTTP.

Same questions as for Binance, answered for OKX: the request shapes (JSON bodies, ``clOrdId``),
the parsed decimal strings and the per-order ``sCode`` errors (the unknown-outcome cases are in
``test_factory.py``, run for both venues).
"""

from __future__ import annotations

import ccxt.async_support as ccxt
import pytest
from tests.fakevenue.testing import (
    FUNDS,
    ORDER_PATH,
    SYMBOL,
    place,
    sent_orders,
    venue_session,
)

ORDER = ORDER_PATH["okx"]


async def test_load_markets_reads_spot_instruments_and_currencies():
    async with venue_session("okx", FUNDS) as s:
        market = s.exchange.market(SYMBOL)
        assert (market["id"], market["spot"], market["active"]) == ("BTC-USDT", True, True)
        assert market["precision"] == {"amount": "0.00000001", "price": "0.1"}
        assert market["limits"]["amount"]["min"] == "0.00001"
        # with keys set, okx.fetch_currencies (private) runs before fetch_markets
        assert await s.paths_seen() == ["/api/v5/asset/currencies", "/api/v5/public/instruments"]
        assert (await s.fake.control.requests())[1]["query"] == {"instType": "SPOT"}


async def test_fetch_balance_gives_exact_strings():
    async with venue_session("okx", FUNDS) as s:
        balance = await s.exchange.fetch_balance()
        assert balance["USDT"] == {"free": "1000", "used": "0", "total": "1000"}
        assert balance["BTC"] == {"free": "0.5", "used": "0", "total": "0.5"}


async def test_create_order_sends_our_client_id_unchanged_without_broker_tag():
    async with venue_session("okx", FUNDS) as s:
        order = await place(s)
        assert (await sent_orders(s)) == [{"instId": "BTC-USDT", "side": "buy", "ordType": "limit", "sz": "0.01",
                                            "tdMode": "cash", "tgtCcy": "base_ccy", "px": "30000",
                                            "clOrdId": "cer123"}]
        # OKX's place reply has only ids: ccxt leaves status/amount/filled None
        assert (order["clientOrderId"], order["status"], order["filled"], order["amount"]) == (
            "cer123", None, None, None)
        assert (await s.fake.control.balances(s.key))["USDT"] == {"free": "700", "locked": "300"}


async def test_without_client_id_ccxt_sends_its_broker_id_and_tag():
    async with venue_session("okx", FUNDS) as s:
        await s.exchange.create_order(SYMBOL, "limit", "buy", "0.01", "30000")
        sent = (await sent_orders(s))[0]
        assert sent["clOrdId"].startswith("6b9ad766b55dBCDE") and sent["tag"] == "6b9ad766b55dBCDE"


async def test_fetch_order_by_id_and_by_client_id_and_open_orders():
    async with venue_session("okx", FUNDS) as s:
        placed = await place(s)
        by_id = await s.exchange.fetch_order(placed["id"], SYMBOL)
        by_cid = await s.exchange.fetch_order_with_client_order_id("cer123", SYMBOL)
        assert by_id["id"] == by_cid["id"] == placed["id"]
        assert (by_cid["status"], by_cid["amount"], by_cid["price"]) == ("open", "0.01", "30000")
        queries = [r["query"] for r in await s.fake.control.requests() if r["path"] == ORDER
                   and r["method"] == "GET"]
        assert queries == [{"instId": "BTC-USDT", "ordId": placed["id"]}, {"instId": "BTC-USDT", "clOrdId": "cer123"}]
        assert [o["id"] for o in await s.exchange.fetch_open_orders(SYMBOL)] == [placed["id"]]


async def test_partial_then_full_fill_shows_in_trades_order_and_balances():
    async with venue_session("okx", FUNDS) as s:
        placed = await place(s)
        fill = await s.fake.control.fill(placed["id"], "0.004")
        trades = await s.exchange.fetch_my_trades(SYMBOL)
        assert [(t["id"], t["order"], t["price"], t["amount"], t["cost"], t["takerOrMaker"]) for t in trades] == [
            (str(fill["id"]), placed["id"], "30000", "0.004", "120", "maker")]
        assert trades[0]["fee"] == {"currency": "BTC", "cost": "0.000004"}
        assert await s.paths_seen("GET") == ["/api/v5/asset/currencies", "/api/v5/public/instruments",
                                             "/api/v5/trade/fills-history"]
        partial = await s.exchange.fetch_order(placed["id"], SYMBOL)
        assert (partial["status"], partial["filled"], partial["remaining"], partial["average"]) == (
            "open", "0.004", "0.006", "30000")
        await s.fake.control.fill(placed["id"])
        done = await s.exchange.fetch_order(placed["id"], SYMBOL)
        assert (done["status"], done["filled"], done["remaining"], done["fee"]) == (
            "closed", "0.01", "0", {"cost": "0.00001", "currency": "BTC"})
        balance = await s.exchange.fetch_balance()
        assert (balance["USDT"]["free"], balance["USDT"]["used"], balance["BTC"]["free"]) == ("700", "0", "0.50999")


async def test_cancel_then_cancel_again_and_unknown_order():
    async with venue_session("okx", FUNDS) as s:
        placed = await place(s)
        canceled = await s.exchange.cancel_order(placed["id"], SYMBOL)
        assert (canceled["id"], canceled["clientOrderId"]) == (placed["id"], "cer123")
        assert (await s.exchange.fetch_order(placed["id"], SYMBOL))["status"] == "canceled"
        assert (await s.fake.control.balances(s.key))["USDT"] == {"free": "1000", "locked": "0"}
        with pytest.raises(ccxt.OrderNotFound, match="51400"):
            await s.exchange.cancel_order(placed["id"], SYMBOL)
        with pytest.raises(ccxt.OrderNotFound, match="51603"):
            await s.exchange.fetch_order("999999", SYMBOL)


async def test_authentication_failures():
    async with venue_session("okx", FUNDS) as s:
        wrong = [s.exchange_with(secret="0" * 64), s.exchange_with(password="nope"), s.exchange_with(api_key="k" * 32),
                 s.exchange_with()]
        wrong[3].options["timeDifference"] = 60_000  # our clock 60 s behind: OKX allows 30 s
        try:
            for exchange, error, code in zip(wrong, (ccxt.AuthenticationError, ccxt.AuthenticationError,
                                                     ccxt.AuthenticationError, ccxt.InvalidNonce),
                                             ("50113", "50105", "50111", "50102"), strict=True):
                exchange.set_markets_from_exchange(s.exchange)
                with pytest.raises(error, match=code):
                    await exchange.fetch_balance()
        finally:
            for exchange in wrong:
                await exchange.close()


async def test_order_rejections_map_to_ccxt_exceptions():
    async with venue_session("okx", {"USDT": "100"}) as s:
        with pytest.raises(ccxt.InsufficientFunds, match="51008"):
            await place(s, amount="0.01", price="30000")
        with pytest.raises(ccxt.InvalidOrder, match="51020"):
            await place(s, amount="0.000001", price="30000")
        await s.fake.control.set_market("BTC-USDT", tick="1", step="0.001")  # after ccxt cached the markets
        with pytest.raises(ccxt.BadRequest, match="51000") as raised:  # "Parameter px error"
            await place(s, amount="0.001", price="29000.5")
        assert not isinstance(raised.value, ccxt.InvalidOrder)  # OKX tick errors are not InvalidOrder in ccxt
        with pytest.raises(ccxt.InvalidOrder, match="51121"):
            await place(s, amount="0.0015", price="29000")
        with pytest.raises(ccxt.BadRequest, match="clOrdId"):
            await place(s, amount="0.001", price="29000", cid="cer-123")  # OKX ids: letters and digits only
        assert await s.fake.control.orders() == []

