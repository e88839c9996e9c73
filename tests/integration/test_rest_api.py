"""REST trading API on port 19000 against a real server: the operations of API.md section 3,
exact wire shapes, idempotent ``client_oid``, ``open_orders`` paging, the ``trade/order``
cap and the ``account`` exchange filter.

One server per module; each test works in its own product, and orders here never cross
(buys far below any ask), so tests do not see each other's state. The fill scenario runs
on a fresh server of its own.
"""

from __future__ import annotations

import pytest

from tests.serverproc import ServerProcess

from . import scenario
from .api_helpers import (
    ACCOUNT_KEYS,
    ID_RE,
    PAIR_KEYS,
    balances,
    check_account_row,
    check_envelope,
    check_order,
    check_pair,
    check_place_reply,
    check_spot_order,
    demo_rest,
    make_product,
)

X = "TEST"


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    proc = ServerProcess(tmp_path_factory.mktemp("rest") / "data", extra_args=("--no-simulator",)).start()
    yield proc
    proc.stop()


def buy(contract: str, price: str, vol: str, **extra):
    return {"exchange": X, "contract": contract, "price_type": "limit", "entrust_bs": "buy",
            "entrust_price": price, "entrust_vol": vol, **extra}


# --- the fill scenario ----------------------------------------------------------------------
async def test_place_partial_fill_query_cancel_over_rest(server):
    await scenario.run(server, scenario.RestSubject(demo_rest(server)))


# --- shapes -------------------------------------------------------------------------------
def test_pairs_exact_objects(srv):
    rest = demo_rest(srv)
    status, env = rest.call("GET", "basic/contracts", {"exchange": X})
    assert status == 200
    check_envelope(env)
    pairs = {p["contract"]: p for p in env["data"]}
    for p in env["data"]:
        check_pair(p)
        assert set(p) == PAIR_KEYS and p["exchange"] == X and p["kind"] in ("1", "3", "4")
    spot = {c for c, p in pairs.items() if p["kind"] == "4"}
    assert spot == {"BTC/USDT", "ETH/USDT", "ETH/BTC", "ADA_BTC"}
    assert pairs["BTC/USDT"] == {"contract": "BTC/USDT", "exchange": X, "kind": "4", "tick_size": "0.01",
                                 "volume_increment": "0.0001", "min_price": "0.01", "min_volume": "0.0001",
                                 "min_change": "0.01"}
    assert pairs["ADA_BTC"]["tick_size"] == "0.00000001" and pairs["ADA_BTC"]["volume_increment"] == "1"
    one = rest.ok("GET", "basic/contracts", {"exchange": X, "contract": "ETH/BTC"})
    assert one == [pairs["ETH/BTC"]]


def test_account_rows_and_exchange_filter(srv):
    rest = demo_rest(srv)
    rows = rest.account()
    for r in rows:
        check_account_row(r)
    assert {2, 3} <= {r["account_type"] for r in rows} <= {2, 3, 4}  # 1 (collection) is never listed
    assert all("exchange" not in r for r in rows if r["account_type"] == 2)
    assert all(r["exchange"] == X for r in rows if r["account_type"] in (3, 4))
    assert all(set(r) == ACCOUNT_KEYS for r in rows if r["account_type"] == 2)
    spot = balances(rows)
    assert spot == {"USDT": ("1000000", "0"), "BTC": ("100", "0"), "ETH": ("1000", "0"),
                    "ADA": ("10000000", "0")}  # the demo funds (this module never trades them)
    usdt = next(r for r in rows if r["account_type"] == 3 and r["currency"] == "USDT")
    assert usdt["market_value"] == usdt["balance"]  # USDT is the base currency
    # with a filter: only that exchange's type 3/4 rows
    filtered = rest.account(exchange=X)
    assert filtered and all(r["account_type"] in (3, 4) and r["exchange"] == X for r in filtered)
    assert filtered == [r for r in rows if r["account_type"] in (3, 4)]


def test_place_reply_order_object_and_open_orders(srv):
    rest = make_product(srv, "shapes", {"USDT": "1000"})
    status, env = rest.call("POST", "trade/input", buy("BTC/USDT", "10.5", "0.01", client_oid="tag-1"))
    assert status == 200
    check_envelope(env)
    check_place_reply(env["data"])
    assert env["data"]["client_oid"] == "tag-1"
    oid = env["data"]["system_oid"]
    o = rest.order(oid)
    check_spot_order(o)
    assert {k: o[k] for k in ("system_oid", "client_oid", "contract", "entrust_bs", "entrust_price",
                              "entrust_amount", "average_dealt_price", "dealt_amount", "status",
                              "commission")} == \
        {"system_oid": oid, "client_oid": "tag-1", "contract": "BTC/USDT", "entrust_bs": "buy",
         "entrust_price": "10.5", "entrust_amount": "0.01", "average_dealt_price": "0",
         "dealt_amount": "0", "status": 3, "commission": "0"}
    # freeze: 10.5 x 0.01 = 0.105 plus the 0.05% fee 0.0000525
    assert balances(rest.account(exchange=X))["USDT"] == ("1000", "0.1050525")
    page = rest.open_orders()
    assert set(page) == {"orderDetailRes", "nextFrom"} and page["nextFrom"] == ""
    assert page["orderDetailRes"] == [o]
    # POST form of open_orders answers the same
    assert rest.ok("POST", "trade/open_orders", {}) == page
    # cancel reply shape
    status, env = rest.delete_ids(oid)
    check_envelope(env)
    assert env["data"] == {"SUCCESS": [{"system_oid": oid}], "ERROR": []}
    assert rest.open_orders() == {"orderDetailRes": [], "nextFrom": ""}
    assert balances(rest.account(exchange=X))["USDT"] == ("1000", "0")
    # history keeps it, cancelled with no fill
    assert rest.order(oid)["status"] == 15


def test_cancel_by_query_form_and_several_ids(srv):
    rest = make_product(srv, "cancelq", {"USDT": "1000"})
    a = rest.place(**buy("BTC/USDT", "11", "0.01"))["system_oid"]
    b = rest.place(**buy("BTC/USDT", "12", "0.01"))["system_oid"]
    c = rest.place(**buy("BTC/USDT", "13", "0.01"))["system_oid"]
    # DELETE trade/order?system_oid=a,b (query form)
    status, env = rest.call("DELETE", "trade/order", {"system_oid": f"{a},{b}"})
    assert status == 200 and env["data"] == {"SUCCESS": [{"system_oid": a}, {"system_oid": b}], "ERROR": []}
    # path form with a finished and an open id: per-id outcome
    status, env = rest.delete_ids(f"{a},{c}")
    assert env["data"]["SUCCESS"] == [{"system_oid": c}]
    assert env["data"]["ERROR"] == [{"system_oid": a, "code": "42001", "message": "order is already finished"}]
    assert [o["status"] for o in rest.orders(system_oid=f"{a},{b},{c}")] == [15, 15, 15]


def test_orders_by_ids_keep_request_order_and_filters(srv):
    rest = make_product(srv, "byids", {"USDT": "1000", "BTC": "1"})
    a = rest.place(**buy("BTC/USDT", "20", "0.01"))["system_oid"]
    b = rest.place(**buy("ETH/BTC", "0.001", "0.01"))["system_oid"]
    rest.cancel(a)
    got = rest.orders(system_oid=f"{b},{a}")
    assert [o["system_oid"] for o in got] == [b, a]
    for o in got:
        check_order(o)
    assert [o["system_oid"] for o in rest.orders(system_oid=f"{b},{a}", status=15)] == [a]
    assert [o["system_oid"] for o in rest.orders(system_oid=f"{b},{a}", contract="ETH/BTC")] == [b]
    assert [o["system_oid"] for o in rest.orders(status=3)] == [b]
    assert [o["system_oid"] for o in rest.orders(exchange=X, contract="BTC/USDT")] == [a]
    # the Java SDK's alias
    assert [o["system_oid"] for o in rest.ok("GET", "trade/order", {"systemOid": a})] == [a]


def test_idempotent_client_oid(srv):
    rest = make_product(srv, "idem", {"USDT": "1000"})
    first = rest.place(**buy("BTC/USDT", "10", "0.01", client_oid="same-tag"))
    assert first["client_oid"] == "same-tag"
    open_before = rest.all_open()
    acc_before = rest.account()
    # while it is open: the same client_oid answers the original id and creates nothing,
    # whatever the other fields say
    for fields in (buy("BTC/USDT", "10", "0.01", client_oid="same-tag"),
                   buy("BTC/USDT", "9", "0.02", client_oid="same-tag")):
        again = rest.place(**fields)
        assert again == first
        assert rest.all_open() == open_before and len(open_before) == 1
        assert rest.account() == acc_before
    # after cancel the tag is free: a new order
    rest.cancel(first["system_oid"])
    third = rest.place(**buy("BTC/USDT", "10", "0.01", client_oid="same-tag"))
    assert third["client_oid"] == "same-tag" and third["system_oid"] != first["system_oid"]
    assert [o["system_oid"] for o in rest.all_open()] == [third["system_oid"]]
    # the history has both orders under the tag
    hist = rest.orders()
    assert [(o["system_oid"], o["client_oid"], o["status"]) for o in hist] == \
        [(third["system_oid"], "same-tag", 3), (first["system_oid"], "same-tag", 15)]


def test_open_orders_paging(srv):
    rest = make_product(srv, "paging", {"USDT": "1000", "BTC": "1"})
    ids = [rest.place(**buy("BTC/USDT", f"{20 + i}", "0.01"))["system_oid"] for i in range(4)]
    other = rest.place(**buy("ETH/BTC", "0.001", "0.01"))["system_oid"]
    assert [int(i) for i in ids] == sorted(int(i) for i in ids)
    p1 = rest.open_orders(exchange=X, contract="BTC/USDT", limit=2)
    assert [o["system_oid"] for o in p1["orderDetailRes"]] == ids[:2]
    assert p1["nextFrom"] == ids[1]  # last id of the page, more remain
    p2 = rest.open_orders(exchange=X, contract="BTC/USDT", limit=2, **{"from": p1["nextFrom"]})
    assert [o["system_oid"] for o in p2["orderDetailRes"]] == ids[2:]
    assert p2["nextFrom"] == ""  # nothing after this page
    # POST with the same parameters as a JSON body (limit as a JSON number)
    p1_post = rest.ok("POST", "trade/open_orders", {"exchange": X, "contract": "BTC/USDT", "limit": 2})
    assert p1_post == p1
    everything = rest.open_orders()
    assert [o["system_oid"] for o in everything["orderDetailRes"]] == [*ids, other]
    assert everything["nextFrom"] == ""
    p = rest.open_orders(limit=4)
    assert p["nextFrom"] == ids[3] and len(p["orderDetailRes"]) == 4
    assert rest.open_orders(**{"from": ids[3]})["orderDetailRes"][0]["system_oid"] == other


async def test_orders_without_filter_cap_newest_first(srv):
    """No ids: this product's orders, newest first, at most max_order_query (100)."""
    import aiohttp

    from .api_helpers import Ws

    rest = make_product(srv, "cap", {"USDT": "100"})
    async with aiohttp.ClientSession() as session:
        ws = await Ws.connect(session, srv.trade_ws_url, rest.api_key, rest.secret)
        n = 105
        for i in range(n):  # pipelined
            await ws.send({"biz_type": 11, "req_id": str(i), **buy("BTC/USDT", "1", "0.0001")})
        replies = [await ws.recv() for _ in range(n)]
        await ws.close()
    assert [r["req_id"] for r in replies] == [str(i) for i in range(n)]
    placed = [int(r["data"]["system_oid"]) for r in replies]
    got = rest.orders()
    assert len(got) == 100
    assert [int(o["system_oid"]) for o in got] == sorted(placed, reverse=True)[:100]
    assert len(rest.orders(status=3, exchange=X, contract="BTC/USDT")) == 100


def test_positions_list_and_close_on_spot(srv):
    rest = demo_rest(srv)
    status, env = rest.call("GET", "trade/position", {"exchange": X})
    assert status == 200
    check_envelope(env)
    assert env["code"] == "200" and isinstance(env["data"], list)
    status, env = rest.call("POST", "trade/close", buy("BTC/USDT", "10", "0.01", client_oid="c"))
    assert status == 200 and env["code"] == "40015" and env["data"] is None


def test_ids_and_times(srv):
    rest = make_product(srv, "ids", {"USDT": "1000"})
    oids = [rest.place(**buy("ETH/USDT", "1", "0.01"))["system_oid"] for _ in range(3)]
    for oid in oids:
        assert ID_RE.match(oid)
    assert len(set(oids)) == 3 and [int(o) for o in oids] == sorted(int(o) for o in oids)
