"""Order admission: validation errors name the field; rejects change nothing;
client_oid idempotency."""

from __future__ import annotations

import pytest

from ceres.domain import commands as C
from ceres.domain.errors import ErrorCode
from ceres.domain.instruments import MAX_PRICE_TICKS
from engine_helpers import BTC, BUY, LIMIT, MARKET, SELL, USDT

P = 3_000_000


def _place(product="alice", exchange="TEST", contract="BTC/USDT", side=BUY, ptype=LIMIT,
           price=P, vol=10, coid=""):
    return C.Place(product, exchange, contract, side, ptype, price, vol, coid)


@pytest.mark.parametrize(("kw", "code", "field"), [
    ({"product": "mallory"}, ErrorCode.UNKNOWN_PRODUCT, "product"),
    ({"exchange": "BITMEX"}, ErrorCode.UNKNOWN_EXCHANGE, "exchange"),
    ({"contract": "ETH/USDT"}, ErrorCode.UNKNOWN_CONTRACT, "contract"),
    ({"side": 3}, ErrorCode.INVALID_VALUE, "entrust_bs"),
    ({"ptype": 0}, ErrorCode.INVALID_VALUE, "price_type"),
    ({"price": 99}, ErrorCode.PRICE_OUT_OF_RANGE, "entrust_price"),      # min_price 1.00
    ({"price": 0}, ErrorCode.PRICE_OUT_OF_RANGE, "entrust_price"),
    ({"price": MAX_PRICE_TICKS + 1}, ErrorCode.PRICE_OUT_OF_RANGE, "entrust_price"),
    ({"vol": 4}, ErrorCode.VOLUME_OUT_OF_RANGE, "entrust_vol"),         # min_volume 0.0005
    ({"side": SELL, "vol": 4}, ErrorCode.VOLUME_OUT_OF_RANGE, "entrust_vol"),
    ({"side": SELL, "ptype": MARKET, "vol": 0}, ErrorCode.VOLUME_OUT_OF_RANGE, "entrust_vol"),
    ({"ptype": MARKET, "vol": 0}, ErrorCode.VOLUME_OUT_OF_RANGE, "entrust_vol"),
    ({"ptype": MARKET, "vol": -5}, ErrorCode.VOLUME_OUT_OF_RANGE, "entrust_vol"),
    ({"coid": "x" * 65}, ErrorCode.FIELD_TOO_LONG, "client_oid"),
])
def test_invalid_orders_name_the_field(make_harness, kw, code, field) -> None:
    h = make_harness(min_price="1", min_volume="0.0005")
    h.fund("alice", "USDT", 10**6 * USDT)
    h.fund("alice", "BTC", 10 * BTC)
    err = h.reject(_place(**kw))
    assert (err.error, err.field) == (code, field)
    assert field in err.message


def test_minimums_are_inclusive(make_harness) -> None:
    h = make_harness(min_price="1", min_volume="0.0005")
    h.fund("alice", "USDT", 10 * USDT)
    h.buy("alice", 100, 5)
    h.place("alice", BUY, 0, 1, ptype=MARKET)  # a market buy's budget has no lot minimum


@pytest.mark.parametrize(("cmd", "currency"), [
    (_place(vol=100), "USDT"),                              # limit buy
    (_place(side=SELL, vol=1001), "BTC"),                   # limit sell
    (_place(ptype=MARKET, vol=100 * USDT + 1), "USDT"),     # market buy budget
    (_place(side=SELL, ptype=MARKET, vol=1001), "BTC"),     # market sell
])
def test_insufficient_balance_changes_nothing(h, cmd, currency) -> None:
    h.fund("alice", "USDT", 100 * USDT)    # 100 lots at 30000 need 300.15 USDT
    h.fund("alice", "BTC", 1000 * 10_000)  # 1000 lots
    err = h.reject(cmd)
    assert err.error is ErrorCode.INSUFFICIENT_BALANCE
    assert currency in err.message


def test_unfunded_product_gets_no_accounts_or_balances(h) -> None:
    for cmd in (_place(product="carol"), _place(product="carol", side=SELL),
                _place(product="carol", ptype=MARKET, vol=1)):
        assert h.reject(cmd).error is ErrorCode.INSUFFICIENT_BALANCE
    assert h.eng.products["carol"].accounts == {}


def test_funds_held_by_open_orders_are_not_available(h) -> None:
    h.fund("alice", "USDT", 60_030_000_000)  # exactly two freezes of 100 lots at 30000
    h.buy("alice", P, 100)
    h.buy("alice", P, 100)
    assert h.reject(_place(vol=1)).error is ErrorCode.INSUFFICIENT_BALANCE
    assert h.reject(C.Transfer("alice", "USDT", 1, 3, 2, "TEST")).error is ErrorCode.INSUFFICIENT_BALANCE


def test_client_oid_is_idempotent_while_open(h) -> None:
    h.fund("alice", "USDT", 100 * USDT)
    first = h.buy("alice", P, 10, client_oid="c-1")
    frozen = h.bal("alice", "USDT")
    last_id, n_events = h.eng.ids.last, len(h.eng.events)
    # a retry, even with other parameters, returns the open order and creates nothing
    again = h.buy("alice", P - 50, 20, client_oid="c-1")
    assert again == first
    assert (h.eng.ids.last, len(h.eng.events), h.bal("alice", "USDT")) == (last_id, n_events, frozen)
    assert list(h.eng.open_orders) == [first]
    # another product may use the same tag
    h.fund("bob", "USDT", 100 * USDT)
    assert h.buy("bob", P, 10, client_oid="c-1") != first
    # after the first order finishes, the tag makes a new order
    h.cancel("alice", first)
    third = h.buy("alice", P, 10, client_oid="c-1")
    assert third not in (first, again) and third > first
    assert h.eng.products["alice"].coids["c-1"].oid == third


def test_client_oid_of_an_immediately_filled_order_is_free_again(h) -> None:
    h.fund("alice", "USDT", 100 * USDT)
    h.fund("bob", "BTC", BTC)
    h.sell("bob", P, 20)
    a = h.buy("alice", P, 10, client_oid="t")
    b = h.buy("alice", P, 10, client_oid="t")
    assert a != b and h.final_status(a) == h.final_status(b) == 5
    assert "t" not in h.eng.products["alice"].coids


