"""Live market state (``ceres.market.data``): ``change_rate`` rounding, the rolling 24 h
window of 1-minute bars, current bars per duration, trade pushes at once and coalesced
depth/tick/candle pushes per flush, and warming the state from the projection store (the
loaded window must equal the live one at any ``now``).

Events come from a real engine (``engine_helpers.Harness``), so they are the events the
dispatcher hands to ``MarketData`` (its subscriptions).
"""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal

from hypothesis import given
from hypothesis import strategies as st

from ceres.domain.candles import DURATIONS
from ceres.market.data import DAY_MS, InstrumentMarket, MarketData, change_rate
from ceres.pipeline.dispatch import Dispatcher
from ceres.store.sqlite import SqliteProjection, SqliteReader
from engine_helpers import BTC, USDT, btc_usdt_harness

MIN = 60_000
EX, C = "TEST", "BTC/USDT"


# --- change_rate ----------------------------------------------------------------------------
def test_change_rate_examples():
    assert change_rate(0, 10_000) == "0"
    assert change_rate(200, 10_000) == "0.02"
    assert change_rate(-49, 1100) == "-0.0445"         # -0.044545...
    assert change_rate(1, 20_000) == "0.0001"           # exactly half: away from zero
    assert change_rate(-1, 20_000) == "-0.0001"
    assert change_rate(1, 20_001) == "0"                # just under half
    assert change_rate(-1, 20_001) == "0"               # never "-0"
    assert change_rate(10_000, 10_000) == "1"
    assert change_rate(25_000, 10_000) == "2.5"
    assert change_rate(5, 0) == "0"                     # no open price: no rate


def decimal_rate(change: int, open_: int) -> str:
    q = (Decimal(change) / Decimal(open_)).quantize(Decimal("0.0001"), ROUND_HALF_UP)
    text = format(q, "f").rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


@given(st.integers(-10**12, 10**12), st.integers(1, 10**12))
def test_change_rate_is_half_away_from_zero_at_4_decimals(change, open_):
    assert change_rate(change, open_) == decimal_rate(change, open_)


# --- InstrumentMarket: bars and the 24 h window ------------------------------------------------
def inst():
    return btc_usdt_harness().inst


def test_window_none_before_any_trade_then_first_trade_opens_it():
    m = InstrumentMarket(inst())
    assert m.window(10**12) is None
    t = 1_760_000_000_000
    m.add_trade(t, 100, 5)
    m.add_trade(t + 10, 120, 1)
    m.add_trade(t + MIN, 90, 2)
    m.add_trade(t + 2 * MIN, 110, 3)
    assert m.window(t + 2 * MIN) == (100, 120, 90, 110, 11)
    assert [b.row()[1:] for b in m.minutes] == [(100, 120, 100, 120, 6), (90, 90, 90, 90, 2), (110,) * 4 + (3,)]
    # current bar per duration
    assert m.current_bar(DURATIONS["1m"]).row()[1:] == (110, 110, 110, 110, 3)
    day = m.current_bar(DURATIONS["1d"])
    assert day.time == t - t % DAY_MS and day.row()[1:] == (100, 120, 90, 110, 11)


def test_window_drops_minutes_that_ended_24h_ago():
    m = InstrumentMarket(inst())
    t0 = 1_760_000_040_000 - 1_760_000_040_000 % MIN  # a minute start
    m.add_trade(t0 + 5, 100, 1)        # minute 0
    m.add_trade(t0 + MIN + 5, 130, 2)  # minute 1
    m.add_trade(t0 + 2 * MIN, 80, 4)   # minute 2
    # minute 0 ends at t0 + MIN: kept while now - 24h < t0 + MIN
    assert m.window(t0 + DAY_MS + MIN - 1) == (100, 130, 80, 80, 7)
    assert m.window(t0 + DAY_MS + MIN) == (130, 130, 80, 80, 6)
    assert m.window(t0 + DAY_MS + 2 * MIN) == (80, 80, 80, 80, 4)
    # nothing in 24 h: everything at the last price, volume 0
    assert m.window(t0 + DAY_MS + 3 * MIN) == (80, 80, 80, 80, 0)
    assert not m.minutes


# --- MarketData: pushes ------------------------------------------------------------------------
class Sub:
    def __init__(self) -> None:
        self.got: list[tuple[dict, tuple | None]] = []

    def push(self, data: bytes, topic: tuple | None) -> None:
        self.got.append((json.loads(data), topic))

    def types(self) -> list[str]:
        return [m["msg_type"] for m, _ in self.got]


def setup_market():
    h = btc_usdt_harness()
    h.fund("alice", "USDT", 1_000_000 * USDT)
    h.fund("bob", "BTC", 100 * BTC)
    market = MarketData(h.eng, push_interval_ms=10, now_ms=lambda: h.now)
    subs = {}
    for kind, duration in (("trade", None), ("depth10", None), ("tick", None), ("candle", "1m"),
                           ("candle", "1h")):
        subs[(kind, duration)] = s = Sub()
        market.topics[(kind, EX, C, duration)] = {s}
    return h, market, subs


def feed(h, market) -> None:
    Dispatcher(market.subscriptions()).dispatch([(h.seq, h.eng.take_events())])


async def test_trade_pushed_at_once_state_pushes_on_flush_only():
    h, market, subs = setup_market()
    h.sell("bob", 3_000_000, 5_000)  # 30000.00 x 0.5
    feed(h, market)
    assert all(not s.got for s in subs.values())  # nothing before the flush
    await market.flush()
    assert subs[("depth10", None)].got == [({"msg_type": "push-depth10", "exchange": EX, "contract": C,
                                              "asks": [{"price": "30000", "volume": "0.5"}], "bids": []},
                                             ("push-depth10", EX, C, None))]
    assert not subs[("tick", None)].got and not subs[("candle", "1m")].got  # no trade yet
    h.buy("alice", 3_000_000, 2_000)
    feed(h, market)
    trade = subs[("trade", None)].got
    assert trade == [({"msg_type": "push-trade", "exchange": EX, "contract": C, "time": str(h.now),
                       "price": "30000", "volume": "0.2", "side": "b"}, None)]  # topic None: never held
    await market.flush()
    tick, topic = subs[("tick", None)].got[-1]
    assert topic == ("push-tick", EX, C, None)
    assert tick == {"msg_type": "push-tick", "exchange": EX, "contract": C, "time": str(h.now), "open": "30000",
                    "high": "30000", "low": "30000", "last": "30000", "volume": "0.2", "change": "0",
                    "change_rate": "0"}
    for duration, ms in (("1m", MIN), ("1h", 3_600_000)):
        candle, topic = subs[("candle", duration)].got[-1]
        assert topic == ("push-candle", EX, C, duration)
        assert candle == {"msg_type": "push-candle", "exchange": EX, "contract": C, "duration": duration,
                          "time": str(h.now - h.now % ms), "open": "30000", "high": "30000", "low": "30000",
                          "close": "30000", "volume": "0.2"}
    assert subs[("depth10", None)].got[-1][0]["asks"] == [{"price": "30000", "volume": "0.3"}]
    # nothing changed: a flush pushes nothing
    counts = {k: len(s.got) for k, s in subs.items()}
    await market.flush()
    assert {k: len(s.got) for k, s in subs.items()} == counts


async def test_flush_coalesces_many_changes_into_one_push_per_topic():
    h, market, subs = setup_market()
    for i in range(5):
        h.sell("bob", 3_000_000 + i, 1_000)
        feed(h, market)
    for i in range(3):
        h.buy("alice", 3_000_000 + i, 1_000)  # three trades, three batches
        feed(h, market)
    assert len(subs[("trade", None)].got) == 3
    await market.flush()
    for key in (("depth10", None), ("tick", None), ("candle", "1m"), ("candle", "1h")):
        assert len(subs[key].got) == 1, key
    tick = subs[("tick", None)].got[0][0]
    assert (tick["open"], tick["high"], tick["last"], tick["volume"]) == ("30000", "30000.02", "30000.02", "0.3")
    assert (tick["change"], tick["change_rate"]) == ("0.02", "0")
    depth = subs[("depth10", None)].got[0][0]
    assert depth["asks"] == [{"price": "30000.03", "volume": "0.1"}, {"price": "30000.04", "volume": "0.1"}]
    # the REST tick has no change_rate
    assert "change_rate" not in market.tick(EX, C) and market.tick(EX, C, with_rate=True)["change_rate"] == "0"


def test_untraded_instrument_tick_and_candle():
    h, market, _ = setup_market()
    assert market.tick(EX, C) == {"exchange": EX, "contract": C, "time": str(h.now), "open": "0", "high": "0",
                                  "low": "0", "last": "0", "volume": "0", "change": "0"}
    assert market.current_candle(EX, C, MIN) is None
    assert market.depth(EX, C) == {"exchange": EX, "contract": C, "asks": [], "bids": []}


# --- load(): the store warms the same state -----------------------------------------------------
def test_loaded_window_equals_live_window(tmp_path):
    """Trades over three minutes, projected to SQLite; a MarketData loaded from the store at
    ``now`` must report the same tick as the live one for every ``now`` around the 24 h
    cutoff (including the minute that straddles it)."""
    h = btc_usdt_harness()
    h.fund("alice", "USDT", 1_000_000 * USDT)
    h.fund("bob", "BTC", 100 * BTC)
    h.now -= h.now % MIN  # the next command lands 1 ms into a minute
    live = MarketData(h.eng, now_ms=lambda: 0)
    proj = SqliteProjection(tmp_path / "p.sqlite")
    for price, dt in ((3_000_000, 1), (3_100_000, 20_000), (2_900_000, MIN), (3_050_000, MIN), (3_000_500, 5)):
        h.now += dt - 1
        h.sell("bob", price, 1_000)
        h.buy("alice", price, 1_000)
        events = h.eng.take_events()
        Dispatcher(live.subscriptions()).dispatch([(h.seq, events)])
        proj.apply([(h.seq, events)])
    proj.close()
    reader = SqliteReader(tmp_path / "p.sqlite")
    first_minute = live.markets[(EX, C)].minutes[0].time
    try:
        for now in (h.now, first_minute + DAY_MS - 1, first_minute + DAY_MS + 30_000, first_minute + DAY_MS + MIN,
                    first_minute + DAY_MS + MIN + 30_000, first_minute + DAY_MS + 3 * MIN):
            loaded = MarketData(h.eng, now_ms=lambda now=now: now)
            loaded.load(reader)
            live.now_ms = lambda now=now: now
            assert loaded.tick(EX, C, with_rate=True) == live.tick(EX, C, with_rate=True), now
            for d in DURATIONS.values():
                assert loaded.current_candle(EX, C, d) == live.current_candle(EX, C, d)
    finally:
        reader.close()
