"""Contracts through a real server: opening and closing over REST (``trade/input`` with
``future_dir``, ``trade/close`` with ``close_rule`` and ``deal_id``; comma-joined
``system_oid`` for multi-position closes), positions over REST ``trade/position`` (with the
``exchange``/``contract``/``position_dir`` filters and the ``positionDir`` alias) and over
the biz_type socket (16; 11 with ``future_dir=close``), the exact position object, contract
fill objects and account rows of type 4.

The demo product is funded on the TEST contract account (type 4) with 1,000,000 USDT and
100 BTC; a counterparty product is created and funded through the admin endpoint. With no
index set, the mark is the book mid, else the last trade.
"""

from __future__ import annotations

import aiohttp
import pytest

from tests.serverproc import ServerProcess

from .api_helpers import (
    DECIMAL_RE,
    FILL_KEYS,
    ID_RE,
    Rest,
    Ws,
    check_account_row,
    check_envelope,
    check_order,
    check_place_reply,
    check_wire_time,
    demo_rest,
)

X = "TEST"
PERP = "BTCUSDT_PERP"
POSITION_KEYS = {"dealId", "exchange", "contract", "position_dir", "vol", "margin", "open_price",
                 "position_value", "force_price", "lever", "close_profit", "position_profit"}


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    proc = ServerProcess(tmp_path_factory.mktemp("contracts") / "data", extra_args=("--no-simulator",)).start()
    yield proc
    proc.stop()


def contract_product(server, name: str, funds: dict[str, str]) -> Rest:
    """A product with a key, funded on the TEST contract account (type 4)."""
    server.admin("create_product", name=name)
    cred = server.admin("create_key", product=name, permissions="read,trade")
    for cur, amount in funds.items():
        server.admin("deposit", product=name, currency=cur, amount=amount)
        server.admin("transfer", product=name, currency=cur, amount=amount, from_type=2, to_type=4,
                     exchange=X)
    return Rest(server.http_url, cred["api_key"], cred["secret"])


def order(contract: str, bs: str, price: str | None, vol: str, fdir: str, **extra) -> dict:
    body = {"exchange": X, "contract": contract, "price_type": "limit" if price else "market",
            "entrust_bs": bs, "entrust_vol": vol, "future_dir": fdir, **extra}
    if price:
        body["entrust_price"] = price
    return body


def signed_decimal(value) -> bool:
    """A plain wire decimal, possibly negative (PnL, maker rebates)."""
    return isinstance(value, str) and bool(DECIMAL_RE.match(value.removeprefix("-"))) and value != "-0"


def check_position(p: dict) -> None:
    assert set(p) == POSITION_KEYS, sorted(set(p) ^ POSITION_KEYS)
    assert all(isinstance(v, str) for v in p.values()), p
    assert ID_RE.match(p["dealId"]), p
    assert p["exchange"] == X and p["position_dir"] in ("buy", "sell")
    for k in ("vol", "margin", "open_price", "position_value", "force_price", "lever"):
        assert DECIMAL_RE.match(p[k]), (k, p[k])
    for k in ("close_profit", "position_profit"):
        assert signed_decimal(p[k]), (k, p[k])


def check_contract_fill(f: dict, settle: str) -> None:
    assert set(f) == FILL_KEYS, sorted(set(f) ^ FILL_KEYS)
    assert ID_RE.match(f["system_oid"]) and ID_RE.match(f["system_tid"]), f
    assert f["entrust_bs"] in ("buy", "sell") and f["future_dir"] in ("open", "close"), f
    assert DECIMAL_RE.match(f["dealt_amount"]) and DECIMAL_RE.match(f["dealt_price"]), f
    assert signed_decimal(f["commission"]), f
    assert f["commission_currency"] == settle, f
    check_wire_time(f["dealt_time"])


def positions(rest: Rest, **params) -> list[dict]:
    data = rest.ok("GET", "trade/position", params)
    for p in data:
        check_position(p)
    return data


def contract_rows(rest: Rest) -> dict[str, tuple[str, str]]:
    rows = rest.account(exchange=X)
    for r in rows:
        check_account_row(r)
    return {r["currency"]: (r["balance"], r["frozen"]) for r in rows if r["account_type"] == 4}


def err_code(rest: Rest, path: str, body: dict) -> str:
    status, env = rest.call("POST", path, body)
    assert status == 200, env
    check_envelope(env)
    return env["code"]


def test_rest_open_close_positions_fills_and_accounts(srv):
    demo = demo_rest(srv)
    cp = contract_product(srv, "cp1", {"USDT": "100000", "BTC": "10"})
    assert contract_rows(demo) == {"USDT": ("1000000", "0"), "BTC": ("100", "0")}

    # --- opening: a long of 10 @ 30000, lever 10 against cp's resting short ----------------
    check_place_reply(cp.place(**order(PERP, "sell", "30000", "10", "open", lever="5")))
    reply = demo.place(**order(PERP, "buy", "30000", "10", "open", lever="10", client_oid="L1"))
    check_place_reply(reply)
    assert reply["client_oid"] == "L1"
    o = demo.order(reply["system_oid"])
    check_order(o)
    assert (o["future_dir"], o["lever"], o["status"], o["entrust_bs"]) == ("open", "10", 5, "buy")
    # taker fee 0.075% of 300 USDT
    assert o["commission"] == "0.225"
    (p1,) = positions(demo)
    # margin 300 / 10 = 30; force floor((3e10 - 3e9) x 1e8 / (1e5 x 99_500_000)) = 271_356 ticks
    # mark = last trade (book empty) = 30000 -> value 300, profit 0
    assert {k: v for k, v in p1.items() if k != "dealId"} == {
        "exchange": X, "contract": PERP, "position_dir": "buy", "vol": "10", "margin": "30",
        "open_price": "30000", "position_value": "300", "force_price": "27135.6", "lever": "10",
        "close_profit": "0", "position_profit": "0"}
    # the frozen USDT is the position margin; the fee left the balance
    assert contract_rows(demo)["USDT"] == ("999999.775", "30")

    # --- a second long (lever 20) and a short (hedge mode) ----------------------------------
    cp.place(**order(PERP, "sell", "30100", "5", "open", lever="5"))
    demo.place(**order(PERP, "buy", "30100", "5", "open", lever="20"))
    cp.place(**order(PERP, "buy", "29900", "3", "open", lever="5"))
    demo.place(**order(PERP, "sell", "29900", "3", "open", lever="10"))
    all_pos = positions(demo)
    assert len(all_pos) == 3 and len({p["dealId"] for p in all_pos}) == 3
    longs = positions(demo, position_dir="buy")
    assert [p["dealId"] for p in longs] == [p["dealId"] for p in all_pos if p["position_dir"] == "buy"]
    assert [(p["vol"], p["lever"]) for p in longs] == [("10", "10"), ("5", "20")]
    # 5 x 30100 x 0.001 / 20 = 7.525
    assert longs[1]["margin"] == "7.525" and longs[1]["open_price"] == "30100"
    (short,) = positions(demo, positionDir="sell")           # the Java SDK's alias
    assert (short["vol"], short["margin"], short["open_price"]) == ("3", "8.97", "29900")
    assert positions(demo, exchange=X, contract=PERP) == positions(demo)
    assert positions(demo, exchange=X, contract="XBTUSD") == []
    assert positions(demo, exchange=X, contract=PERP, position_dir="sell") == [short]
    # floating PnL at the mark (last trade 29900): first long (29900 - 30000) x 0.01 = -1
    assert positions(demo, position_dir="buy")[0]["position_profit"] == "-1"
    for bad, code in (({"position_dir": "up"}, "40006"), ({"exchange": "NOPE"}, "40401"),
                      ({"exchange": X, "contract": "NOPE"}, "40402")):
        _status, env = demo.call("GET", "trade/position", bad)
        check_envelope(env)
        assert env["code"] == code, (bad, env)
    # margins of all three: 30 + 7.525 + 8.97
    assert contract_rows(demo)["USDT"][1] == "46.495"

    # --- trade/close by close_rule time: one order per position, ids joined by commas -------
    reply = demo.ok("POST", "trade/close", order(PERP, "sell", "31000", "12", "close", close_rule="time",
                                                     client_oid="C1"))
    assert reply["client_oid"] == "C1"
    ids = reply["system_oid"].split(",")
    assert len(ids) == 2 and all(ID_RE.match(i) for i in ids)
    orders = demo.orders(system_oid=reply["system_oid"])
    for o in orders:
        check_order(o)
    assert [(o["system_oid"], o["future_dir"], o["entrust_bs"], o["entrust_amount"], o["status"], o["lever"])
            for o in orders] == [(ids[0], "close", "sell", "10", 3, "10"), (ids[1], "close", "sell", "2", 3, "20")]
    # nothing more to close on the long side: 15 open, 12 reserved
    assert err_code(demo, "trade/close", order(PERP, "sell", "31000", "4", "close", close_rule="risk")) == "41002"
    # neither deal_id nor close_rule
    assert err_code(demo, "trade/close", order(PERP, "sell", "31000", "1", "close")) == "40016"
    # cp buys 12 @ 31000: both close orders fill
    cp.place(**order(PERP, "buy", "31000", "12", "open", lever="5"))
    assert [o["status"] for o in demo.orders(system_oid=reply["system_oid"])] == [5, 5]
    longs = positions(demo, position_dir="buy")
    assert len(longs) == 1 and longs[0]["dealId"] == [p["dealId"] for p in all_pos][1]
    # second long: 2 of 5 closed at 31000: (31000 - 30100) x 2 x 0.001 = 1.8 realised
    assert (longs[0]["vol"], longs[0]["close_profit"]) == ("3", "1.8")

    # --- trade/input with future_dir=close and deal_id: partial close of the short ----------
    cp.place(**order(PERP, "sell", "29000", "1", "open", lever="5"))
    reply = demo.place(**order(PERP, "buy", None, "1", "close", deal_id=short["dealId"]))
    assert "," not in reply["system_oid"]
    (short_now,) = positions(demo, position_dir="sell")
    # (29900 - 29000) x 1 x 0.001 = 0.9 realised
    assert (short_now["dealId"], short_now["vol"], short_now["close_profit"]) == (short["dealId"], "2", "0.9")
    # a deal_id on the wrong side, and more than the position
    assert err_code(demo, "trade/input", order(PERP, "sell", "29000", "1", "close",
                                               deal_id=short["dealId"])) == "40006"
    assert err_code(demo, "trade/input", order(PERP, "buy", "29000", "3", "close",
                                               deal_id=short["dealId"])) == "41002"

    # --- trade/close with deal_id -----------------------------------------------------------
    cp.place(**order(PERP, "sell", "29500", "1", "open", lever="5"))
    reply = demo.ok("POST", "trade/close", order(PERP, "buy", "29500", "1", "close", deal_id=short["dealId"]))
    assert ID_RE.match(reply["system_oid"])
    (short_now,) = positions(demo, position_dir="sell")
    # + (29900 - 29500) x 1 x 0.001 = 0.4 -> 1.3 realised, 1 lot left
    assert (short_now["vol"], short_now["close_profit"]) == ("1", "1.3")

    # --- fills ---------------------------------------------------------------------------
    fills = demo.fills(X, PERP, 50)
    for f in fills:
        check_contract_fill(f, "USDT")
    dirs = sorted((f["future_dir"], f["entrust_bs"]) for f in fills)
    assert dirs == sorted([("open", "buy"), ("open", "buy"), ("open", "sell"),
                           ("close", "sell"), ("close", "sell"), ("close", "buy"), ("close", "buy")])
    # the first close fill as a maker: rebate -0.025% of 310 USDT = -0.0775
    by_oid = {f["system_oid"]: f for f in fills}
    assert by_oid[ids[0]]["commission"] == "-0.0775" and by_oid[ids[0]]["dealt_price"] == "31000"


def test_inverse_position_and_btc_fills(srv):
    a = contract_product(srv, "inv_a", {"BTC": "1"})
    b = contract_product(srv, "inv_b", {"BTC": "1"})
    b.place(**order("XBTUSD", "sell", "40000", "100", "open", lever="5"))
    a.place(**order("XBTUSD", "buy", "40000", "100", "open", lever="10"))
    (p,) = positions(a)
    # notional 100 USD / 40000 = 0.0025 BTC; margin 0.00025;
    # force floor(100 x 1e9 x 100_500_000 / (5 x 275_000 x 1e8)) = 73_090 ticks = 36545
    assert {k: v for k, v in p.items() if k != "dealId"} == {
        "exchange": X, "contract": "XBTUSD", "position_dir": "buy", "vol": "100", "margin": "0.00025",
        "open_price": "40000", "position_value": "0.0025", "force_price": "36545", "lever": "10",
        "close_profit": "0", "position_profit": "0"}
    (f,) = a.fills(X, "XBTUSD", 10)
    check_contract_fill(f, "BTC")
    # taker fee floor(250_000 sat x 0.00075) = 187 sat
    assert (f["future_dir"], f["commission"], f["commission_currency"]) == ("open", "0.00000187", "BTC")
    # 1 - 0.00000187, frozen = the margin
    assert contract_rows(a)["BTC"] == ("0.99999813", "0.00025")
    (fb,) = b.fills(X, "XBTUSD", 10)
    check_contract_fill(fb, "BTC")
    assert (fb["commission"], fb["commission_currency"]) == ("-0.00000062", "BTC")


async def test_ws_positions_and_close(srv):
    user = contract_product(srv, "wsuser", {"USDT": "10000"})
    cp = contract_product(srv, "wscp", {"USDT": "10000"})
    async with aiohttp.ClientSession() as session:
        ws = await Ws.connect(session, srv.trade_ws_url.rstrip("/"), user.api_key, user.secret)
        cp.place(**order(PERP, "sell", "30000", "4", "open", lever="5"))
        data = await ws.ok(11, **order(PERP, "buy", "30000", "4", "open", lever="10"))
        check_place_reply(data)
        cp.place(**order(PERP, "sell", "30000", "2", "open", lever="5"))
        await ws.ok(11, **order(PERP, "buy", "30000", "2", "open", lever="50"))
        reply = await ws.request(16, exchange=X, contract=PERP)
        check_envelope(reply, biz_type=16, req_id=reply["req_id"])
        pos = reply["data"]
        for p in pos:
            check_position(p)
        assert [(p["vol"], p["lever"], p["margin"]) for p in pos] == [("4", "10", "12"), ("2", "50", "1.2")]
        # the same objects as over REST
        assert pos == positions(user, exchange=X, contract=PERP)
        assert await ws.ok(16, position_dir="sell") == []
        assert await ws.ok(16, positionDir="buy") == pos
        # biz 11 with future_dir=close and close_rule risk: the lever-50 long first
        # (force floor((6e9 - 1.2e8) x 1e8 / (2e4 x 99_500_000)) = 295_477 > 271_356)
        assert [p["force_price"] for p in pos] == ["27135.6", "29547.7"]
        data = await ws.ok(11, **order(PERP, "sell", "31000", "3", "close", close_rule="risk"))
        ids = data["system_oid"].split(",")
        assert len(ids) == 2
        placed = await ws.ok(15, system_oid=data["system_oid"])
        assert [(o["future_dir"], o["entrust_amount"], o["lever"]) for o in placed] == \
            [("close", "2", "50"), ("close", "1", "10")]
        # by deal_id
        data = await ws.ok(11, **order(PERP, "sell", "32000", "1", "close", deal_id=pos[0]["dealId"]))
        assert "," not in data["system_oid"]
        # both missing
        reply = await ws.request(11, **order(PERP, "sell", "31000", "1", "close"))
        assert reply["code"] == "40016" and reply["data"] is None
        # cp takes the closes at 31000 and 32000
        cp.place(**order(PERP, "buy", "32000", "4", "open", lever="5"))
        pos2 = await ws.ok(16)
        assert [(p["dealId"], p["vol"]) for p in pos2] == [(pos[0]["dealId"], "2")]
        # (31000 - 30000) x 1 x 0.001 + (32000 - 30000) x 1 x 0.001 = 3 realised
        assert pos2[0]["close_profit"] == "3"
        await ws.close()
