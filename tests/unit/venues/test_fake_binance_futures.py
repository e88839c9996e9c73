"""ccxt ``binance`` (``make_exchange``, spot default type, markets loaded for ``["spot", "linear"]``)
against the fake Binance USDⓈ-M futures REST (``tests/fakevenue/binance_futures.py``) in hedge mode.

What these tests pin down about ccxt 4.5.90 on linear perpetuals:

- endpoints: ``load_markets`` adds ``GET /fapi/v1/exchangeInfo`` only; ``fetch_balance({"type": "swap"})``
  and ``{"type": "future"}`` both read ``GET /fapi/v3/account``; ``fetch_positions`` reads ``GET
  /fapi/v3/positionRisk`` after loading ``GET /fapi/v1/leverageBracket`` once; orders go to
  ``/fapi/v1/order``, ``openOrders`` and ``userTrades``.
- ``set_position_mode`` takes its market type from ``options["defaultType"]``: on a spot-default instance
  it raises ``BadRequest`` before sending anything unless ``params={"subType": "linear"}`` (or ``"type":
  "swap"``). An unchanged mode is ``OperationRejected`` (-4059).
- the v3 position rows carry no ``leverage`` (ccxt's ``leverage`` is None; ``useV2`` has it), ccxt's
  position ``side`` comes from the sign of ``notional``, ``marginMode`` from ``isolatedMargin``, and
  rows with ``entryPrice`` 0 are dropped.
- ``fetch_open_orders()`` without a symbol reads the spot ``/api/v3/openOrders`` even on a
  ``defaultType="swap"`` instance (the method passes ``"spot"`` as its default type): pass
  ``{"type": "swap"}`` or ``{"subType": "linear"}``.
- parsed positions, balances, orders and trades are strings (no floats); ``positionSide`` and
  ``realizedPnl`` are only in ``info``; order books are floats, as on spot.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import ccxt.async_support as ccxt
import pytest
from tests.fakevenue.binance_futures import FuturesControl
from tests.fakevenue.book import now_ms
from tests.fakevenue.testing import Session, venue_session

PERP = "BTC/USDT:USDT"
LINEAR = {"subType": "linear"}


@asynccontextmanager
async def futures_session(usdt: str = "1000", *, hedge: bool = True,
                          spot: dict[str, str] | None = None) -> AsyncIterator[Session]:
    """One account with a USDT futures wallet; the exchange loads spot and linear markets; hedge mode on."""
    async with venue_session("binance", spot or {"USDT": "50"}, load_markets=False) as s:
        await FuturesControl(s.fake.url).add_account(s.key, s.secret, futures={"USDT": usdt},
                                                     balances=spot or {"USDT": "50"})
        s.exchange.options["fetchMarkets"]["types"] = ["spot", "linear"]
        await s.exchange.load_markets()
        if hedge:
            await s.exchange.set_position_mode(True, None, LINEAR)
        await s.fake.control.clear_requests()
        yield s


def control(s: Session) -> FuturesControl:
    return FuturesControl(s.fake.url)


async def order(s: Session, side: str, position_side: str, amount: str, price: str, cid: str | None = None) -> Any:
    params = {"positionSide": position_side} | ({"clientOrderId": cid} if cid else {})
    return await s.exchange.create_order(PERP, "limit", side, amount, price, params)


async def sent(s: Session, path: str, method: str = "POST") -> list[dict[str, str]]:
    return [dict(parse_qsl(r["body"] or r["url"].partition("?")[2])) for r in await s.fake.control.requests()
            if r["path"] == path and r["method"] == method]


def floats(node: Any, path: str = "") -> list[str]:
    if isinstance(node, dict):
        return [p for key, value in node.items() if key != "info" for p in floats(value, f"{path}.{key}")]
    if isinstance(node, list):
        return [p for i, value in enumerate(node) for p in floats(value, f"{path}[{i}]")]
    return [path] if isinstance(node, float) else []


async def test_load_markets_sees_spot_and_linear_with_string_filters():
    async with futures_session(hedge=False) as s:
        perp, spot = s.exchange.market(PERP), s.exchange.market("BTC/USDT")
        assert (perp["id"], perp["type"], perp["linear"], perp["settle"], perp["contractSize"]) == (
            "BTCUSDT", "swap", True, "USDT", "1")
        assert perp["precision"] == {"amount": "0.001", "price": "0.10", "base": "0.00000001", "quote": "0.00000001"}
        assert (perp["limits"]["amount"]["min"], perp["limits"]["cost"]["min"]) == ("0.001", "5")
        assert (spot["id"], spot["spot"], spot["precision"]["price"]) == ("BTCUSDT", True, "0.01000000")
        assert s.exchange.market("ETH/USDT:USDT")["precision"]["price"] == "0.01"
        assert sorted(u.split("/", 3)[3].partition("?")[0] for u in s.urls) == [
            "api/v3/exchangeInfo", "fapi/v1/exchangeInfo"]  # no leverage brackets, no sapi


async def test_position_mode_needs_a_linear_type_and_refuses_no_change():
    async with futures_session(hedge=False) as s:
        with pytest.raises(ccxt.BadRequest, match="supports linear and inverse"):
            await s.exchange.set_position_mode(True)  # spot default type: refused before sending
        assert await s.fake.control.requests() == []
        assert await s.exchange.set_position_mode(True, None, LINEAR) == {"code": 200, "msg": "success"}
        assert (await sent(s, "/fapi/v1/positionSide/dual"))[0]["dualSidePosition"] == "true"
        with pytest.raises(ccxt.OperationRejected, match="-4059"):
            await s.exchange.set_position_mode(True, None, {"type": "swap"})
        assert (await s.exchange.fetch_position_mode())["hedged"] is True
        placed = await order(s, "buy", "LONG", "0.01", "30000")
        with pytest.raises(ccxt.OperationRejected, match="-4067"):
            await s.exchange.set_position_mode(False, None, LINEAR)
        await s.fake.control.fill(placed["id"])
        with pytest.raises(ccxt.OperationRejected, match="-4068"):
            await s.exchange.set_position_mode(False, None, LINEAR)


async def test_leverage_reply_and_limits():
    async with futures_session() as s:
        assert await s.exchange.set_leverage(10, PERP) == {"leverage": 10, "symbol": "BTCUSDT",
                                                           "maxNotionalValue": "70000000"}
        body = (await sent(s, "/fapi/v1/leverage"))[0]
        assert (body["symbol"], body["leverage"]) == ("BTCUSDT", "10")
        with pytest.raises(ccxt.BadRequest, match="between 1 and 125"):
            await s.exchange.set_leverage(126, PERP)  # ccxt's own check, nothing sent
        with pytest.raises(ccxt.BadRequest, match="-4028"):
            await s.exchange.set_leverage(110, "ETH/USDT:USDT")  # ETHUSDT's first bracket allows 100
        assert (await control(s).state(s.key))["leverage"] == {"BTCUSDT": 10, "ETHUSDT": 20}


async def test_balance_of_type_swap_or_future_is_the_v3_futures_account():
    async with futures_session() as s:
        for kind in ("swap", "future"):
            balance = await s.exchange.fetch_balance({"type": kind})
            assert balance["USDT"] == {"free": "1000.00000000", "used": "0.00000000", "total": "1000.00000000"}
            assert "USDC" not in balance  # listed with updateTime 0: ccxt skips it
            assert floats(balance) == []
        assert await s.paths_seen() == ["/fapi/v3/account", "/fapi/v3/account"]
        assert (await s.exchange.fetch_balance())["USDT"]["free"] == "50.00000000"  # spot is apart


async def test_open_long_fills_partially_then_fully_with_fees_in_usdt():
    async with futures_session() as s:
        await s.exchange.set_leverage(10, PERP)
        placed = await order(s, "buy", "LONG", "0.01", "30000", "cer123")
        body = (await sent(s, "/fapi/v1/order"))[0]
        assert {k: body[k] for k in ("symbol", "side", "type", "timeInForce", "quantity", "price", "positionSide",
                                     "newClientOrderId", "newOrderRespType")} == {
            "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01",
            "price": "30000", "positionSide": "LONG", "newClientOrderId": "cer123", "newOrderRespType": "RESULT"}
        assert (placed["id"], placed["clientOrderId"], placed["status"], placed["remaining"]) == (
            "4000000000", "cer123", "open", "0.01")
        margin = (await s.exchange.fetch_balance({"type": "swap"}))["USDT"]
        assert (margin["free"], margin["used"]) == ("970.00000000", "30.00000000")  # 300 / 10 reserved
        fill = await s.fake.control.fill(placed["id"], "0.004")
        partial = await s.exchange.fetch_order(placed["id"], PERP)
        assert (partial["status"], partial["filled"], partial["remaining"], partial["average"]) == (
            "open", "0.004", "0.006", "30000.00000")
        await s.fake.control.fill(placed["id"], maker=False)
        trades = await s.exchange.fetch_my_trades(PERP, placed["timestamp"])
        assert [(t["id"], t["order"], t["side"], t["price"], t["amount"], t["cost"], t["takerOrMaker"], t["fee"])
                for t in trades] == [
            (str(fill["id"]), placed["id"], "buy", "30000", "0.004", "120", "maker",
             {"currency": "USDT", "cost": "0.02400000"}),  # 0.02 %
            (str(fill["id"] + 1), placed["id"], "buy", "30000", "0.006", "180", "taker",
             {"currency": "USDT", "cost": "0.07200000"})]  # 0.04 %
        assert [(t["info"]["positionSide"], t["info"]["realizedPnl"], t["info"]["buyer"]) for t in trades] == [
            ("LONG", "0.00000000", True)] * 2
        assert (await sent(s, "/fapi/v1/userTrades", "GET"))[0]["startTime"] == str(placed["timestamp"])
        assert floats(trades) == []
        done = await s.exchange.fetch_order_with_client_order_id("cer123", PERP)
        assert (done["id"], done["status"], done["filled"], done["cost"]) == (placed["id"], "closed", "0.01", "300")
        balance = (await s.exchange.fetch_balance({"type": "swap"}))["USDT"]
        assert balance == {"free": "969.90400000", "used": "30.00000000", "total": "999.90400000"}


async def test_long_position_at_a_mark_then_closed_with_realized_pnl():
    async with futures_session() as s:
        await s.exchange.set_leverage(10, PERP)
        opened = await order(s, "buy", "LONG", "0.01", "30000")
        await s.fake.control.fill(opened["id"], maker=False)  # fee 0.12
        await control(s).set_mark("BTCUSDT", "31000")
        (long,) = await s.exchange.fetch_positions([PERP])
        assert {k: long[k] for k in ("symbol", "side", "contracts", "contractSize", "entryPrice", "markPrice",
                                     "unrealizedPnl", "notional", "initialMargin", "leverage", "marginMode",
                                     "hedged", "liquidationPrice")} == {
            "symbol": PERP, "side": "long", "contracts": "0.01", "contractSize": "1", "entryPrice": "30000",
            "markPrice": "31000.00000000", "unrealizedPnl": "10.00000000", "notional": "310",
            "initialMargin": "31.00000000", "leverage": None, "marginMode": "cross", "hedged": True,
            "liquidationPrice": None}  # 1000 USDT behind 0.01 BTC: no liquidation price ("0")
        assert (long["info"]["positionSide"], long["info"]["positionAmt"]) == ("LONG", "0.010")
        assert floats(long) == []
        (v2,) = await s.exchange.fetch_positions([PERP], {"useV2": True})
        assert (v2["leverage"], v2["info"]["marginType"], v2["info"]["leverage"]) == ("10", "cross", "10")
        assert await s.paths_seen() == ["/fapi/v1/leverage", "/fapi/v1/order", "/fapi/v1/leverageBracket",
                                        "/fapi/v3/positionRisk", "/fapi/v2/positionRisk"]
        closing = await order(s, "sell", "LONG", "0.01", "31000", "close1")
        await s.fake.control.fill(closing["id"], maker=False)  # fee 0.124
        (trade,) = [t for t in await s.exchange.fetch_my_trades(PERP) if t["order"] == closing["id"]]
        assert (trade["side"], trade["info"]["realizedPnl"], trade["info"]["positionSide"]) == (
            "sell", "10.00000000", "LONG")
        assert await s.exchange.fetch_positions([PERP]) == []
        assert (await s.exchange.fetch_balance({"type": "swap"}))["USDT"] == {
            "free": "1009.75600000", "used": "0.00000000", "total": "1009.75600000"}  # 1000 - 0.12 + 10 - 0.124


async def test_short_position_negative_amount_liquidation_and_close():
    async with futures_session("100") as s:
        opened = await order(s, "sell", "SHORT", "0.01", "30000")
        await s.fake.control.fill(opened["id"])  # maker fee 0.06
        await control(s).set_mark("BTCUSDT", "29000")
        (short,) = await s.exchange.fetch_positions([PERP])
        assert (short["side"], short["contracts"], short["unrealizedPnl"], short["notional"]) == (
            "short", "0.01", "10.00000000", "290")
        assert (short["info"]["positionAmt"], short["info"]["notional"]) == ("-0.010", "-290.00000000")
        # cross, 20x: (wallet 99.94 + 0.01 * 30000) / (0.01 * (1 + 0.004)); ccxt's collateral is the wallet again
        assert (short["liquidationPrice"], short["collateral"]) == ("39834.66135458", "99.93999999")
        assert (short["initialMargin"], short["maintenanceMargin"]) == ("14.50000000", "1.16")
        closing = await order(s, "buy", "SHORT", "0.01", "29500")
        await s.fake.control.fill(closing["id"])  # maker fee 0.059, realized (30000 - 29500) * 0.01
        (trade,) = [t for t in await s.exchange.fetch_my_trades(PERP) if t["order"] == closing["id"]]
        assert (trade["side"], trade["info"]["realizedPnl"], trade["fee"]["cost"]) == ("buy", "5.00000000",
                                                                                       "0.05900000")
        state = await control(s).state(s.key)
        assert (state["wallet"], state["positions"]) == ("104.881", [])


async def test_a_close_larger_than_the_position_is_refused_as_reduce_only():
    async with futures_session() as s:
        opened = await order(s, "buy", "LONG", "0.01", "30000")
        await s.fake.control.fill(opened["id"])
        await order(s, "sell", "LONG", "0.006", "31000")  # resting close
        with pytest.raises(ccxt.InvalidOrder, match="-2022") as raised:
            await order(s, "sell", "LONG", "0.005", "31000")  # 0.005 > 0.01 - 0.006
        assert "ReduceOnly Order is rejected." in str(raised.value)
        await order(s, "sell", "LONG", "0.004", "31000")
        with pytest.raises(ccxt.InvalidOrder, match="-2022"):
            await order(s, "buy", "SHORT", "0.001", "29000")  # no short to close
        assert len(await s.exchange.fetch_open_orders(PERP)) == 2


async def test_opening_needs_initial_margin():
    async with futures_session("100") as s:  # leverage 20 by default
        with pytest.raises(ccxt.InsufficientFunds, match="-2019") as raised:
            await order(s, "buy", "LONG", "0.07", "30000")  # 105 USDT of margin
        assert "Margin is insufficient." in str(raised.value)
        await order(s, "buy", "LONG", "0.06", "30000")  # 90 reserved
        with pytest.raises(ccxt.InsufficientFunds, match="-2019"):
            await order(s, "sell", "SHORT", "0.01", "30000")  # 15 more of 10 left
        state = await control(s).state(s.key)
        assert (state["order_margin"], state["available"]) == ("90", "10")


async def test_order_refusals_and_their_ccxt_classes():
    async with futures_session() as s:
        with pytest.raises(ccxt.InvalidOrder, match="-4164"):
            await order(s, "buy", "LONG", "0.001", "3000")  # 3 USDT < 5
        with pytest.raises(ccxt.OperationRejected, match="-4061"):
            await s.exchange.create_order(PERP, "limit", "buy", "0.01", "30000")  # no positionSide in hedge mode
        with pytest.raises(ccxt.BadRequest, match="-1106"):
            await s.exchange.create_order(PERP, "limit", "buy", "0.01", "30000",
                                          {"positionSide": "SHORT", "reduceOnly": True})
        with pytest.raises(ccxt.BadRequest, match="-4015"):
            await order(s, "buy", "LONG", "0.01", "30000", "not a valid id")
        await order(s, "buy", "LONG", "0.01", "30000", "cer123")
        with pytest.raises(ccxt.InvalidOrder, match="-4116") as raised:
            await order(s, "buy", "LONG", "0.01", "30000", "cer123")
        assert not isinstance(raised.value, ccxt.DuplicateOrderId)
        await control(s).set_market("BTCUSDT", tick="1")  # ccxt keeps the cached 0.10 tick
        with pytest.raises(ccxt.BadRequest, match="-4014"):
            await order(s, "buy", "LONG", "0.01", "29000.5")
        await control(s).set_market("BTCUSDT", step="0.01")
        with pytest.raises(ccxt.BadRequest, match="-4023"):
            await order(s, "buy", "LONG", "0.015", "29000")
        assert len(await s.fake.control.orders()) == 1


async def test_fetch_by_client_id_open_orders_and_cancel():
    async with futures_session() as s:
        placed = await order(s, "sell", "SHORT", "0.01", "30000", "cer123")
        found = await s.exchange.fetch_order_with_client_order_id("cer123", PERP)
        assert (found["id"], found["clientOrderId"], found["side"], found["info"]["positionSide"]) == (
            placed["id"], "cer123", "sell", "SHORT")
        assert (await sent(s, "/fapi/v1/order", "GET"))[0]["origClientOrderId"] == "cer123"
        assert [o["id"] for o in await s.exchange.fetch_open_orders(PERP)] == [placed["id"]]
        assert [o["id"] for o in await s.exchange.fetch_open_orders(None, None, None, LINEAR)] == [placed["id"]]
        assert await s.exchange.fetch_open_orders() == []  # no symbol: the spot endpoint
        canceled = await s.exchange.cancel_order(placed["id"], PERP)
        assert (canceled["status"], canceled["clientOrderId"]) == ("canceled", "cer123")  # spot: the cancel's id
        with pytest.raises(ccxt.OrderNotFound, match="-2011"):
            await s.exchange.cancel_order(placed["id"], PERP)
        with pytest.raises(ccxt.OrderNotFound, match="-2013"):
            await s.exchange.fetch_order("999999", PERP)
        assert (await control(s).state(s.key))["order_margin"] == "0"


async def test_one_way_mode_nets_and_checks_reduce_only():
    async with futures_session(hedge=False) as s:
        with pytest.raises(ccxt.OperationRejected, match="-4061"):
            await order(s, "buy", "LONG", "0.01", "30000")
        bought = await s.exchange.create_order(PERP, "limit", "buy", "0.01", "30000")
        await s.fake.control.fill(bought["id"])
        sold = await s.exchange.create_order(PERP, "limit", "sell", "0.015", "31000")
        await s.fake.control.fill(sold["id"])  # closes the long (+10) and opens 0.005 short at 31000
        (position,) = await s.exchange.fetch_positions([PERP])
        assert (position["side"], position["contracts"], position["entryPrice"], position["hedged"]) == (
            "short", "0.005", "31000", False)
        with pytest.raises(ccxt.InvalidOrder, match="-2022"):
            await s.exchange.create_order(PERP, "limit", "buy", "0.006", "30000", {"reduceOnly": True})
        await s.exchange.create_order(PERP, "limit", "buy", "0.005", "30000", {"reduceOnly": True})
        assert (await sent(s, "/fapi/v1/order"))[-1]["reduceOnly"] == "true"


async def test_public_market_data_and_mark_price():
    async with futures_session() as s:
        fc = control(s)
        await fc.set_book("BTCUSDT", bids=[("29990.0", "1.5")], asks=[("30010.5", "2")])
        minute = (now_ms() // 60_000 - 1) * 60_000  # the previous minute: one candle, whenever the test runs
        await fc.public_trade("BTCUSDT", "30000", "0.2", "buy", time=minute + 1000)
        await fc.public_trade("BTCUSDT", "30005.5", "0.1", "sell", time=minute + 2000)
        book = await s.exchange.fetch_order_book(PERP, 5)
        assert (book["bids"], book["asks"]) == ([[29990.0, 1.5]], [[30010.5, 2.0]])  # floats, as on spot
        ticker = await s.exchange.fetch_ticker(PERP)
        assert (ticker["symbol"], ticker["last"], ticker["high"], ticker["baseVolume"], ticker["bid"]) == (
            PERP, "30005.5", "30005.5", "0.3", None)  # the futures 24 h ticker has no bid/ask
        trades = await s.exchange.fetch_trades(PERP)
        assert [(t["symbol"], t["side"], t["price"], t["amount"]) for t in trades] == [
            (PERP, "buy", "30000", "0.2"), (PERP, "sell", "30005.5", "0.1")]
        (candle,) = await s.exchange.fetch_ohlcv(PERP, "1m", minute, 1)
        assert candle == [minute, "30000", "30005.5", "30000", "30005.5", "0.3"]
        assert (await s.exchange.fetch_mark_price(PERP))["markPrice"] == "30005.50000000"  # the last trade
        await fc.set_mark("BTCUSDT", "30002.1")
        mark = await s.exchange.fetch_mark_price(PERP)
        assert (mark["symbol"], mark["markPrice"], mark["indexPrice"]) == (PERP, "30002.10000000", "30002.10000000")
        assert await s.paths_seen() == ["/fapi/v1/depth", "/fapi/v1/ticker/24hr", "/fapi/v1/aggTrades",
                                        "/fapi/v1/klines", "/fapi/v1/premiumIndex", "/fapi/v1/premiumIndex"]
        assert (await s.exchange.fetch_order_book("BTC/USDT"))["bids"] == []  # the spot book is another one
        with pytest.raises(ccxt.BadRequest, match="-4021"):
            await s.exchange.fetch_order_book(PERP, 7)


async def test_control_lists_and_fills_both_markets():
    async with futures_session(spot={"USDT": "1000"}) as s:
        spot = await s.exchange.create_order("BTC/USDT", "limit", "buy", "0.01", "30000", {"clientOrderId": "s1"})
        perp = await order(s, "buy", "LONG", "0.01", "30000", "f1")
        listed = {o["id"]: o for o in await s.fake.control.orders(s.key)}
        assert sorted(listed) == [int(spot["id"]), int(perp["id"])] and int(perp["id"]) >= 4_000_000_000
        assert ("market" not in listed[int(spot["id"])], listed[int(perp["id"])]["market"]) == (True, "futures")
        assert listed[int(perp["id"])]["position_side"] == "LONG"
        await s.fake.control.fill(spot["id"])
        await s.fake.control.fill(perp["id"])
        assert (await s.fake.control.balances(s.key))["BTC"] == {"free": "0.00999", "locked": "0"}
        state = await control(s).state(s.key)
        assert state["positions"] == [{"symbol": "BTCUSDT", "side": "LONG", "qty": "0.01", "entry": "30000",
                                       "mark": "30000", "unrealized": "0", "liquidation": "0"}]
        assert Decimal(state["wallet"]) == Decimal("1000") - Decimal("0.06")


async def test_a_swap_default_instance_loads_only_the_perpetuals():
    async with futures_session(hedge=False) as s:
        swap = s.exchange_with(default_type="swap")  # make_exchange: options["fetchMarkets"]["types"] = ["linear"]
        try:
            await swap.load_markets()
            assert sorted(swap.markets) == ["BTC/USDT:USDT", "ETH/USDT:USDT"]
            assert await swap.set_position_mode(True) == {"code": 200, "msg": "success"}  # no subType needed
            assert (await swap.fetch_balance())["USDT"]["total"] == "1000.00000000"
            # without a symbol fetch_open_orders defaults to spot whatever defaultType says: pass a type
            assert await swap.fetch_open_orders() == await swap.fetch_open_orders(None, None, None, {"type": "swap"})
            assert await s.paths_seen() == ["/fapi/v1/exchangeInfo", "/fapi/v1/positionSide/dual", "/fapi/v3/account",
                                            "/api/v3/openOrders", "/fapi/v1/openOrders"]
        finally:
            await swap.close()
