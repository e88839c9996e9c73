"""Push notices on 19003 against a real server (API.md section 4): messageType 1 for every
status change and fill, messageType 2 for resting opening orders (``PENDING``) and
positions (``POSITION``), the per-product ``seq`` (+1 per notice, no gap), ``&since=SEQ``
replay (exactly the notices after SEQ, then live), the messageType "0" notice when SEQ is
older than what is retained, text ping/pong and refused handshakes.

Every test trades between products it creates itself (admin create_product / create_key /
deposit / transfer), so each product's ``seq`` starts at 1 and tests do not see each
other's notices. Expected values are computed here from the orders placed (decimal
arithmetic with :mod:`decimal`), never read back from the server, then cross-checked with
the REST order and position queries. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

import aiohttp
import pytest

from ceres.client import RestClient, ws_sign
from tests.integration.api_helpers import wire
from tests.serverproc import ServerProcess

X = "TEST"
TIMEOUT = 5.0
NOTICE1_KEYS = {"product", "exchange", "contract", "entrustId", "avgDealPrice", "entrustTime", "entrustStatus",
                "entrustDir", "entrustType", "lever", "entrustPrice", "entrustVol", "dealVol", "totalDealVol",
                "messageType", "seq"}
NOTICE2_KEYS = {"product", "entrustId", "forcedPrice", "totalMargin", "profit", "stop", "dealId", "type",
                "messageType", "seq"}
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
ID_RE = re.compile(r"^[0-9]{18,19}$")
DECIMAL_RE = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]*[1-9])?$")


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    proc = ServerProcess(tmp_path_factory.mktemp("notices") / "data", extra_args=("--no-simulator",)).start()
    yield proc
    proc.stop()


# --- helpers ---------------------------------------------------------------------------------
def avg(*fills: tuple[str, str]) -> str:
    """Average fill price as the server renders it: half-up at tick decimals + 8."""
    vol = sum(Decimal(v) for _, v in fills)
    dealt = sum(Decimal(p) * Decimal(v) for p, v in fills)
    return wire((dealt / vol).quantize(Decimal("1e-10"), ROUND_HALF_UP))


def force_linear(side: str, lots: int, price: str, lever: int, value: str = "0.001", mmr: str = "0.005",
                 tick: str = "0.1") -> tuple[str, str]:
    """(force price, margin) of an isolated linear position: margin = ceil(notional / lever)
    (minor units of 1e-8), liquidation where equity = mmr x notional."""
    base = Decimal(lots) * Decimal(value)
    cost = base * Decimal(price)
    margin = (cost / lever).quantize(Decimal("1e-8"), ROUND_CEILING)
    t = Decimal(tick)
    if side == "long":
        f = ((cost - margin) / (base * (1 - Decimal(mmr))) / t).to_integral_value(ROUND_FLOOR) * t
    else:
        f = ((cost + margin) / (base * (1 + Decimal(mmr))) / t).to_integral_value(ROUND_CEILING) * t
    return wire(f), wire(margin)


def new_product(srv: ServerProcess, name: str, *, spot: dict[str, str] | None = None,
                contract: dict[str, str] | None = None) -> tuple[RestClient, dict]:
    """A product with a read,trade key, funded on TEST spot (type 3) and/or contracts (type 4)."""
    srv.admin("create_product", name=name)
    cred = srv.admin("create_key", product=name, permissions="read,trade")
    for to_type, funds in ((3, spot or {}), (4, contract or {})):
        for currency, amount in funds.items():
            srv.admin("deposit", product=name, currency=currency, amount=amount)
            srv.admin("transfer", product=name, currency=currency, amount=amount, from_type=2, to_type=to_type,
                      exchange=X)
    return RestClient(srv.http_url, cred["api_key"], cred["secret"], raise_for_code=True), cred


def place(rest: RestClient, contract: str, side: str, ptype: str, vol: str, price: str | None = None,
          **extra: Any) -> str:
    return rest.place(exchange=X, contract=contract, price_type=ptype, entrust_bs=side, entrust_vol=vol,
                      entrust_price=price, **extra)["data"]["system_oid"]


def cancel(rest: RestClient, oid: str) -> None:
    assert rest.cancel(oid)["data"] == {"SUCCESS": [{"system_oid": oid}], "ERROR": []}


class Notices:
    """One 19003 socket; ``next`` returns the next message (JSON-decoded unless "pong")."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.seen: list[dict] = []

    @classmethod
    async def connect(cls, session: aiohttp.ClientSession, srv: ServerProcess, cred: dict, *,
                      since: int | None = None, path: str = "/") -> Notices:
        url = (f"http://127.0.0.1:{srv.info['notify_ws']}{path}?api_key={cred['api_key']}"
               f"&sign={ws_sign(cred['api_key'], cred['secret'])}")
        if since is not None:
            url += f"&since={since}"
        return cls(await asyncio.wait_for(session.ws_connect(url, autoping=True), TIMEOUT))

    async def next(self, timeout: float = TIMEOUT) -> Any:
        msg = await asyncio.wait_for(self.ws.receive(), timeout)
        assert msg.type == aiohttp.WSMsgType.TEXT, (msg.type, msg.data, msg.extra)
        if msg.data == "pong":
            return "pong"
        obj = json.loads(msg.data)
        self.seen.append(obj)
        return obj

    async def take(self, n: int, timeout: float = TIMEOUT) -> list[dict]:
        deadline = time.monotonic() + timeout
        return [await self.next(max(0.01, deadline - time.monotonic())) for _ in range(n)]

    async def quiet(self, seconds: float = 0.3) -> None:
        """Nothing more arrives within ``seconds``."""
        try:
            extra = await asyncio.wait_for(self.ws.receive(), seconds)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected message {extra.type} {extra.data!r}")

    async def close(self) -> None:
        await self.ws.close()


def order_notice(product: str, contract: str, oid: str, status: str, direction: str, ptype: str, lever: str,
                 price: str, vol: str, deal: str, total: str, avg_price: str) -> dict:
    return {"product": product, "exchange": X, "contract": contract, "entrustId": oid, "avgDealPrice": avg_price,
            "entrustStatus": status, "entrustDir": direction, "entrustType": ptype, "lever": lever,
            "entrustPrice": price, "entrustVol": vol, "dealVol": deal, "totalDealVol": total, "messageType": "1"}


def position_notice(product: str, oid: str, kind: str, deal_id: str, force: str, margin: str, profit: str,
                    stop: str) -> dict:
    return {"product": product, "entrustId": oid, "forcedPrice": force, "totalMargin": margin, "profit": profit,
            "stop": stop, "dealId": deal_id, "type": kind, "messageType": "2"}


def check_stream(got: list[dict], expected: list[dict], first_seq: int = 1) -> None:
    """Exact key sets, the expected values in order, ``seq`` +1 per notice from ``first_seq``."""
    assert [n["seq"] for n in got] == list(range(first_seq, first_seq + len(got))), [n["seq"] for n in got]
    assert len(got) == len(expected), (len(got), len(expected), got)
    times: dict[str, str] = {}
    for i, (n, e) in enumerate(zip(got, expected, strict=True)):
        assert type(n["seq"]) is int
        if n["messageType"] == "1":
            assert set(n) == NOTICE1_KEYS, (i, sorted(set(n) ^ NOTICE1_KEYS))
            assert TIME_RE.match(n["entrustTime"]), n
            assert times.setdefault(n["entrustId"], n["entrustTime"]) == n["entrustTime"]
            body = {k: v for k, v in n.items() if k not in ("seq", "entrustTime")}
        else:
            assert set(n) == NOTICE2_KEYS, (i, sorted(set(n) ^ NOTICE2_KEYS))
            body = {k: v for k, v in n.items() if k != "seq"}
        for k, v in body.items():
            assert isinstance(v, str), (i, k, v)
            if k in ("avgDealPrice", "entrustPrice", "entrustVol", "dealVol", "totalDealVol", "forcedPrice",
                     "totalMargin", "profit", "stop", "lever"):
                assert DECIMAL_RE.match(v), (i, k, v)
        assert ID_RE.match(n["entrustId"])
        assert body == e, f"notice {i} (seq {n['seq']}):\n got      {body}\n expected {e}"


def check_times_against_orders(rest: RestClient, notices: list[dict]) -> None:
    """``entrustTime`` of each order's notices equals the order's ``entrust_time`` (REST)."""
    ids = sorted({n["entrustId"] for n in notices if n["messageType"] == "1"})
    orders = {o["system_oid"]: o for o in rest.orders(system_oid=",".join(ids))["data"]}
    assert set(orders) == set(ids)
    for n in notices:
        if n["messageType"] == "1":
            assert n["entrustTime"] == orders[n["entrustId"]]["entrust_time"], n


# --- messageType 1: spot ----------------------------------------------------------------------
async def test_spot_fill_and_cancel_notices_for_both_products(srv):
    maker, mc = new_product(srv, "nt-maker", spot={"BTC": "10"})
    taker, tc = new_product(srv, "nt-taker", spot={"USDT": "100000"})
    B = "BTC/USDT"
    async with aiohttp.ClientSession() as session:
        nm = await Notices.connect(session, srv, mc)
        nt = await Notices.connect(session, srv, tc, path="/ws/notify")
        o1 = place(maker, B, "sell", "limit", "1", "100")
        o2 = place(taker, B, "buy", "limit", "0.4", "100")          # partial fill of o1
        o3 = place(maker, B, "sell", "limit", "0.5", "101")
        o4 = place(taker, B, "buy", "market", "100")                # spends 100 USDT: 0.6@100 + 0.396@101
        cancel(maker, o3)                                           # 0.396 of 0.5 filled: PART_CANCELED
        o5 = place(taker, B, "buy", "limit", "0.1", "50")
        cancel(taker, o5)                                           # nothing filled: CANCELED
        o6 = place(taker, B, "sell", "market", "0.1")               # no bids left: CANCELED at once

        m, t = "nt-maker", "nt-taker"
        a4 = avg(("100", "0.6"), ("101", "0.396"))
        assert a4 == "100.3975903614"
        want_maker = [
            order_notice(m, B, o1, "SUBMITTED", "SELL", "LIMIT", "1", "100", "1", "0", "0", "0"),
            order_notice(m, B, o1, "PART_FILLED", "SELL", "LIMIT", "1", "100", "1", "0.4", "0.4", "100"),
            order_notice(m, B, o3, "SUBMITTED", "SELL", "LIMIT", "1", "101", "0.5", "0", "0", "0"),
            order_notice(m, B, o1, "FILLED", "SELL", "LIMIT", "1", "100", "1", "0.6", "1", "100"),
            order_notice(m, B, o3, "PART_FILLED", "SELL", "LIMIT", "1", "101", "0.5", "0.396", "0.396", "101"),
            order_notice(m, B, o3, "PART_CANCELED", "SELL", "LIMIT", "1", "101", "0.5", "0", "0.396", "101"),
        ]
        want_taker = [
            order_notice(t, B, o2, "SUBMITTED", "BUY", "LIMIT", "1", "100", "0.4", "0", "0", "0"),
            order_notice(t, B, o2, "FILLED", "BUY", "LIMIT", "1", "100", "0.4", "0.4", "0.4", "100"),
            # a market buy: entrustVol is the quote to spend, entrustPrice "0"
            order_notice(t, B, o4, "SUBMITTED", "BUY", "MARKET", "1", "0", "100", "0", "0", "0"),
            order_notice(t, B, o4, "PART_FILLED", "BUY", "MARKET", "1", "0", "100", "0.6", "0.6", "100"),
            order_notice(t, B, o4, "PART_FILLED", "BUY", "MARKET", "1", "0", "100", "0.396", "0.996", a4),
            order_notice(t, B, o4, "FILLED", "BUY", "MARKET", "1", "0", "100", "0", "0.996", a4),
            order_notice(t, B, o5, "SUBMITTED", "BUY", "LIMIT", "1", "50", "0.1", "0", "0", "0"),
            order_notice(t, B, o5, "CANCELED", "BUY", "LIMIT", "1", "50", "0.1", "0", "0", "0"),
            order_notice(t, B, o6, "SUBMITTED", "SELL", "MARKET", "1", "0", "0.1", "0", "0", "0"),
            order_notice(t, B, o6, "CANCELED", "SELL", "MARKET", "1", "0", "0.1", "0", "0", "0"),
        ]
        got_maker = await nm.take(len(want_maker))
        got_taker = await nt.take(len(want_taker))
        await nm.quiet()
        await nt.quiet(0.05)
        check_stream(got_maker, want_maker)
        check_stream(got_taker, want_taker)
        check_times_against_orders(maker, got_maker)
        check_times_against_orders(taker, got_taker)
        # the REST view agrees with the last notice of each order
        for rest, got in ((maker, got_maker), (taker, got_taker)):
            last = {n["entrustId"]: n for n in got}
            for o in rest.orders(system_oid=",".join(last))["data"]:
                n = last[o["system_oid"]]
                assert (o["dealt_amount"], o["average_dealt_price"]) == (n["totalDealVol"], n["avgDealPrice"])
                assert {3: "SUBMITTED", 4: "PART_FILLED", 5: "FILLED", 14: "PART_CANCELED",
                        15: "CANCELED"}[o["status"]] == n["entrustStatus"]
        # text ping -> text pong, on a socket that has notices
        await nm.ws.send_str("ping")
        assert await nm.next() == "pong"
        await nm.close()
        await nt.close()


# --- messageType 2: contracts -----------------------------------------------------------------
async def test_contract_open_close_notices_pending_and_position(srv):
    lng, lc = new_product(srv, "nt-long", contract={"USDT": "100000"})
    sht, sc = new_product(srv, "nt-short", contract={"USDT": "100000"})
    P = "BTCUSDT_PERP"
    L, S = "nt-long", "nt-short"
    async with aiohttp.ClientSession() as session:
        nl = await Notices.connect(session, srv, lc)
        ns = await Notices.connect(session, srv, sc)
        # a resting opening order: SUBMITTED + PENDING (dealId "")
        oa = place(lng, P, "buy", "limit", "10", "30000", future_dir="open", lever=10, profit_value="33000",
                   stop_value="28000")
        # a crossing opening order: a position for each side
        ob = place(sht, P, "sell", "limit", "4", "30000", future_dir="open", lever=5)
        pos_l = lng.positions(exchange=X, contract=P)["data"]
        pos_s = sht.positions(exchange=X, contract=P)["data"]
        assert len(pos_l) == 1 and len(pos_s) == 1
        xl, xs = pos_l[0]["dealId"], pos_s[0]["dealId"]
        # closing orders by deal id: BUY_CLOSE rests, SELL_CLOSE crosses it
        oc = place(sht, P, "buy", "limit", "4", "30100", future_dir="close", deal_id=xs)
        od = place(lng, P, "sell", "limit", "4", "30100", future_dir="close", deal_id=xl)
        cancel(lng, oa)  # the rest of the opening order: PART_CANCELED, PENDING with nothing left

        f10, m10 = force_linear("long", 10, "30000", 10)
        f6, m6 = force_linear("long", 6, "30000", 10)
        f4l, m4l = force_linear("long", 4, "30000", 10)
        f4s, m4s = force_linear("short", 4, "30000", 5)
        assert (m10, m6, m4l, m4s) == ("30", "18", "12", "24")
        assert (f4l, f4s) == ("27135.6", "35820.9")
        want_long = [
            order_notice(L, P, oa, "SUBMITTED", "BUY_OPEN", "LIMIT", "10", "30000", "10", "0", "0", "0"),
            position_notice(L, oa, "PENDING", "", f10, m10, "33000", "28000"),
            position_notice(L, oa, "POSITION", xl, f4l, m4l, "33000", "28000"),
            order_notice(L, P, oa, "PART_FILLED", "BUY_OPEN", "LIMIT", "10", "30000", "10", "4", "4", "30000"),
            position_notice(L, oa, "PENDING", "", f6, m6, "33000", "28000"),
            order_notice(L, P, od, "SUBMITTED", "SELL_CLOSE", "LIMIT", "10", "30100", "4", "0", "0", "0"),
            position_notice(L, oa, "POSITION", xl, "0", "0", "33000", "28000"),  # closed
            order_notice(L, P, od, "FILLED", "SELL_CLOSE", "LIMIT", "10", "30100", "4", "4", "4", "30100"),
            order_notice(L, P, oa, "PART_CANCELED", "BUY_OPEN", "LIMIT", "10", "30000", "10", "0", "4", "30000"),
            position_notice(L, oa, "PENDING", "", "0", "0", "33000", "28000"),
        ]
        want_short = [
            order_notice(S, P, ob, "SUBMITTED", "SELL_OPEN", "LIMIT", "5", "30000", "4", "0", "0", "0"),
            position_notice(S, ob, "POSITION", xs, f4s, m4s, "0", "0"),
            order_notice(S, P, ob, "FILLED", "SELL_OPEN", "LIMIT", "5", "30000", "4", "4", "4", "30000"),
            order_notice(S, P, oc, "SUBMITTED", "BUY_CLOSE", "LIMIT", "5", "30100", "4", "0", "0", "0"),
            position_notice(S, ob, "POSITION", xs, "0", "0", "0", "0"),
            order_notice(S, P, oc, "FILLED", "BUY_CLOSE", "LIMIT", "5", "30100", "4", "4", "4", "30100"),
        ]
        got_long = await nl.take(len(want_long))
        got_short = await ns.take(len(want_short))
        await nl.quiet()
        await ns.quiet(0.05)
        check_stream(got_long, want_long)
        check_stream(got_short, want_short)
        # the POSITION notices agree with the position objects queried over REST
        assert (pos_l[0]["force_price"], pos_l[0]["margin"], pos_l[0]["lever"]) == (f4l, m4l, "10")
        assert (pos_s[0]["force_price"], pos_s[0]["margin"], pos_s[0]["lever"]) == (f4s, m4s, "5")
        assert lng.positions(exchange=X, contract=P)["data"] == []
        assert sht.positions(exchange=X, contract=P)["data"] == []
        check_times_against_orders(lng, got_long)
        await nl.close()
        await ns.close()


# --- seq, since= replay ------------------------------------------------------------------------
async def test_since_replays_exactly_the_notices_after_seq_then_live(srv):
    rest, cred = new_product(srv, "nt-replay", spot={"USDT": "100000"})
    E = "ETH/USDT"
    async with aiohttp.ClientSession() as session:
        live = await Notices.connect(session, srv, cred)
        for i in range(4):  # 8 notices: SUBMITTED + CANCELED each
            cancel(rest, place(rest, E, "buy", "limit", "1", str(100 + i)))
        history = await live.take(8)
        assert [n["seq"] for n in history] == list(range(1, 9))
        assert [n["entrustStatus"] for n in history] == ["SUBMITTED", "CANCELED"] * 4
        for since, expect in ((0, history), (3, history[3:]), (7, history[7:]), (8, [])):
            sub = await Notices.connect(session, srv, cred, since=since)
            assert await sub.take(len(expect)) == expect  # identical objects, nothing before
            await sub.quiet(0.2)                          # and nothing twice
            await sub.ws.send_str("ping")
            assert await sub.next() == "pong"
            await sub.close()
        # replay, then live on the same socket, in seq order
        sub = await Notices.connect(session, srv, cred, since=5)
        oid = place(rest, E, "buy", "limit", "1", "90")
        got = await sub.take(4)
        new = await live.take(1)
        assert got == history[5:] + new and new[0]["seq"] == 9 and new[0]["entrustId"] == oid
        cancel(rest, oid)
        assert await sub.next() == await live.next()
        await sub.close()
        await live.close()


async def test_since_under_load_has_no_gap_and_no_duplicate(srv):
    """Connect with ``since`` while another thread keeps placing orders: the socket must see
    every seq after SEQ exactly once, in order (replay and live registration are atomic)."""
    rest, cred = new_product(srv, "nt-load", spot={"USDT": "1000000"})
    total = 60
    done = threading.Event()
    errors: list[BaseException] = []

    def load() -> None:
        try:
            for i in range(total):
                place(rest, "ETH/USDT", "buy", "limit", "0.01", str(100 + i))
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            done.set()

    async with aiohttp.ClientSession() as session:
        first = await Notices.connect(session, srv, cred)
        worker = threading.Thread(target=load, daemon=True)
        worker.start()
        await first.take(5)
        subs = []
        for _ in range(5):  # several reconnects at different points of the stream
            last = first.seen[-1]["seq"]
            subs.append((last, await Notices.connect(session, srv, cred, since=last)))
            await first.take(3)
        await asyncio.wait_for(asyncio.get_running_loop().run_in_executor(None, done.wait, 30), 35)
        assert not errors, errors
        for since, sub in subs:
            got = await sub.take(total - since)
            assert [n["seq"] for n in got] == list(range(since + 1, total + 1))
            await sub.quiet(0.05)
            await sub.close()
        await first.close()


async def test_since_older_than_retained_says_so_first_and_survives_a_crash(tmp_path):
    proc = ServerProcess(tmp_path / "data", extra_args=("--no-simulator",),
                         config="[market]\nnotice_retention = 5\n").start()
    try:
        rest, cred = new_product(proc, "nt-old", spot={"USDT": "100000"})
        for i in range(4):  # 8 notices; the last 5 (seq 4..8) are retained
            cancel(rest, place(rest, "BTC/USDT", "buy", "limit", "0.01", str(100 + i)))
        async with aiohttp.ClientSession() as session:
            live = await Notices.connect(session, proc, cred, since=0)
            info = await live.next()
            assert info["messageType"] == "0" and info["seq"] == 3 and isinstance(info["info"], str), info
            retained = await live.take(5)
            assert [n["seq"] for n in retained] == [4, 5, 6, 7, 8]
            await live.quiet(0.2)
            for since in (1, 2):
                sub = await Notices.connect(session, proc, cred, since=since)
                first = await sub.next()
                assert first["messageType"] == "0" and first["seq"] == 3, first
                assert await sub.take(5) == retained
                await sub.close()
            sub = await Notices.connect(session, proc, cred, since=3)  # nothing lost: no "0" message
            assert await sub.take(5) == retained
            await sub.quiet(0.2)
            await sub.close()
            await live.close()
        # after a crash and restart the retained notices are still there (the history store's
        # notice log, derived from the journal), and seq numbering continues
        proc.kill()
        proc.start()
        rest = RestClient(proc.http_url, cred["api_key"], cred["secret"], raise_for_code=True)
        async with aiohttp.ClientSession() as session:
            caught_up = await Notices.connect(session, proc, cred, since=8)  # missed nothing: no "0"
            behind = await Notices.connect(session, proc, cred, since=6)
            assert await behind.take(2) == retained[3:]  # 7 and 8, byte for byte as before
            old = await Notices.connect(session, proc, cred, since=1)
            first = await old.next()
            assert first["messageType"] == "0" and first["seq"] == 3, first
            assert await old.take(5) == retained
            oid = place(rest, "BTC/USDT", "buy", "limit", "0.01", "99")
            n = await caught_up.next()
            assert n["messageType"] == "1" and n["seq"] == 9 and n["entrustId"] == oid, n
            assert await behind.next() == n and await old.next() == n
            for sub in (caught_up, behind, old):
                await sub.close()
    finally:
        proc.stop()


# --- handshake ------------------------------------------------------------------------------
async def test_handshake_refusals(srv):
    d = srv.demo()
    key, secret = d["api_key"], d["secret"]
    port = srv.info["notify_ws"]
    cases = {
        f"/?api_key={key}&sign={'0' * 64}": (401, "40103"),
        f"/ws/notify?api_key={key}&sign={ws_sign(key, secret)[:-1]}x": (401, "40103"),
        f"/?api_key={key}": (401, "40101"),
        "/": (401, "40101"),
        f"/?api_key=AAAAAAAAAAAAAAAA&sign={ws_sign('AAAAAAAAAAAAAAAA', secret)}": (401, "40102"),
        f"/?api_key={key}&sign={ws_sign(key, secret)}&since=abc": (400, None),
        f"/?api_key={key}&sign={ws_sign(key, secret)}&since=-1": (400, None),
    }
    for target, (status, code) in cases.items():
        got_status, body = await raw_handshake(port, target)
        assert got_status == status, (target, got_status, body)
        env = json.loads(body)
        assert set(env) == {"code", "data", "message"} and env["data"] is None, env
        if code is not None:
            assert env["code"] == code, (target, env)
        else:
            assert env["code"] != "200"
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await session.ws_connect(f"http://127.0.0.1:{port}/?api_key={key}&sign={'f' * 64}")
        assert info.value.status == 401
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:  # good sign, unknown path
            await session.ws_connect(f"http://127.0.0.1:{port}/ws/market?api_key={key}&sign={ws_sign(key, secret)}")
        assert info.value.status == 404
        # the right sign on the other path works
        ok = await Notices.connect(session, srv, d, path="/ws/notify")
        await ok.ws.send_str("PING")
        assert await ok.next() == "pong"
        await ok.close()


async def raw_handshake(port: int, target: str) -> tuple[int, bytes]:
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), TIMEOUT)
    try:
        writer.write((f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        lines = head.decode("latin-1").split("\r\n")
        length = 0
        for line in lines[1:]:
            k, _, v = line.partition(":")
            if k.strip().lower() == "content-length":
                length = int(v.strip())
        body = await asyncio.wait_for(reader.readexactly(length), TIMEOUT) if length else b""
        return int(lines[0].split()[1]), body
    finally:
        writer.close()
