"""Live market state and its fan-out: ticks over a rolling 24 h, current candles, trades,
depth — fed by engine events after each batch is durable.

* ``on_trades``/``on_orders`` (dispatcher subscriptions, loop thread): each trade updates the instrument's
  last price and its 1-minute bars of the last 24 h (longer bars are folded from them
  when needed: every duration's current bar starts within the last 24 h), and is
  pushed at once (``push-trade``); instruments whose book or trades changed are marked.
* a flusher runs every ``push_interval_ms``: for marked instruments it pushes
  ``push-depth10``, ``push-tick`` and ``push-candle`` (one payload per topic, encoded once
  and sent to every subscriber). Depth and tick are therefore coalesced: under load
  subscribers see the latest state at most every interval.
* the 24 h window: ``open`` is the first trade price within the last 24 h, ``high``/``low``
  over it, ``volume`` its sum, ``change = last - open``, ``change_rate = change / open``
  (4 decimals, half away from zero). With no trade in 24 h, open/high/low equal last and
  volume is 0.

At start the last 24 h of 1-minute bars are loaded from the projection store, so ticks
and candles continue across restarts.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from ceres.domain.candles import DURATIONS, NAMES, Bar, bar_start
from ceres.domain.errors import CeresError
from ceres.domain.events import OrderEvent, TradeEvent
from ceres.domain.instruments import Instrument
from ceres.domain.money import format_scaled
from ceres.pipeline.clock import wall_ms
from ceres.pipeline.dispatch import Subscription
from ceres.wire.codec import encode_json

log = logging.getLogger("ceres.market")
Topic = tuple[str, str, str, str | None]
"""``(kind, exchange, contract, duration)``: kind tick, trade, depth10 or candle."""


class Subscriber(Protocol):
    def push(self, data: bytes, state_topic: Topic | None) -> None: ...

DAY_MS = 86_400_000
MINUTE = DURATIONS["1m"]


class InstrumentMarket:
    __slots__ = ("inst", "last", "last_time", "minutes")

    def __init__(self, inst: Instrument) -> None:
        self.inst = inst
        self.last: int | None = None
        self.last_time = 0
        self.minutes: deque[Bar] = deque()      # 1m bars, oldest first, last 24 h

    def add_trade(self, t: int, price: int, lots: int) -> None:
        self.last = price
        self.last_time = t
        start = t - t % MINUTE
        minutes = self.minutes
        if minutes and minutes[-1].time == start:
            minutes[-1].add(price, lots)
        else:
            minutes.append(Bar(start, price, lots))

    def current_bar(self, duration: int) -> Bar | None:
        """The bar of ``duration`` holding the last trade, folded from the minute bars."""
        if not self.minutes:
            return None
        start = bar_start(self.last_time or self.minutes[-1].time, duration)
        bar = None
        for minute in reversed(self.minutes):
            if minute.time < start:
                break
            if bar is None:
                bar = Bar(start, minute.open)
                bar.high, bar.low, bar.close, bar.volume = minute.high, minute.low, minute.close, minute.volume
            else:  # walking backwards: this minute is earlier
                bar.open = minute.open
                bar.high = max(bar.high, minute.high)
                bar.low = min(bar.low, minute.low)
                bar.volume += minute.volume
        return bar

    def window(self, now: int) -> tuple[int, int, int, int, int] | None:
        """(open, high, low, last, volume) over the 24 h before ``now``."""
        minutes = self.minutes
        cutoff = now - DAY_MS
        while minutes and minutes[0].time + MINUTE <= cutoff:
            minutes.popleft()
        if self.last is None:
            return None
        if not minutes:
            return (self.last, self.last, self.last, self.last, 0)
        return (minutes[0].open, max(b.high for b in minutes), min(b.low for b in minutes),
                self.last, sum(b.volume for b in minutes))


def change_rate(change: int, open_: int) -> str:
    """``change / open`` with 4 decimals, rounded half away from zero."""
    if open_ <= 0:
        return "0"
    scaled = abs(change) * 20000 // open_
    value = (scaled + 1) // 2
    return format_scaled(-value if change < 0 else value, 4) if value else "0"


class MarketData:
    def __init__(self, engine: Any, *, push_interval_ms: int = 100,
                 now_ms: Callable[[], int] = wall_ms) -> None:
        self.engine = engine
        self.now_ms = now_ms
        self.push_interval = push_interval_ms / 1000
        self.markets = {key: InstrumentMarket(inst) for key, inst in engine.instruments.items()}
        self.topics: dict[Topic, set[Subscriber]] = {}  # topic -> subscribers (market.ws listeners)
        self._dirty_depth: set[tuple[str, str]] = set()
        self._new_depth: list[tuple[Subscriber, tuple[str, str]]] = []
        self._dirty_trade: set[tuple[str, str]] = set()
        self._durable: Callable[[], Awaitable[None]] | None = None
        self._task: asyncio.Task[None] | None = None
        self.pushes = 0

    def last_price(self, exchange: str, contract: str) -> int | None:
        """Last trade price (ticks) of an instrument, if it ever traded."""
        m = self.markets.get((exchange, contract))
        return None if m is None else m.last

    # --- start-up ------------------------------------------------------------------------
    def load(self, reader: Any, now: int | None = None) -> None:
        """Warm the 24 h windows and current bars from the projection store."""
        now = self.now_ms() if now is None else now
        for (exchange, contract), m in self.markets.items():
            # the bars ``window`` keeps: those ending after the cutoff (now - 24 h)
            rows = reader.candles(exchange, contract, MINUTE, now - DAY_MS - MINUTE + 1, now, 2000)
            m.minutes.extend(Bar.from_row(r) for r in rows)
            if m.minutes:
                m.last_time = m.minutes[-1].time
            trades = reader.trades(exchange, contract, None, None, 1)
            if trades:
                m.last = trades[-1].price
            else:  # the tape was pruned: the last bar still knows the last price
                bars = reader.candles(exchange, contract, MINUTE, None, None, 1)
                if bars:
                    m.last = bars[-1][4]

    # --- events (dispatcher subscriptions, after durability) -------------------------------
    def subscriptions(self) -> list[Subscription]:
        return [((TradeEvent,), self.on_trades), ((OrderEvent,), self.on_orders)]

    def on_trades(self, events: list[TradeEvent]) -> None:
        markets = self.markets
        for ev in events:
            inst = ev.inst
            key = (inst.exchange, inst.contract)
            markets[key].add_trade(ev.time, ev.price, ev.lots)
            self._dirty_trade.add(key)
            self._dirty_depth.add(key)
            subs = self.topics.get(("trade", key[0], key[1], None))
            if subs:
                self._publish(subs, self.trade_object(ev), depth=False)

    def on_orders(self, events: list[OrderEvent]) -> None:
        """Any order change may change the book: its depth is pushed at the next flush."""
        dirty = self._dirty_depth
        for ev in events:
            inst = ev.spec.inst
            dirty.add((inst.exchange, inst.contract))

    # --- objects (API.md section 5) ----------------------------------------------------------
    def trade_object(self, ev: TradeEvent) -> dict[str, Any]:
        inst = ev.inst
        return {"msg_type": "push-trade", "exchange": inst.exchange, "contract": inst.contract,
                **trade_fields(inst, ev.time, ev.price, ev.lots, ev.taker_side)}

    def depth(self, exchange: str, contract: str, levels: int = 10) -> dict[str, Any]:
        book = self.engine.books[(exchange, contract)]
        inst = book.inst
        bids, asks = book.depth(levels)
        return {"exchange": exchange, "contract": contract,
                "asks": [{"price": inst.fmt_price(p), "volume": inst.fmt_vol(v)} for p, v in asks],
                "bids": [{"price": inst.fmt_price(p), "volume": inst.fmt_vol(v)} for p, v in bids]}

    def tick(self, exchange: str, contract: str, *, with_rate: bool = False) -> dict[str, Any]:
        m = self.markets[(exchange, contract)]
        inst = m.inst
        now = self.now_ms()
        w = m.window(now)
        out: dict[str, Any] = {"exchange": exchange, "contract": contract, "time": str(now)}
        if w is None:
            out.update(open="0", high="0", low="0", last="0", volume="0", change="0")
            if with_rate:
                out["change_rate"] = "0"
            return out
        open_, high, low, last, vol = w
        fmt = inst.fmt_price
        out.update(open=fmt(open_), high=fmt(high), low=fmt(low), last=fmt(last), volume=inst.fmt_vol(vol),
                   change=format_scaled((last - open_) * inst.tick_units, inst.price_decimals))
        if with_rate:
            out["change_rate"] = change_rate(last - open_, open_)
        return out

    def candle_object(self, inst: Instrument, duration: int, bar: Bar) -> dict[str, Any]:
        return {"msg_type": "push-candle", "exchange": inst.exchange, "contract": inst.contract,
                "duration": NAMES[duration], **bar_fields(inst, bar)}

    def current_candle(self, exchange: str, contract: str, duration: int) -> dict[str, Any] | None:
        m = self.markets[(exchange, contract)]
        bar = m.current_bar(duration)
        return None if bar is None else self.candle_object(m.inst, duration, bar)

    # --- push loop ---------------------------------------------------------------------------
    def start(self, durable: Callable[[], Awaitable[None]] | None = None) -> None:
        """Begin pushing; ``durable()`` waits until everything applied so far is durable
        (the book is live engine state: a depth push waits for it, so it never shows an
        order a crash could take back)."""
        self._durable = durable
        self._task = asyncio.create_task(self._flusher())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _flusher(self) -> None:
        while True:
            await asyncio.sleep(self.push_interval)
            try:
                await self.flush()
            except Exception:
                log.exception("market push failed")

    def depth_snapshot_later(self, sub: Subscriber, exchange: str, contract: str) -> None:
        """A new depth subscriber's first message: the book at the next flush, once durable."""
        self._new_depth.append((sub, (exchange, contract)))

    async def flush(self) -> None:
        """The pushes of marked instruments: tick and candle (from durable trades), and
        depth for changed books and new depth subscribers: computed now, sent once what
        they show is durable (at once if nothing waits); if the journal fails first, they
        are computed again from the rewound book at the next flush."""
        self._flush_trades()
        dirty, self._dirty_depth = self._dirty_depth, set()
        new, self._new_depth = self._new_depth, []
        if not dirty and not new:
            return
        books = {key: {"msg_type": "push-depth10", **self.depth(*key)} for key in dirty | {k for _, k in new}}
        if self._durable is not None:
            try:
                await self._durable()
            except CeresError:
                self._dirty_depth |= dirty
                self._new_depth[:0] = new
                return
        topics = self.topics
        for key in dirty:
            subs = topics.get(("depth10", *key, None))
            if subs:
                self._publish(subs, books[key], depth=True)
        for sub, key in new:
            self._publish({sub}, books[key], depth=True)

    def _flush_trades(self) -> None:
        topics = self.topics
        traded, self._dirty_trade = self._dirty_trade, set()
        for exchange, contract in traded:
            subs = topics.get(("tick", exchange, contract, None))
            if subs:
                self._publish(subs, {"msg_type": "push-tick", **self.tick(exchange, contract, with_rate=True)},
                              depth=True)
            m = self.markets[(exchange, contract)]
            for d in DURATIONS.values():
                subs = topics.get(("candle", exchange, contract, NAMES[d]))
                if subs:
                    bar = m.current_bar(d)
                    if bar is not None:
                        self._publish(subs, self.candle_object(m.inst, d, bar), depth=True)

    def _publish(self, subs: set[Subscriber], obj: dict[str, Any], *, depth: bool) -> None:
        """Send one encoded payload to every subscriber; ``depth`` marks state pushes that
        a subscriber behind on reading may skip (only its latest is kept)."""
        data = encode_json(obj)
        topic = (obj["msg_type"], obj["exchange"], obj["contract"], obj.get("duration"))
        for sub in list(subs):
            sub.push(data, topic if depth else None)
            self.pushes += 1


def trade_fields(inst: Instrument, time_ms: int, price: int, lots: int, taker_side: int) -> dict[str, Any]:
    """A trade as pushed and listed: ms time string, price, volume, taker side b/s."""
    return {"time": str(time_ms), "price": inst.fmt_price(price), "volume": inst.fmt_vol(lots),
            "side": "b" if taker_side == 1 else "s"}


def bar_fields(inst: Instrument, bar: Bar) -> dict[str, Any]:
    return {"time": str(bar.time), "open": inst.fmt_price(bar.open), "high": inst.fmt_price(bar.high),
            "low": inst.fmt_price(bar.low), "close": inst.fmt_price(bar.close),
            "volume": inst.fmt_vol(bar.volume)}
