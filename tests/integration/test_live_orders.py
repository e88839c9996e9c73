"""Orders on a live venue through Ceres, end to end (issue 11, items 5 and 6): a real server
with BINANCE pointed at the fake Binance on loopback. A placement is journaled (status 2),
sent with the client id ``cer<system_oid>``, accepted (3); fills made at the venue come
back (4, 5) with their trade ids, once each; a cancel goes 12 then 14/15; a refusal is 6; a
placement whose reply never came is resolved by its client id, never sent twice — also
across a kill -9 of Ceres. Over REST and over 19001 with 19003 notices, on the fake Binance,
the fake OKX, the fake HTX (HUOBI) and the fake Bitfinex.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from typing import Any

import aiohttp
import pytest

from ceres.client import TradeSocket
from ceres.venues.live.dialects import dialect
from tests.fakevenue.runner import FakeVenueThread
from tests.serverproc import ServerProcess

from .api_helpers import demo_rest
from .test_cli import ceres
from .test_notices import Notices

DEADLINE_S = 20


VENUES = {"binance": ("BINANCE", ""), "okx": ("OKEX", "Ceres-Pass1"), "htx": ("HUOBI", ""),
          "bitfinex": ("BITFINEX", "")}
ORDER_PATH = "/api/v3/order"  # Binance's; the fault tests run on the fake Binance


def start(tmp_path, kind: str, *, streams: bool = False) -> tuple[ServerProcess, FakeVenueThread, str]:
    """A server with the fake ``kind`` venue enabled (REST; with ``streams`` its websockets too)
    and the demo product's key there."""
    exchange, passphrase = VENUES[kind]
    fake = FakeVenueThread(kind)
    ws = f'ws_url = "{fake.handle.ws_url}"\n' if streams else ""
    config = f'[venues.{exchange}]\nenabled = true\nrest_url = "{fake.url}"\n{ws}timeout_ms = 1500\npoll_ms = 200\n'
    srv = ServerProcess(tmp_path / "data", config=config, extra_args=("--no-simulator",))
    try:
        srv.start()
        key, secret = secrets.token_hex(32), secrets.token_hex(32)
        asyncio.run(fake.control.add_account(key, secret, passphrase, {"USDT": "1000", "BTC": "1"}))
        ceres("venues", "connect", "demo", exchange, "--api-key", key, "--secret", secret,
              *(("--password", passphrase) if passphrase else ()),
              "--data-dir", str(srv.data_dir), "--config", str(srv.config_path))
    except BaseException:  # a failed setup leaves no process behind
        srv.stop()
        fake.stop()
        raise
    return srv, fake, key


@pytest.fixture(params=sorted(VENUES))
def venue(request, tmp_path):
    srv, fake, key = start(tmp_path, request.param)
    yield srv, fake, key, VENUES[request.param][0]
    srv.stop()
    fake.stop()


@pytest.fixture
def live(tmp_path):
    srv, fake, key = start(tmp_path, "binance")
    yield srv, fake, key
    srv.stop()
    fake.stop()


def place(srv: ServerProcess, vol: str = "0.001", price: str = "30000", side: str = "buy",
          exchange: str = "BINANCE") -> str:
    status, reply = demo_rest(srv).call("POST", "trade/input", {
        "exchange": exchange, "contract": "BTC/USDT", "price_type": "limit", "entrust_bs": side,
        "entrust_price": price, "entrust_vol": vol})
    assert status == 200 and reply["code"] == "200", reply
    return reply["data"]["system_oid"]


def order(srv: ServerProcess, oid: str) -> dict[str, Any]:
    status, reply = demo_rest(srv).call("GET", "trade/order", {"system_oid": oid})
    assert (status, reply["code"]) == (200, "200"), reply
    return reply["data"][0]


def until(srv: ServerProcess, oid: str, status: int, seconds: float = DEADLINE_S) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = order(srv, oid)
        if found["status"] == status:
            return found
        time.sleep(0.1)
    raise AssertionError(f"order {oid} not at status {status}: {order(srv, oid)}")


def at_venue(fake: FakeVenueThread, key: str, oid: str) -> list[dict[str, Any]]:
    """The venue's orders placed with Ceres' client id for ``oid`` (Bitfinex's is a number)."""
    cid = dialect(VENUES[fake.handle.venue.kind][0]).client_key(int(oid))
    return [o for o in asyncio.run(fake.control.orders(key)) if str(o["client_id"]) == cid]


def test_place_fill_cancel(venue):
    srv, fake, key, exchange = venue
    oid = place(srv, exchange=exchange)
    accepted = until(srv, oid, 3)
    assert (accepted["entrust_price"], accepted["entrust_amount"]) == ("30000", "0.001")
    (venue_order,) = at_venue(fake, key, oid)
    assert venue_order["price"] == "30000" and venue_order["qty"] == "0.001"

    asyncio.run(fake.control.fill(venue_order["id"], "0.0004"))
    part = until(srv, oid, 4)
    assert part["dealt_amount"] == "0.0004", part
    fills = demo_rest(srv).call("GET", "trade/trans", {"exchange": exchange, "contract": "BTC/USDT",
                                                       "count": 10})[1]["data"]
    assert [(f["system_oid"], f["dealt_amount"], f["dealt_price"]) for f in fills] == [(oid, "0.0004", "30000")]

    cancelled = demo_rest(srv).delete_ids(oid)[1]
    assert cancelled["data"]["SUCCESS"] == [{"system_oid": oid}], cancelled
    assert until(srv, oid, 14)["dealt_amount"] == "0.0004"
    assert at_venue(fake, key, oid)[0]["status"] == "canceled"

    second = place(srv, vol="0.002", exchange=exchange)
    until(srv, second, 3)
    asyncio.run(fake.control.fill(at_venue(fake, key, second)[0]["id"]))
    assert until(srv, second, 5)["dealt_amount"] == "0.002"

    srv.stop()  # the journal replays to the same state without the network
    verified = ceres("verify", str(srv.data_dir), "--full", "--config", str(srv.config_path)).stdout
    assert re.search(r"full replay hash:\s+[0-9a-f]{64} \(matches\)", verified) and "consistency:      ok" in verified
    srv.start()
    assert order(srv, second)["status"] == 5 and order(srv, oid)["status"] == 14


def test_refused_by_the_venue(venue):
    srv, _, _, exchange = venue
    oid = place(srv, vol="1", price="30000", exchange=exchange)  # 30,000 USDT: the account holds 1,000
    refused = until(srv, oid, 6)
    assert (refused["error_code"], refused["error_message"]) == ("41001", "insufficient balance (InsufficientFunds)")
    accepted = place(srv, exchange=exchange)
    assert "error_code" not in until(srv, accepted, 3)  # only on refusals


def test_unknown_outcome_is_resolved_by_client_id_never_sent_twice(live):
    srv, fake, key = live
    asyncio.run(fake.control.fail_next(ORDER_PATH, "hang_after", method="POST", seconds=3))
    oid = place(srv)  # the venue takes it, the reply never comes in time (timeout 1.5 s)
    assert order(srv, oid)["status"] in (2, 3)
    until(srv, oid, 3)
    assert len(at_venue(fake, key, oid)) == 1
    posts = [r for r in asyncio.run(fake.control.requests()) if r["method"] == "POST" and r["path"] == ORDER_PATH]
    assert len(posts) == 1


def test_bitfinex_unknown_outcome_is_found_by_its_numeric_client_id(tmp_path):
    """Bitfinex's client ids are integers and ccxt cannot look orders up by them there: Ceres
    finds the order among the open and recently closed ones (venues.live.dialects)."""
    srv, fake, key = start(tmp_path, "bitfinex")
    try:
        submit = "/v2/auth/w/order/submit"
        asyncio.run(fake.control.fail_next(submit, "hang_after", method="POST", seconds=3))
        oid = place(srv, exchange="BITFINEX")  # taken by the venue, the reply too late (timeout 1.5 s)
        until(srv, oid, 3)
        assert len(at_venue(fake, key, oid)) == 1
        posts = [r for r in asyncio.run(fake.control.requests()) if r["method"] == "POST" and r["path"] == submit]
        assert len(posts) == 1  # never sent twice
    finally:
        srv.stop()
        fake.stop()


def wait_for(check: Any) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not check():
        assert time.monotonic() < deadline, "not in time"
        time.sleep(0.05)


def test_kill_9_with_a_placement_in_flight(live):
    srv, fake, key = live
    asyncio.run(fake.control.fail_next(ORDER_PATH, "hang_after", method="POST", seconds=5))
    oid = place(srv)
    wait_for(lambda: at_venue(fake, key, oid))  # the venue has it; Ceres waits for the reply
    srv.kill()  # SIGKILL: the reply is never read
    srv.start()
    assert until(srv, oid, 3)["status"] == 3  # reconciled after restart by its client id
    assert len(at_venue(fake, key, oid)) == 1


def test_kill_9_before_the_venue_took_it(live):
    """The venue never took the order (its request hung, not applied): after a restart the
    lookups by client id find nothing and, once the resolve window passed, it is a failure
    — it is not sent again."""
    srv, fake, key = live
    asyncio.run(fake.control.fail_next(ORDER_PATH, "hang_before", method="POST", seconds=5))
    oid = place(srv)
    wait_for(lambda: any(r["method"] == "POST" for r in asyncio.run(fake.control.requests())))
    srv.kill()
    srv.start()
    failed = until(srv, oid, 6)
    assert (failed["error_code"], failed["error_message"]) == ("50003", "not received by the venue")
    assert at_venue(fake, key, oid) == []
    srv.stop()
    srv.start()  # from the history store now
    assert {k: order(srv, oid)[k] for k in ("status", "error_code")} == {"status": 6, "error_code": "50003"}
    posts = [r for r in asyncio.run(fake.control.requests()) if r["method"] == "POST" and r["path"] == ORDER_PATH]
    assert len(posts) == 1


def test_the_whole_life_over_19001_with_notices_on_19003(venue):
    """The same life driven over the biz_type WebSocket (11 place, 15 query, 17 fills, 12
    cancel) while a 19003 socket receives every status change as a notice, in order."""
    srv, fake, key, exchange = venue
    demo = srv.demo()

    async def run() -> tuple[list[str], dict[str, Any], list[dict[str, Any]], str]:
        async with aiohttp.ClientSession() as session:
            notices = await Notices.connect(session, srv, demo)
            ws = await TradeSocket.connect(session, srv.trade_ws_url, demo["api_key"], demo["secret"])
            try:
                placed = await ws.request(11, exchange=exchange, contract="BTC/USDT", price_type="limit",
                                          entrust_bs="sell", entrust_price="31000", entrust_vol="0.01")
                assert placed["code"] == "200", placed
                oid = placed["data"]["system_oid"]
                await asyncio.to_thread(until, srv, oid, 3)
                (at,) = await asyncio.to_thread(at_venue, fake, key, oid)
                await fake.control.fill(at["id"], "0.004")
                await asyncio.to_thread(until, srv, oid, 4)
                cancelled = await ws.request(12, system_oid=oid)
                assert cancelled["data"]["SUCCESS"] == [{"system_oid": oid}], cancelled
                await asyncio.to_thread(until, srv, oid, 14)
                queried = (await ws.request(15, system_oid=oid))["data"][0]
                fills = (await ws.request(17, exchange=exchange, contract="BTC/USDT", count=5))["data"]
                seen = [n["entrustStatus"] for n in await notices.take(5) if n.get("entrustId") == oid]
                return seen, queried, fills, oid
            finally:
                await ws.close()
                await notices.close()

    seen, queried, fills, oid = asyncio.run(asyncio.wait_for(run(), 60))
    assert seen == ["SUBMITTING", "SUBMITTED", "PART_FILLED", "CANCELING", "PART_CANCELED"], seen
    assert (queried["status"], queried["dealt_amount"], queried["entrust_bs"]) == (14, "0.004", "sell")
    assert [(f["system_oid"], f["dealt_amount"], f["dealt_price"]) for f in fills] == [(oid, "0.004", "31000")]


def test_a_fill_made_while_the_venue_did_not_answer_is_found_later(live):
    """The venue stops answering (its trade list and order reads fail, 503) while the order
    fills: nothing is lost; once it answers again the fill and the end are read."""
    srv, fake, key = live
    oid = place(srv)
    until(srv, oid, 3)
    for path in ("/api/v3/myTrades", "/api/v3/order"):
        asyncio.run(fake.control.fail_next(path, "error", method="GET", count=8, status=503, body="busy"))
    asyncio.run(fake.control.fill(at_venue(fake, key, oid)[0]["id"]))
    assert order(srv, oid)["status"] == 3  # not seen yet: the venue did not answer
    filled = until(srv, oid, 5)
    assert filled["dealt_amount"] == "0.001"
    fills = demo_rest(srv).call("GET", "trade/trans", {"exchange": "BINANCE", "contract": "BTC/USDT",
                                                       "count": 10})[1]["data"]
    assert [f["system_oid"] for f in fills] == [oid]  # once
    reads = [r for r in asyncio.run(fake.control.requests()) if r["path"] == "/api/v3/myTrades"]
    assert len(reads) > 8  # the 8 refused reads happened, then one that answered


def test_a_rate_limited_placement_was_not_taken(live):
    """429 from the venue: it answered without taking the order (ccxt files it under network
    errors): a known outcome, status 6, and nothing at the venue."""
    srv, fake, key = live
    asyncio.run(fake.control.fail_next(ORDER_PATH, "error", method="POST", status=429,
                                       body='{"code":-1003,"msg":"Too many requests."}'))
    oid = place(srv)
    refused = until(srv, oid, 6, seconds=5)  # at once, not after the 10 s an unknown outcome takes
    assert (refused["error_code"], refused["error_message"]) == ("429", "the venue rate-limited the request "
                                                                        "(DDoSProtection)")
    assert at_venue(fake, key, oid) == []


def test_market_rest_comes_from_the_venue(live):
    """``market/depth10``, ``market/tick`` and ``market/trade`` for a live venue are read from it (its book, its
    24-hour ticker, its trades), in TEST's shapes."""
    import json
    import urllib.error
    import urllib.request

    srv, fake, key = live

    def market(path: str, **params: str) -> tuple[int, dict[str, Any]]:
        url = f"{srv.http_url}/api/v1/market/{path}?" + "&".join(f"{k}={v}" for k, v in params.items())
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    bid = place(srv, vol="0.001", price="30000")
    ask = place(srv, vol="0.002", price="31000", side="sell")
    until(srv, bid, 3)
    until(srv, ask, 3)
    status, depth = market("depth10", exchange="BINANCE", contract="BTCUSDT")  # the venue's id works too
    assert status == 200 and depth == {"exchange": "BINANCE", "contract": "BTC/USDT",
                                       "asks": [{"price": "31000", "volume": "0.002"}],
                                       "bids": [{"price": "30000", "volume": "0.001"}]}, depth
    asyncio.run(fake.control.fill(at_venue(fake, key, ask)[0]["id"], "0.0005"))
    status, tick = market("tick", exchange="BINANCE", contract="BTC/USDT")
    assert status == 200 and {k: tick[k] for k in ("open", "high", "low", "last", "volume", "change")} == {
        "open": "31000", "high": "31000", "low": "31000", "last": "31000", "volume": "0.0005", "change": "0"}, tick
    assert tick["time"].isdigit()
    status, trades = market("trade", exchange="BINANCE", contract="BTC/USDT")  # the fill is a public trade
    assert status == 200 and [(t["price"], t["volume"], t["side"]) for t in trades["detail"]] == [
        ("31000", "0.0005", "b")], trades
    status, unknown = market("tick", exchange="BINANCE", contract="NOPE/USDT")
    assert status == 400 and unknown["code"] == "400", unknown
