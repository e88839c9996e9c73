"""BINANCE USDT-M perpetuals through Ceres (issue 11, item 1): a real server with
``[venues.BINANCE] contracts = true`` on the fake Binance (spot and /fapi on loopback). The
perpetual is listed beside the spot pair (kind 3); the futures wallet is account type 4; an
opening order sets hedge mode and the leverage at the venue and goes out with its position
side; fills build the position Ceres shows (entry, margin at its lever, the venue's mark and
liquidation price), a close realizes PnL; a close beyond the position is refused before
anything is sent; the journal replays to the same state.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from decimal import Decimal
from typing import Any

import pytest

from tests.fakevenue.binance_futures import FuturesControl
from tests.fakevenue.runner import FakeVenueThread
from tests.serverproc import ServerProcess

from .api_helpers import demo_rest
from .test_cli import ceres
from .test_live_orders import until

PERP = "BTC/USDT:USDT"


@pytest.fixture
def perps(tmp_path):
    fake = FakeVenueThread("binance")
    config = f'[venues.BINANCE]\nenabled = true\ncontracts = true\nrest_url = "{fake.url}"\npoll_ms = 200\n'
    srv = ServerProcess(tmp_path / "data", config=config, extra_args=("--no-simulator",))
    futures = FuturesControl(fake.url)
    try:
        srv.start()
        key, secret = secrets.token_hex(32), secrets.token_hex(32)
        asyncio.run(futures.add_account(key, secret, futures={"USDT": "100"}, balances={"USDT": "50"}))
        ceres("venues", "connect", "demo", "BINANCE", "--api-key", key, "--secret", secret,
              "--data-dir", str(srv.data_dir), "--config", str(srv.config_path))
    except BaseException:
        srv.stop()
        fake.stop()
        raise
    yield srv, fake, futures, key
    srv.stop()
    fake.stop()


def place(srv: ServerProcess, side: str, fdir: str, price: str, vol: str, lever: str = "10") -> dict[str, Any]:
    return demo_rest(srv).call("POST", "trade/input", {
        "exchange": "BINANCE", "contract": PERP, "price_type": "limit", "entrust_bs": side, "future_dir": fdir,
        "entrust_price": price, "entrust_vol": vol, "lever": lever})[1]


def venue_order(fake: FakeVenueThread, oid: str) -> dict[str, Any]:
    return next(o for o in asyncio.run(fake.control.orders()) if o["client_id"] == f"cer{oid}")


def test_a_perpetual_long_opened_and_closed_through_ceres(perps):
    srv, fake, futures, key = perps
    rest = demo_rest(srv)
    pairs = {p["contract"]: p for p in rest.call("GET", "basic/contracts", {"exchange": "BINANCE"})[1]["data"]}
    assert pairs[PERP]["kind"] == "3" and pairs["BTC/USDT"]["kind"] == "4"
    assert (pairs[PERP]["tick_size"], pairs[PERP]["volume_increment"]) == ("0.1", "0.001")
    rows = rest.call("GET", "trade/account", {"exchange": "BINANCE"})[1]["data"]
    assert {(r["account_type"], r["currency"], r["balance"]) for r in rows} >= {(3, "USDT", "50"), (4, "USDT", "100")}

    opened = place(srv, "buy", "open", "30000", "0.01", lever="5")
    assert opened["code"] == "200", opened
    oid = opened["data"]["system_oid"]
    until(srv, oid, 3)
    at_venue = venue_order(fake, oid)
    assert (at_venue.get("position_side") or at_venue.get("positionSide")) == "LONG", at_venue
    state = asyncio.run(futures.state(key))
    assert state["dual"] is True and state["leverage"].get("BTCUSDT") == 5, state

    asyncio.run(fake.control.fill(at_venue["id"], "0.004"))
    until(srv, oid, 4)
    asyncio.run(fake.control.fill(at_venue["id"]))
    until(srv, oid, 5)
    asyncio.run(futures.set_mark("BTCUSDT", "31000"))
    [pos] = rest.call("GET", "trade/position", {"exchange": "BINANCE", "contract": PERP})[1]["data"]
    assert (pos["position_dir"], pos["vol"], pos["open_price"], pos["lever"], pos["margin"]) == (
        "buy", "0.01", "30000", "5", "60"), pos
    assert (pos["position_value"], pos["position_profit"]) == ("310", "10"), pos  # at the venue's mark
    [at_risk] = [p for p in asyncio.run(futures.state(key))["positions"] if p["side"] in ("LONG", "long", "BOTH")]
    venue_liq = Decimal(at_risk["liquidation"])  # the venue's, for 100 USDT of cross margin
    assert 0 < Decimal(pos["force_price"]) == venue_liq.quantize(Decimal("0.1"), rounding="ROUND_FLOOR"), (pos, at_risk)
    fills = rest.call("GET", "trade/trans", {"exchange": "BINANCE", "contract": PERP, "count": 10})[1]["data"]
    assert {f["commission_currency"] for f in fills} == {"USDT"} and len(fills) == 2, fills

    too_much = place(srv, "sell", "close", "31000", "0.02")
    assert too_much["code"] == "41002", too_much  # refused by Ceres: never sent
    closing = place(srv, "sell", "close", "31000", "0.006")
    cid = closing["data"]["system_oid"]
    until(srv, cid, 3)
    assert (venue_order(fake, cid).get("position_side") or venue_order(fake, cid).get("positionSide")) == "LONG"
    asyncio.run(fake.control.fill(venue_order(fake, cid)["id"]))
    until(srv, cid, 5)
    [pos] = rest.call("GET", "trade/position", {"exchange": "BINANCE", "contract": PERP})[1]["data"]
    assert (pos["vol"], pos["close_profit"]) == ("0.004", "6"), pos  # 0.006 x (31000 - 30000)

    too_big = place(srv, "sell", "open", "31000", "0.1", lever="5")["data"]["system_oid"]  # 620 USDT margin
    refused = until(srv, too_big, 6)
    assert refused["error_code"] == "41001", refused  # the venue's -2019 "Margin is insufficient."
    assert rest.call("GET", "trade/position", {"exchange": "BINANCE", "contract": PERP,
                                               "position_dir": "sell"})[1]["data"] == []

    srv.stop()
    verified = ceres("verify", str(srv.data_dir), "--full", "--config", str(srv.config_path)).stdout
    assert re.search(r"full replay hash:\s+[0-9a-f]{64} \(matches\)", verified) and "consistency:      ok" in verified
    srv.start()
    [pos] = demo_rest(srv).call("GET", "trade/position", {"exchange": "BINANCE", "contract": PERP})[1]["data"]
    assert pos["vol"] == "0.004"
