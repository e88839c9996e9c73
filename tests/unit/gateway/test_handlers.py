"""Handlers (one per operation) through request Structs, against an in-process engine
and venue registry (``gateway_helpers.Rig``): reply shapes and errors of API.md section 3."""

from __future__ import annotations

import inspect
import re

import pytest
from gateway_helpers import CONTRACT, ONE, ORDER_KEYS, POSITION_KEYS, Rig

from ceres.domain import commands as C
from ceres.domain.errors import CeresError, ErrorCode
from ceres.gateway import protocol as P
from ceres.gateway.handlers import Handlers
from ceres.gateway.operations import BY_BIZ_TYPE, OPERATIONS, authorize
from ceres.pipeline.frames import encode_frame
from ceres.wire.codec import decode_json_object


def limit(price: str, vol: str, side: str = "buy", contract: str = "BTC/USDT", **kw: str) -> P.PlaceReq:
    return P.PlaceReq(exchange=kw.pop("exchange", "TEST"), contract=contract, price_type="limit",
                      entrust_vol=vol, entrust_bs=side, entrust_price=price, **kw)


@pytest.fixture
def rig() -> Rig:
    r = Rig()
    for name in ("alice", "bob"):
        r.fund(name, "USDT", 1_000_000 * ONE)
        r.fund(name, "BTC", 100 * ONE)
        r.fund(name, "USDT", 100_000 * ONE, to_type=CONTRACT)
    return r


async def fails(coro, error: ErrorCode, field: str | None = None) -> CeresError:
    with pytest.raises(CeresError) as info:
        await coro
    assert info.value.error is error, info.value
    if field is not None:
        assert info.value.field == field
    return info.value


async def test_place_replies_client_oid_and_an_id(rig: Rig):
    alice = rig.keys["alice"]
    reply = await rig.handlers.place(alice, limit("30000", "0.5", client_oid="tag-1"))
    assert set(reply) == {"client_oid", "system_oid"}
    assert reply["client_oid"] == "tag-1"
    assert re.fullmatch(r"[1-9]\d{17,18}", reply["system_oid"])
    assert int(reply["system_oid"]) in alice.product.open_orders
    assert (await rig.handlers.place(alice, limit("29999.99", "0.1")))["client_oid"] == ""


async def test_place_errors(rig: Rig):
    alice = rig.keys["alice"]
    await fails(rig.handlers.place(alice, limit("30000.001", "0.5")), ErrorCode.PRICE_OFF_TICK, "entrust_price")
    err = await fails(rig.handlers.place(alice, limit("30000", "0.5", exchange="NOPE")),
                      ErrorCode.UNKNOWN_EXCHANGE, "exchange")
    assert err.code == "40401"
    await fails(rig.handlers.place(alice, limit("30000", "0.5", contract="DOGE/USDT")), ErrorCode.UNKNOWN_CONTRACT)
    await fails(rig.handlers.place(alice, limit("30000", "0.5", side="hold")), ErrorCode.INVALID_VALUE, "entrust_bs")
    assert alice.product.open_orders == {}


def test_spot_market_buy_volume_is_a_quote_amount(rig: Rig):
    alice = rig.keys["alice"]

    def market(side: str, vol: str) -> P.PlaceReq:
        return P.PlaceReq(exchange="TEST", contract="BTC/USDT", price_type="market", entrust_vol=vol, entrust_bs=side)

    # 1.00001 USDT: on the quote's 8 decimals, though not a multiple of the 0.0001 lot
    assert rig.handlers.place_command(alice, market("buy", "1.00001")).vol == 100_001_000
    with pytest.raises(CeresError) as info:
        rig.handlers.place_command(alice, market("sell", "1.00001"))
    assert info.value.error is ErrorCode.VOLUME_OFF_STEP
    with pytest.raises(CeresError) as info:
        rig.handlers.place_command(alice, market("buy", "0.000000001"))
    assert info.value.error is ErrorCode.AMOUNT_OFF_GRID
    assert rig.handlers.place_command(alice, market("sell", "1.5")).vol == 15_000  # lots of 0.0001


async def test_close_on_a_spot_pair_is_refused(rig: Rig):
    req = limit("30000", "0.5", side="sell", deal_id="123456789012345678")
    await fails(rig.handlers.close(rig.keys["alice"], req), ErrorCode.NOT_A_CONTRACT, "contract")


async def test_cancel_splits_success_and_error(rig: Rig):
    alice = rig.keys["alice"]
    oid = (await rig.handlers.place(alice, limit("30000", "0.5")))["system_oid"]
    done = (await rig.handlers.place(alice, limit("30000.01", "0.1")))["system_oid"]
    await rig.handlers.cancel(alice, P.CancelReq(system_oid=done))  # now finished (recently)
    unknown = "1179500000000000000"
    reply = await rig.handlers.cancel(alice, P.CancelReq(system_oid=f"{oid},{unknown},{done}"))
    assert reply["SUCCESS"] == [{"system_oid": oid}]
    assert [(e["system_oid"], e["code"]) for e in reply["ERROR"]] == [(unknown, "40403"), (done, "42001")]
    assert reply["ERROR"][0]["message"] == "order not found"
    assert rig.caught_up_calls >= 1  # unknown ids are looked up after the history caught up
    assert alice.product.open_orders == {}


async def test_cancel_of_another_products_order_is_not_found(rig: Rig):
    oid = (await rig.handlers.place(rig.keys["alice"], limit("30000", "0.5")))["system_oid"]
    reply = await rig.handlers.cancel(rig.keys["bob"], P.CancelReq(system_oid=oid))
    assert reply == {"SUCCESS": [], "ERROR": [{"system_oid": oid, "code": "40403", "message": "order not found"}]}
    assert int(oid) in rig.keys["alice"].product.open_orders


async def test_orders_by_id_returns_the_order_object(rig: Rig):
    alice = rig.keys["alice"]
    oid = (await rig.handlers.place(alice, limit("30000", "0.5", client_oid="c1")))["system_oid"]
    (order,) = await rig.handlers.orders(alice, P.OrdersReq(system_oid=oid))
    assert set(order) == ORDER_KEYS
    assert order["status"] == 3
    assert (order["system_oid"], order["client_oid"], order["contract"], order["entrust_bs"]) == \
           (oid, "c1", "BTC/USDT", "buy")
    assert (order["entrust_price"], order["entrust_amount"], order["dealt_amount"]) == ("30000", "0.5", "0")
    assert (order["future_dir"], order["lever"], order["profit_value"], order["stop_value"]) == ("", "1", "0", "0")
    await fails(rig.handlers.orders(rig.keys["bob"], P.OrdersReq(system_oid=oid)), ErrorCode.ORDER_NOT_FOUND)
    # filters apply to orders found by id
    assert await rig.handlers.orders(alice, P.OrdersReq(system_oid=oid, status=5)) == []


async def test_orders_status_must_be_a_known_code(rig: Rig):
    await fails(rig.handlers.orders(rig.keys["alice"], P.OrdersReq(status=7)), ErrorCode.INVALID_VALUE, "status")


async def test_open_orders_pages_with_next_from(rig: Rig):
    alice = rig.keys["alice"]
    ids = [(await rig.handlers.place(alice, limit(f"2900{i}", "0.1")))["system_oid"] for i in range(3)]
    page = await rig.handlers.open_orders(alice, P.OpenOrdersReq(limit=2))
    assert [o["system_oid"] for o in page["orderDetailRes"]] == ids[:2]
    assert page["nextFrom"] == ids[1]
    page = await rig.handlers.open_orders(alice, P.OpenOrdersReq(limit=2, from_=page["nextFrom"]))
    assert [o["system_oid"] for o in page["orderDetailRes"]] == ids[2:]
    assert page["nextFrom"] == ""
    whole = await rig.handlers.open_orders(alice, P.OpenOrdersReq(limit=3))
    assert (len(whole["orderDetailRes"]), whole["nextFrom"]) == (3, "")
    other = await rig.handlers.open_orders(alice, P.OpenOrdersReq(exchange="TEST", contract="ETH/USDT"))
    assert other == {"orderDetailRes": [], "nextFrom": ""}


async def test_account_rows_settlement_first_then_venues(rig: Rig):
    alice = rig.keys["alice"]
    rig.fund("alice", "ETH", 3 * ONE, exchange="ALT")
    rig.apply(C.Deposit("alice", "USDT", 5 * ONE))  # stays in settlement
    rows = await rig.handlers.account(alice, P.AccountReq())
    types = [r["account_type"] for r in rows]
    n = types.count(2)
    assert n and types[:n] == [2] * n  # settlement rows first
    assert all("exchange" not in r for r in rows[:n])
    cash = next(r for r in rows[:n] if r["currency"] == "USDT")
    assert (cash["balance"], cash["frozen"], cash["market_value"]) == ("5", "0", "5")
    venue_rows = [r for r in rows if r["account_type"] != 2]
    assert {(r["account_type"], r["exchange"], r["currency"]) for r in venue_rows} == \
           {(3, "TEST", "USDT"), (3, "TEST", "BTC"), (4, "TEST", "USDT"), (3, "ALT", "ETH")}
    usdt = next(r for r in venue_rows if (r["account_type"], r["currency"]) == (3, "USDT"))
    assert (usdt["balance"], usdt["frozen"], usdt["market_value"]) == ("1000000", "0", "1000000")
    test_only = await rig.handlers.account(alice, P.AccountReq(exchange="TEST"))
    assert test_only == [r for r in venue_rows if r["exchange"] == "TEST"]
    assert [r["account_type"] for r in test_only] == [3, 3, 4]  # spot rows, then contract rows
    alt_only = await rig.handlers.account(alice, P.AccountReq(exchange="ALT"))
    assert [(r["exchange"], r["currency"], r["balance"]) for r in alt_only] == [("ALT", "ETH", "3")]
    await fails(rig.handlers.account(alice, P.AccountReq(exchange="NOPE")), ErrorCode.UNKNOWN_EXCHANGE)


async def test_account_frozen_follows_a_resting_order(rig: Rig):
    alice = rig.keys["alice"]
    await rig.handlers.place(alice, limit("30000", "0.5"))
    rows = await rig.handlers.account(alice, P.AccountReq(exchange="TEST"))
    usdt = next(r for r in rows if (r["account_type"], r["currency"]) == (3, "USDT"))
    # 15000 USDT plus the largest fee (0.05%) frozen; the balance is the total
    assert (usdt["balance"], usdt["frozen"]) == ("1000000", "15007.5")


async def test_positions_after_opening_a_contract_position(rig: Rig):
    alice, bob = rig.keys["alice"], rig.keys["bob"]
    perp = {"contract": "BTCUSDT_PERP", "future_dir": "open", "lever": "10"}
    await rig.handlers.place(alice, limit("30000", "10", side="buy", **perp))
    await rig.handlers.place(bob, limit("30000", "10", side="sell", **perp))
    (pos,) = await rig.handlers.positions(alice, P.PositionsReq())
    assert set(pos) == POSITION_KEYS
    assert (pos["exchange"], pos["contract"], pos["position_dir"], pos["vol"], pos["lever"]) == \
           ("TEST", "BTCUSDT_PERP", "buy", "10", "10")
    assert pos["open_price"] == "30000"
    assert pos["margin"] == "30"  # 10 contracts x 0.001 BTC x 30000 / lever 10
    assert re.fullmatch(r"\d{18,19}", pos["dealId"])
    assert await rig.handlers.positions(alice, P.PositionsReq(position_dir="sell")) == []
    assert await rig.handlers.positions(alice, P.PositionsReq(exchange="ALT")) == []
    assert await rig.handlers.positions(alice, P.PositionsReq(contract="BTCUSDT_PERP", position_dir="buy")) == [pos]
    (short,) = await rig.handlers.positions(bob, P.PositionsReq())
    assert short["position_dir"] == "sell"


async def test_fills_count_range(rig: Rig):
    alice = rig.keys["alice"]
    for count in (0, 51, -1):
        req = P.FillsReq(exchange="TEST", contract="BTC/USDT", count=count)
        await fails(rig.handlers.fills(alice, req), ErrorCode.COUNT_OUT_OF_RANGE, "count")
    assert await rig.handlers.fills(alice, P.FillsReq(exchange="TEST", contract="BTC/USDT", count=50)) == []
    assert ("fills", 50) in rig.history.calls
    await fails(rig.handlers.fills(alice, P.FillsReq(exchange="TEST", contract="NOPE", count=5)),
                ErrorCode.UNKNOWN_CONTRACT)


async def test_pairs(rig: Rig):
    (pair,) = await rig.handlers.pairs(rig.keys["reader"], P.PairsReq(exchange="TEST", contract="ADA_BTC"))
    assert (pair["kind"], pair["tick_size"], pair["min_change"]) == ("4", "0.00000001", "0.00000001")
    every = await rig.handlers.pairs(rig.keys["reader"], P.PairsReq(exchange="TEST"))
    assert [p["contract"] for p in every] == ["BTC/USDT", "ETH/USDT", "ETH/BTC", "ADA_BTC", "BTCUSDT_PERP",
                                              "BTCUSDT_2703", "XBTUSD"]


def test_authorize_checks_the_operations_permission(rig: Rig):
    ops = {op.name: op for op in OPERATIONS}
    for name in ("place", "cancel", "close"):
        with pytest.raises(CeresError) as info:
            authorize(rig.keys["reader"], ops[name])
        assert info.value.error is ErrorCode.PERMISSION_DENIED and info.value.code == "40301"
        authorize(rig.keys["alice"], ops[name])
    for name in ("pairs", "account", "orders", "open_orders", "positions", "fills"):
        authorize(rig.keys["reader"], ops[name])


def test_every_operation_has_a_handler_and_a_unique_biz_type():
    for op in OPERATIONS:
        method = getattr(Handlers, op.name, None)
        assert method is not None and inspect.iscoroutinefunction(method), op.name
    biz = [op.biz_type for op in OPERATIONS if op.biz_type is not None]
    assert len(biz) == len(set(biz))
    assert len({op.name for op in OPERATIONS}) == len(OPERATIONS)
    # the biz_type numbers of API.md section 3
    assert {b: op.name for b, op in BY_BIZ_TYPE.items()} == {
        11: "place", 12: "cancel", 13: "pairs", 14: "account", 15: "orders", 16: "positions", 17: "fills",
        21: "batch_place", 22: "batch_cancel", 23: "cancel_all", 24: "cancel_all_after", 25: "amend"}


# --- inputs that once broke the server ------------------------------------------------------
def test_place_with_a_numeric_client_oid_can_be_journaled(rig: Rig):
    body = b'{"exchange":"TEST","contract":"BTC/USDT","price_type":"limit","entrust_vol":"0.5",' \
           b'"entrust_bs":"buy","entrust_price":"30000","client_oid":1.5}'
    req = P.parse_request(P.PlaceReq, decode_json_object(body))
    cmd = rig.handlers.place_command(rig.keys["alice"], req)
    assert cmd.client_oid == "1.5"
    encode_frame(1, [(1, cmd)])
