"""The liquidity simulator (on by default) against a real server: within seconds of start
trades print on several instruments, every book has both sides, 1-minute candles form,
and contracts get an index (the mark): a demo position's ``position_value`` follows it.
``ceres serve --no-simulator`` prints nothing and leaves the books empty.

Polling loops are bounded in count and time.
"""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from ceres.client import RestClient
from tests.serverproc import ServerProcess

X = "TEST"
INSTRUMENTS = ("BTC/USDT", "ETH/USDT", "ETH/BTC", "ADA_BTC", "BTCUSDT_PERP", "BTCUSDT_2703", "XBTUSD")


def get(rest: RestClient, name: str, **params) -> dict:
    reply = rest.call("GET", f"market/{name}", exchange=X, **params)
    assert reply.pop("_status") == 200 and "code" not in reply, reply
    return reply


def poll(check, timeout: float, interval: float = 0.2):
    """Call ``check`` until it returns something truthy (at most ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval)


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    proc = ServerProcess(tmp_path_factory.mktemp("sim") / "data", extra_args=()).start()
    yield proc
    proc.stop()


def test_trades_books_and_candles_appear_within_seconds(sim):
    rest = RestClient(sim.http_url)
    started = time.monotonic()

    def traded() -> list[str]:
        names = [c for c in INSTRUMENTS if get(rest, "trade", contract=c, size=5)["detail"]]
        return names if len(names) >= 4 else []

    names = poll(traded, 10.0)
    assert len(names) >= 4, names
    assert time.monotonic() - started < 10.0
    # every book has depth on both sides, sorted, no crossed book
    for c in INSTRUMENTS:
        depth = poll(lambda c=c: (lambda d: d if d["asks"] and d["bids"] else None)(get(rest, "depth10", contract=c)),
                     3.0)
        assert depth, c
        asks = [Decimal(lv["price"]) for lv in depth["asks"]]
        bids = [Decimal(lv["price"]) for lv in depth["bids"]]
        assert asks == sorted(asks) and bids == sorted(bids, reverse=True) and bids[0] < asks[0], (c, depth)
        assert len(asks) <= 10 and len(bids) <= 10
    # trades and 1m candles of a traded instrument agree in shape
    for c in names:
        detail = get(rest, "trade", contract=c, size=50)["detail"]
        assert detail and all(t["side"] in ("b", "s") and Decimal(t["volume"]) > 0 for t in detail)
        bars = get(rest, "candle", contract=c, duration="1m")["detail"]
        assert bars, c
        for bar in bars:
            assert int(bar["time"]) % 60_000 == 0
            o, h, lo, cl, v = (Decimal(bar[k]) for k in ("open", "high", "low", "close", "volume"))
            assert lo <= min(o, cl) and max(o, cl) <= h and v > 0, bar
        last = Decimal(detail[-1]["price"])
        assert Decimal(bars[-1]["low"]) <= last <= Decimal(bars[-1]["high"])
        tick = get(rest, "tick", contract=c)
        assert Decimal(tick["volume"]) > 0 and Decimal(tick["last"]) > 0


def test_contract_mark_moves_a_demo_position(sim):
    rest = sim.rest(raise_for_code=True)
    P = "BTCUSDT_PERP"
    # the simulator's quotes make a market order fill
    poll(lambda: get(RestClient(sim.http_url), "depth10", contract=P)["asks"], 5.0)
    rest.place(exchange=X, contract=P, price_type="market", entrust_bs="buy", entrust_vol="5", future_dir="open",
               lever=10)
    positions = rest.positions(exchange=X, contract=P)["data"]
    assert len(positions) == 1, positions
    first = positions[0]
    assert first["vol"] == "5" and Decimal(first["position_value"]) > 0

    def moved():
        now = rest.positions(exchange=X, contract=P)["data"][0]
        return now if now["position_value"] != first["position_value"] else None

    later = poll(moved, 8.0, 0.25)
    assert later, "position_value never moved: no index/mark updates"
    assert "Traceback" not in sim.logs() and "ERROR" not in sim.logs()
    assert later["dealId"] == first["dealId"]
    # value = vol x contract_value x mark, profit = value - cost (linear long)
    cost = (Decimal(later["open_price"]) * 5 * Decimal("0.001")).quantize(Decimal("1e-8"))
    assert Decimal(later["position_profit"]) == Decimal(later["position_value"]) - cost


def test_no_simulator_means_no_market_activity(tmp_path):
    proc = ServerProcess(tmp_path / "data", extra_args=("--no-simulator",)).start()
    try:
        time.sleep(1.5)  # three simulator steps' worth
        rest = RestClient(proc.http_url)
        for c in INSTRUMENTS:
            assert get(rest, "trade", contract=c)["detail"] == [], c
            depth = get(rest, "depth10", contract=c)
            assert depth["asks"] == [] and depth["bids"] == [], c
            assert get(rest, "candle", contract=c, duration="1m")["detail"] == [], c
            assert get(rest, "tick", contract=c)["last"] == "0"
    finally:
        proc.stop()
