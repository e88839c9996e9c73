"""Public market-data REST (API.md section 5) against a real server: ``depth10``, ``trade``,
``candle`` and ``tick`` under ``/api/v1/market/`` and their older POST forms under
``/api/v1/query/``; bare objects with no ``code`` key; errors as HTTP 400
``{"code":"400","message"}``.

The book and the trades are made by the test's own orders (simulator off), and every
expected value is computed here from those orders. Candle boundaries need trades on both
sides of a minute boundary: the candle test runs a server whose wall clock is shifted (a
``sitecustomize`` on the child's ``PYTHONPATH`` adds an offset to ``time.time``/``time_ns``)
so that a boundary falls a few seconds after start; restarting it with a larger offset
moves "now" a day ahead to check the rolling 24 h window of ``tick``.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ceres.client import RestClient
from tests.integration.api_helpers import new_spot_product, wire
from tests.serverproc import ServerProcess

X = "TEST"
DURATIONS = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000, "1h": 3_600_000,
             "4h": 14_400_000, "1d": 86_400_000}
DAY = 86_400_000
TICK_KEYS = {"exchange", "contract", "time", "open", "high", "low", "last", "volume", "change"}
CLOCK_SHIM = '''
import os as _os
import time as _time

_off = int(_os.environ.get("SHIFT_CLOCK_OFFSET_MS", "0"))
if _off:
    _time_ns, _time_s = _time.time_ns, _time.time
    _time.time_ns = lambda: _time_ns() + _off * 1_000_000
    _time.time = lambda: _time_s() + _off / 1000
'''


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    proc = ServerProcess(tmp_path_factory.mktemp("mrest") / "data", extra_args=("--no-simulator",)).start()
    yield proc
    proc.stop()


# --- helpers ----------------------------------------------------------------------------------
def now_ms() -> int:
    return time.time_ns() // 1_000_000


def http(srv: ServerProcess, method: str, path: str, params: dict[str, Any] | None = None,
         body: bytes | None = None) -> tuple[int, str, Any]:
    """(status, content type, decoded body) of a public call; GET params go in the query,
    POST params in a JSON body."""
    url = f"{srv.http_url}/api/v1/{path}"
    if method == "GET" and params:
        url += "?" + urllib.parse.urlencode(params)
    elif method == "POST" and body is None:
        body = json.dumps(params or {}).encode()
    req = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            status, ctype, raw = resp.status, resp.headers.get("Content-Type", ""), resp.read()
    except urllib.error.HTTPError as exc:
        status, ctype, raw = exc.code, exc.headers.get("Content-Type", ""), exc.read()
    return status, ctype, json.loads(raw)


POST_FORMS = {"candle": "query/cycle/data/history", "trade": "query/trade/data", "depth10": "query/depth10/data",
              "tick": "query/tick/data"}


def market(srv: ServerProcess, name: str, **params: Any) -> dict:
    """GET market/<name>; checks the reply is a bare object and that the POST form agrees."""
    status, ctype, body = http(srv, "GET", f"market/{name}", params)
    assert status == 200 and ctype.startswith("application/json"), (status, body)
    assert isinstance(body, dict) and "code" not in body and "data" not in body, body
    if name != "tick":  # tick carries the server time, which moves
        status, _, post = http(srv, "POST", POST_FORMS[name], params)
        assert status == 200 and post == body, (post, body)
    return body


def bad(srv: ServerProcess, method: str, path: str, params: dict[str, Any] | None = None,
        body: bytes | None = None) -> str:
    status, ctype, reply = http(srv, method, path, params, body)
    assert status == 400 and ctype.startswith("application/json"), (status, reply)
    assert set(reply) == {"code", "message"} and reply["code"] == "400", reply
    assert isinstance(reply["message"], str) and reply["message"]
    return reply["message"]


def place(rest: RestClient, contract: str, side: str, price: str, vol: str, ptype: str = "limit") -> str:
    return rest.place(exchange=X, contract=contract, price_type=ptype, entrust_bs=side,
                      entrust_price=price if ptype == "limit" else None, entrust_vol=vol)["data"]["system_oid"]


def trade(maker: RestClient, taker: RestClient, contract: str, taker_side: str, price: str, vol: str) -> None:
    """One print: ``maker`` rests the opposite side, ``taker`` crosses it exactly."""
    place(maker, contract, "sell" if taker_side == "buy" else "buy", price, vol)
    place(taker, contract, taker_side, price, vol)


def fold(trades: list[tuple[int, str, str]], duration: int) -> list[dict]:
    """Expected bars from ``(time_ms, price, volume)`` in time order."""
    bars: list[dict] = []
    for t, p, v in trades:
        start = t - t % duration
        if bars and bars[-1]["_t"] == start:
            b = bars[-1]
            b["high"], b["low"] = max(b["high"], Decimal(p)), min(b["low"], Decimal(p))
            b["close"], b["volume"] = Decimal(p), b["volume"] + Decimal(v)
        else:
            bars.append({"_t": start, "open": Decimal(p), "high": Decimal(p), "low": Decimal(p),
                         "close": Decimal(p), "volume": Decimal(v)})
    return [{"time": str(b["_t"]), **{k: wire(b[k]) for k in ("open", "high", "low", "close", "volume")}}
            for b in bars]


# --- depth10 ----------------------------------------------------------------------------------
def test_depth10_is_the_book_made_by_our_orders(srv):
    C = "BTC/USDT"
    seller = new_spot_product(srv, "md-seller", {"BTC": "100"})
    buyer = new_spot_product(srv, "md-buyer", {"USDT": "10000000"})
    empty = market(srv, "depth10", exchange=X, contract=C)
    assert empty == {"exchange": X, "contract": C, "asks": [], "bids": []}
    asks: dict[Decimal, Decimal] = {}
    bids: dict[Decimal, Decimal] = {}
    for i in range(12):  # 12 levels each side; two orders on every third level
        ap, bp = Decimal("30000") + Decimal("0.37") * i, Decimal("29999.99") - Decimal("1.01") * i
        av, bv = Decimal("0.0101") * (i + 1), Decimal("0.0203") * (i + 1)
        for _ in range(2 if i % 3 == 0 else 1):
            place(seller, C, "sell", wire(ap), wire(av))
            place(buyer, C, "buy", wire(bp), wire(bv))
            asks[ap] = asks.get(ap, 0) + av
            bids[bp] = bids.get(bp, 0) + bv

    def expected() -> dict:
        return {"exchange": X, "contract": C,
                "asks": [{"price": wire(p), "volume": wire(asks[p])} for p in sorted(asks)[:10]],
                "bids": [{"price": wire(p), "volume": wire(bids[p])} for p in sorted(bids, reverse=True)[:10]]}

    got = market(srv, "depth10", exchange=X, contract=C)
    assert got == expected()
    assert set(got) == {"exchange", "contract", "asks", "bids"}
    assert len(got["asks"]) == 10 and len(got["bids"]) == 10
    ask_prices = [Decimal(a["price"]) for a in got["asks"]]
    bid_prices = [Decimal(b["price"]) for b in got["bids"]]
    assert ask_prices == sorted(ask_prices) and len(set(ask_prices)) == 10
    assert bid_prices == sorted(bid_prices, reverse=True) and bid_prices[0] < ask_prices[0]
    assert all(set(level) == {"price", "volume"} for level in got["asks"] + got["bids"])
    # a buy eats the best ask level and part of the next one
    best, second = sorted(asks)[:2]
    take = asks[best] + Decimal("0.0001")
    place(buyer, C, "buy", wire(second), wire(take))
    del asks[best]
    asks[second] -= Decimal("0.0001")
    assert market(srv, "depth10", exchange=X, contract=C) == expected()
    # a new order joins the best bid level; cancelling it restores the level
    oid = place(buyer, C, "buy", "29999.99", "0.5")
    bids[Decimal("29999.99")] += Decimal("0.5")
    assert market(srv, "depth10", exchange=X, contract=C) == expected()
    buyer.cancel(oid)
    bids[Decimal("29999.99")] -= Decimal("0.5")
    assert market(srv, "depth10", exchange=X, contract=C) == expected()
    # a new best bid level pushes the 10th level out
    place(buyer, C, "buy", "30000", "0.0001")  # below the best ask (30000.37) now
    bids[Decimal("30000")] = Decimal("0.0001")
    got = market(srv, "depth10", exchange=X, contract=C)
    assert got == expected() and got["bids"][0] == {"price": "30000", "volume": "0.0001"}
    assert got["bids"][-1]["price"] == wire(sorted(bids, reverse=True)[9])


# --- trade --------------------------------------------------------------------------------------
def test_trade_list_agrees_with_our_fills_and_range_rules(srv):
    C = "ETH/USDT"
    a = new_spot_product(srv, "mt-a", {"ETH": "1000", "USDT": "10000000"})
    b = new_spot_product(srv, "mt-b", {"ETH": "1000", "USDT": "10000000"})
    assert market(srv, "trade", exchange=X, contract=C) == {"exchange": X, "contract": C, "detail": []}
    made: list[tuple[str, str, str]] = []  # (price, volume, side)
    before = now_ms()
    for i in range(8):
        side = "buy" if i % 2 == 0 else "sell"
        price, vol = wire(Decimal("2000") + Decimal("0.25") * i), wire(Decimal("0.013") * (i + 1))
        trade(a, b, C, side, price, vol)
        made.append((price, vol, "b" if side == "buy" else "s"))
        time.sleep(0.004)  # distinct trade times
    after = now_ms()
    # one taker order sweeping two makers prints two trades at the makers' prices
    place(a, C, "sell", "2100", "0.5")
    place(a, C, "sell", "2100.5", "0.25")
    place(b, C, "buy", "2101", "0.6")
    made += [("2100", "0.5", "b"), ("2100.5", "0.1", "b")]
    got = market(srv, "trade", exchange=X, contract=C)
    detail = got["detail"]
    assert set(got) == {"exchange", "contract", "detail"} and (got["exchange"], got["contract"]) == (X, C)
    assert [(d["price"], d["volume"], d["side"]) for d in detail] == made
    for d in detail:
        assert set(d) == {"time", "price", "volume", "side"} and d["time"].isdigit()
    times = [int(d["time"]) for d in detail]
    assert times == sorted(times) and before <= times[0] and times[7] <= after
    assert len(set(times[:8])) == 8 and times[8] == times[9]  # the sweep is one command, one time
    # begin and end: everything in between, size ignored
    assert market(srv, "trade", exchange=X, contract=C, begin=times[2], end=times[5], size=1)["detail"] == detail[2:6]
    # begin + size: forward from begin; end + size: backward from end (both inclusive)
    assert market(srv, "trade", exchange=X, contract=C, begin=times[2], size=3)["detail"] == detail[2:5]
    assert market(srv, "trade", exchange=X, contract=C, end=times[5], size=3)["detail"] == detail[3:6]
    assert market(srv, "trade", exchange=X, contract=C, begin=times[3])["detail"] == detail[3:]
    assert market(srv, "trade", exchange=X, contract=C, end=times[3])["detail"] == detail[:4]
    # size alone: the latest, in time order
    assert market(srv, "trade", exchange=X, contract=C, size=4)["detail"] == detail[-4:]
    assert market(srv, "trade", exchange=X, contract=C, begin=times[-1] + 1)["detail"] == []
    assert market(srv, "trade", exchange=X, contract=C, end=times[0] - 1, size=5)["detail"] == []
    # errors
    for params in ({"size": 0}, {"size": 2001}, {"size": "-1"}, {"begin": "abc"}, {"end": "1.5"},
                   {"begin": times[5], "end": times[2]}):
        bad(srv, "GET", "market/trade", {"exchange": X, "contract": C, **params})
        bad(srv, "POST", "query/trade/data", {"exchange": X, "contract": C, **params})


# --- tick ----------------------------------------------------------------------------------------
def test_tick_over_our_trades(srv):
    C = "ADA_BTC"
    a = new_spot_product(srv, "mk-a", {"ADA": "1000000", "BTC": "10"})
    b = new_spot_product(srv, "mk-b", {"ADA": "1000000", "BTC": "10"})
    t0 = now_ms()
    empty = market(srv, "tick", exchange=X, contract=C)
    assert set(empty) == TICK_KEYS
    assert {k: empty[k] for k in TICK_KEYS - {"time"}} == {
        "exchange": X, "contract": C, "open": "0", "high": "0", "low": "0", "last": "0", "volume": "0",
        "change": "0"}
    prints = [("0.00001100", "100"), ("0.00001250", "20"), ("0.00000990", "3"), ("0.00001051", "7")]
    for i, (price, vol) in enumerate(prints):
        trade(a, b, C, "buy" if i % 2 else "sell", price, vol)
    got = market(srv, "tick", exchange=X, contract=C)
    assert set(got) == TICK_KEYS and "change_rate" not in got
    assert t0 <= int(got["time"]) <= now_ms()
    assert {k: got[k] for k in TICK_KEYS - {"time"}} == {
        "exchange": X, "contract": C, "open": "0.000011", "high": "0.0000125", "low": "0.0000099",
        "last": "0.00001051", "volume": "130", "change": "-0.00000049"}
    status, _, post = http(srv, "POST", "query/tick/data", {"exchange": X, "contract": C})
    assert status == 200 and {k: v for k, v in post.items() if k != "time"} == \
        {k: v for k, v in got.items() if k != "time"}


# --- errors --------------------------------------------------------------------------------------
def test_errors_are_http_400_with_code_and_message(srv):
    for name in ("candle", "trade", "depth10", "tick"):
        extra = {"duration": "1m"} if name == "candle" else {}
        for params in ({}, {"exchange": X}, {"contract": "BTC/USDT"}, {"exchange": X, "contract": "NOPE/USDT"},
                       {"exchange": "NOPE", "contract": "BTC/USDT"}, {"exchange": X, "contract": ""}):
            bad(srv, "GET", f"market/{name}", {**params, **extra})
            bad(srv, "POST", POST_FORMS[name], {**params, **extra})
        bad(srv, "POST", POST_FORMS[name], body=b"{not json")
        bad(srv, "POST", POST_FORMS[name], body=b"[1, 2]")
        # the same request done right: a bare object
        market(srv, name, exchange=X, contract="BTC/USDT", **extra)
    for duration in (None, "", "2m", "1M", "60", "1w"):
        params = {"exchange": X, "contract": "BTC/USDT"}
        if duration is not None:
            params["duration"] = duration
        assert "duration" in bad(srv, "GET", "market/candle", params)
        bad(srv, "POST", "query/cycle/data/history", params)
    bad(srv, "GET", "market/candle", {"exchange": X, "contract": "BTC/USDT", "duration": "1m", "size": "0"})


# --- candles (shifted clock) ----------------------------------------------------------------------
def shifted_server(tmp_path: Path, name: str, offset_ms: int) -> ServerProcess:
    shim = tmp_path / "clockshim"
    shim.mkdir(exist_ok=True)
    (shim / "sitecustomize.py").write_text(CLOCK_SHIM)
    import os

    path = os.pathsep.join(p for p in (str(shim), os.environ.get("PYTHONPATH", "")) if p)
    return ServerProcess(tmp_path / name, extra_args=("--no-simulator",),
                         env={"PYTHONPATH": path, "SHIFT_CLOCK_OFFSET_MS": str(offset_ms)})


def test_candles_across_a_minute_boundary_and_the_24h_tick_window(tmp_path):
    C = "ETH/USDT"
    # server time at start: 4 s before T1, a minute boundary inside a 5-minute bar
    real = now_ms()
    t1 = (real // 300_000 + 1) * 300_000 + 60_000
    offset = t1 - 4_000 - real
    proc = shifted_server(tmp_path, "data", offset)
    proc.start()
    try:
        a = new_spot_product(proc, "mc-a", {"ETH": "1000", "USDT": "10000000"})
        b = new_spot_product(proc, "mc-b", {"ETH": "1000", "USDT": "10000000"})
        pre = [("2000", "0.1"), ("2010", "0.2"), ("1990", "0.3")]
        post = [("2005", "0.4"), ("2020", "0.1"), ("1980", "0.5"), ("2001", "0.2")]
        for i, (p, v) in enumerate(pre):
            trade(a, b, C, "buy" if i % 2 else "sell", p, v)
        assert now_ms() + offset < t1 - 200, "setup too slow: the pre-boundary trades missed the boundary"
        time.sleep(max(0.0, (t1 + 150 - (now_ms() + offset)) / 1000))
        for i, (p, v) in enumerate(post):
            trade(a, b, C, "buy" if i % 2 else "sell", p, v)
        detail = market(proc, "trade", exchange=X, contract=C)["detail"]
        trades = [(int(d["time"]), d["price"], d["volume"]) for d in detail]
        assert [(p, v) for _, p, v in trades] == pre + post
        assert all(t < t1 for t, _, _ in trades[:3]) and all(t >= t1 for t, _, _ in trades[3:])
        # every duration: bars aligned to the duration, folded from the trades
        for name, ms in DURATIONS.items():
            got = market(proc, "candle", exchange=X, contract=C, duration=name)
            assert set(got) == {"exchange", "contract", "duration", "detail"}
            assert (got["exchange"], got["contract"], got["duration"]) == (X, C, name)
            assert got["detail"] == fold(trades, ms), name
            for bar in got["detail"]:
                assert set(bar) == {"time", "open", "high", "low", "close", "volume"}
                assert int(bar["time"]) % ms == 0
        one = market(proc, "candle", exchange=X, contract=C, duration="1m")["detail"]
        five = market(proc, "candle", exchange=X, contract=C, duration="5m")["detail"]
        assert [bar["time"] for bar in one] == [str(t1 - 60_000), str(t1)]
        assert one == [{"time": str(t1 - 60_000), "open": "2000", "high": "2010", "low": "1990", "close": "1990",
                        "volume": "0.6"},
                       {"time": str(t1), "open": "2005", "high": "2020", "low": "1980", "close": "2001",
                        "volume": "1.2"}]
        assert five == [{"time": str(t1 - 60_000), "open": "2000", "high": "2020", "low": "1980", "close": "2001",
                         "volume": "1.8"}]
        # range rules (bar start times, inclusive)
        q = {"exchange": X, "contract": C, "duration": "1m"}
        assert market(proc, "candle", **q, begin=t1 - 60_000, end=t1, size=1)["detail"] == one
        assert market(proc, "candle", **q, begin=t1 - 59_999, end=t1 + 60_000)["detail"] == one[1:]
        assert market(proc, "candle", **q, begin=t1 - 120_000, size=1)["detail"] == one[:1]
        assert market(proc, "candle", **q, end=t1 + 600_000, size=1)["detail"] == one[1:]
        assert market(proc, "candle", **q, end=t1 - 1, size=5)["detail"] == one[:1]
        assert market(proc, "candle", **q, size=1)["detail"] == one[1:]
        assert market(proc, "candle", **q, begin=t1 + 1)["detail"] == []
        for params in ({"begin": t1, "end": t1 - 1}, {"size": 0}, {"size": 2001}, {"end": "x"}):
            bad(proc, "GET", "market/candle", {**q, **params})
            bad(proc, "POST", "query/cycle/data/history", {**q, **params})
        # tick: the 24 h window holds every trade
        tick = market(proc, "tick", exchange=X, contract=C)
        assert {k: tick[k] for k in ("open", "high", "low", "last", "volume", "change")} == {
            "open": "2000", "high": "2020", "low": "1980", "last": "2001", "volume": "1.8", "change": "1"}
        proc.stop()

        # a day later (restart with the clock 24 h + 30 s past T1): only the bar of minute T1
        # is still in the window
        proc.env["SHIFT_CLOCK_OFFSET_MS"] = str(t1 + DAY + 30_000 - now_ms())
        proc.start()
        tick = market(proc, "tick", exchange=X, contract=C)
        assert {k: tick[k] for k in ("open", "high", "low", "last", "volume", "change")} == {
            "open": "2005", "high": "2020", "low": "1980", "last": "2001", "volume": "1.2", "change": "-4"}
        assert market(proc, "candle", **q)["detail"] == one  # candles are kept
        proc.stop()

        # more than a day after the last trade: open/high/low equal last, volume 0
        proc.env["SHIFT_CLOCK_OFFSET_MS"] = str(t1 + DAY + 120_000 - now_ms())
        proc.start()
        tick = market(proc, "tick", exchange=X, contract=C)
        assert {k: tick[k] for k in ("open", "high", "low", "last", "volume", "change")} == {
            "open": "2001", "high": "2001", "low": "2001", "last": "2001", "volume": "0", "change": "0"}
    finally:
        proc.stop()
