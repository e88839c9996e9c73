"""Place -> partial fill -> query -> cancel, run by ``test_rest_api`` (REST) and
``test_ws_trade`` (biz_type 11/15/12/17/14 on 19001) against a fresh server.

The subject is the demo product (TEST spot: USDT 1,000,000, BTC 100); a second product
``cp`` (BTC 10, USDT 1000) provides counter-orders over REST. Fees are 0.05% maker and
taker on BTC/USDT (tick 0.01, lot 0.0001, 8 decimals per currency); every expected
string below is computed by hand (floor to 8 decimals, cumulative per order and role).
"""

from __future__ import annotations

from typing import Any

from .api_helpers import (
    ID_RE,
    SPOT_FILL_FUTURE_DIR,
    Rest,
    Ws,
    balances,
    check_account_row,
    check_envelope,
    check_fill,
    check_place_reply,
    check_spot_order,
    make_product,
)

X, C = "TEST", "BTC/USDT"


class RestSubject:
    def __init__(self, rest: Rest) -> None:
        self.rest = rest

    def _ok(self, method: str, path: str, params: dict | None = None, **kw: Any) -> Any:
        status, env = self.rest.call(method, path, params, **kw)
        assert status == 200, (status, env)
        check_envelope(env)
        assert env["code"] == "200", env
        return env["data"]

    async def place(self, **fields: Any) -> dict:
        return self._ok("POST", "trade/input", fields)

    async def cancel(self, ids: str) -> dict:
        status, env = self.rest.delete_ids(ids)
        assert status == 200, env
        check_envelope(env)
        return env["data"]

    async def orders(self, **params: Any) -> list:
        return self._ok("GET", "trade/order", params)

    async def fills(self, count: int) -> list:
        return self._ok("GET", "trade/trans", {"exchange": X, "contract": C, "count": count})

    async def account(self, **params: Any) -> list:
        return self._ok("GET", "trade/account", params)


class WsSubject:
    def __init__(self, ws: Ws) -> None:
        self.ws = ws

    async def _ok(self, biz_type: int, **fields: Any) -> Any:
        reply = await self.ws.request(biz_type, **fields)
        check_envelope(reply, biz_type=biz_type, req_id=reply["req_id"])
        assert reply["code"] == "200", reply
        return reply["data"]

    async def place(self, **fields: Any) -> dict:
        return await self._ok(11, **fields)

    async def cancel(self, ids: str) -> dict:
        return await self._ok(12, system_oid=ids)

    async def orders(self, **params: Any) -> list:
        return await self._ok(15, **params)

    async def fills(self, count: int) -> list:
        return await self._ok(17, exchange=X, contract=C, count=count)

    async def account(self, **params: Any) -> list:
        return await self._ok(14, **params)


async def order(subject: Any, oid: str) -> dict:
    found = await subject.orders(system_oid=oid)
    assert len(found) == 1, found
    check_spot_order(found[0])
    return found[0]


async def spot(subject: Any) -> dict[str, tuple[str, str]]:
    rows = await subject.account(exchange=X)
    for r in rows:
        check_account_row(r)
    return balances(rows)


def limit(side: str, price: str, vol: str, **extra: Any) -> dict:
    return {"exchange": X, "contract": C, "price_type": "limit", "entrust_bs": side,
            "entrust_price": price, "entrust_vol": vol, **extra}


async def run(server: Any, subject: Any) -> None:
    cp = make_product(server, "cp", {"BTC": "10", "USDT": "1000"})
    before = await spot(subject)
    assert before["USDT"] == ("1000000", "0") and before["BTC"] == ("100", "0")

    # two resting asks from the counterparty
    s1 = cp.place(**limit("sell", "100", "0.3"))["system_oid"]
    s2 = cp.place(**limit("sell", "101.50", "0.2"))["system_oid"]
    assert cp.order(s1)["status"] == 3 and cp.order(s2)["status"] == 3

    # the subject's buy takes both asks (taker) and rests with the remainder
    placed = await subject.place(**limit("buy", "102", "1", client_oid="scn-1"))
    check_place_reply(placed)
    assert placed["client_oid"] == "scn-1"
    d = placed["system_oid"]
    o = await order(subject, d)
    assert (o["system_oid"], o["client_oid"], o["contract"], o["entrust_bs"]) == (d, "scn-1", C, "buy")
    assert (o["entrust_price"], o["entrust_amount"]) == ("102", "1")
    # 0.3 @ 100 + 0.2 @ 101.5 = 50.3 USDT for 0.5 BTC; taker fee floor(50.3 x 0.0005) = 0.02515
    assert (o["status"], o["dealt_amount"], o["average_dealt_price"], o["commission"]) == \
        (4, "0.5", "100.6", "0.02515")
    # freeze was 102 + 0.051; kept: 0.5 x 102 + reserve 0.051 - fees paid 0.02515 = 51.02585
    assert await spot(subject) == {**before, "USDT": ("999949.67485", "51.02585"), "BTC": ("100.5", "0")}
    assert cp.order(s1)["status"] == 5 and cp.order(s2)["status"] == 5

    # the counterparty sells into the resting remainder: the subject is maker at 102
    s3 = cp.place(**limit("sell", "102", "0.1"))["system_oid"]
    assert cp.order(s3)["status"] == 5
    o = await order(subject, d)
    # 60.5 / 0.6 = 100.8333... (tick decimals + 8, half-up); maker fee floor(10.2 x 0.0005) = 0.0051
    assert (o["status"], o["dealt_amount"], o["average_dealt_price"], o["commission"]) == \
        (4, "0.6", "100.8333333333", "0.03025")
    # kept: 0.4 x 102 + 0.051 - 0.03025 = 40.82075; paid 60.5 + 0.03025
    assert await spot(subject) == {**before, "USDT": ("999939.46975", "40.82075"), "BTC": ("100.6", "0")}

    # fills, newest first, with the spot future_dir literal
    fills = await subject.fills(10)
    for f in fills:
        check_fill(f)
    assert [(f["dealt_amount"], f["dealt_price"], f["commission"]) for f in fills] == \
        [("0.1", "102", "0.0051"), ("0.2", "101.5", "0.01015"), ("0.3", "100", "0.015")]
    assert {(f["system_oid"], f["client_oid"], f["contract"], f["entrust_bs"], f["future_dir"],
             f["commission_currency"]) for f in fills} == {(d, "scn-1", C, "buy", SPOT_FILL_FUTURE_DIR, "USDT")}
    tids = [int(f["system_tid"]) for f in fills]
    assert tids == sorted(tids, reverse=True) and len(set(tids)) == 3
    assert await subject.fills(2) == fills[:2]

    # cancel the remainder: 14 (part-cancelled), freeze released, fills kept
    assert await subject.cancel(d) == {"SUCCESS": [{"system_oid": d}], "ERROR": []}
    o = await order(subject, d)
    assert (o["status"], o["dealt_amount"], o["average_dealt_price"], o["commission"]) == \
        (14, "0.6", "100.8333333333", "0.03025")
    after_cancel = {**before, "USDT": ("999939.46975", "0"), "BTC": ("100.6", "0")}
    assert await spot(subject) == after_cancel

    # an order with no fill: 3, then 15 on cancel; balances back exactly
    q = (await subject.place(**limit("buy", "50", "0.1")))["system_oid"]
    o = await order(subject, q)
    assert (o["status"], o["dealt_amount"], o["average_dealt_price"], o["commission"], o["client_oid"]) == \
        (3, "0", "0", "0", "")
    assert await spot(subject) == {**after_cancel, "USDT": ("999939.46975", "5.0025")}
    cancelled = await subject.cancel(q)
    assert cancelled == {"SUCCESS": [{"system_oid": q}], "ERROR": []}
    assert (await order(subject, q))["status"] == 15
    assert await spot(subject) == after_cancel

    # market buy of 20 USDT against an ask at 100: 0.2 BTC, fee 0.0001 BTC taken inside
    s4 = cp.place(**limit("sell", "100", "0.5"))["system_oid"]
    m = (await subject.place(exchange=X, contract=C, price_type="market", entrust_bs="buy",
                             entrust_vol="20", client_oid="mkt"))["system_oid"]
    o = await order(subject, m)
    assert (o["status"], o["entrust_price"], o["entrust_amount"], o["dealt_amount"],
            o["average_dealt_price"], o["commission"]) == (5, "0", "20", "0.2", "100", "0.0001")
    newest = (await subject.fills(1))[0]
    assert (newest["system_oid"], newest["dealt_amount"], newest["dealt_price"], newest["commission"],
            newest["commission_currency"]) == (m, "0.2", "100", "0.0001", "BTC")
    after_market = {**before, "USDT": ("999919.46975", "0"), "BTC": ("100.7999", "0")}
    assert await spot(subject) == after_market

    # market sell with no bid at all: nothing fills, 15, nothing changes
    n = (await subject.place(exchange=X, contract=C, price_type="market", entrust_bs="sell",
                             entrust_vol="0.1"))["system_oid"]
    o = await order(subject, n)
    assert (o["status"], o["dealt_amount"], o["commission"]) == (15, "0", "0")
    assert await spot(subject) == after_market

    # the counterparty's side: 5 / 5 / 5 and 4 on the rest of s4, proceeds less fees
    assert [cp.order(i)["status"] for i in (s1, s2, s3, s4)] == [5, 5, 5, 4]
    assert balances(cp.account(exchange=X)) == {"BTC": ("9.2", "0.3"), "USDT": ("1080.45975", "0")}
    cp_fills = cp.fills(X, C, 50)
    assert [(f["system_oid"], f["entrust_bs"], f["dealt_amount"], f["commission"]) for f in cp_fills] == \
        [(s4, "sell", "0.2", "0.01"), (s3, "sell", "0.1", "0.0051"), (s2, "sell", "0.2", "0.01015"),
         (s1, "sell", "0.3", "0.015")]
    # the same trade carries the same system_tid on both sides
    subject_tids = {f["system_tid"] for f in await subject.fills(50)}
    assert {f["system_tid"] for f in cp_fills} == subject_tids
    for f in cp_fills:
        assert ID_RE.match(f["system_tid"])
