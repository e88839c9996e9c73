"""Live venues' markets on Ceres' market ports, in the same shapes as the simulated ones.

:class:`LiveMarket` is what a live venue offers the market layer (``venues.live.LiveVenue``):
its markets, ticker, book, trades and candles as decimal strings, and ``watch`` to run one
18003 topic. :class:`LiveTopics` holds the 18003 subscribers of live topics: the venue's
watcher starts with a topic's first subscriber and stops after its last; what it emits is
wrapped as ``push-tick`` / ``push-trade`` / ``push-depth10`` / ``push-candle`` (API.md section
5) and sent to every subscriber, states as state pushes (a slow reader keeps only the latest).
A new subscriber to a running topic first gets its last state.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol

from ceres.domain.instruments import Instrument
from ceres.market.data import Subscriber, Topic
from ceres.wire.codec import encode_json

Emit = Callable[[dict[str, Any]], None]


class LiveMarket(Protocol):
    def instrument(self, contract: str) -> Instrument: ...

    async def ticker(self, contract: str) -> dict[str, str]: ...

    async def order_book(self, contract: str, levels: int) -> tuple[list[tuple[str, str]],
                                                                     list[tuple[str, str]]]: ...

    async def trades(self, contract: str, begin: int | None, end: int | None,
                     size: int) -> list[dict[str, str]]: ...

    async def candles(self, contract: str, duration: str, begin: int | None, end: int | None,
                      size: int) -> list[dict[str, str]]: ...

    def watch(self, kind: str, contract: str, duration: str | None, emit: Emit) -> Callable[[], None]: ...


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


def tick_fields(exchange: str, contract: str, now_ms: int, t: dict[str, str], *,
                with_rate: bool = False) -> dict[str, Any]:
    """A venue ticker as a Ceres tick: ``change`` = last - open, ``change_rate`` = change / open
    with 4 decimals, half away from zero (as on TEST)."""
    open_, last = Decimal(t["open"]), Decimal(t["last"])
    change = last - open_ if open_ else Decimal(0)
    out: dict[str, Any] = {"exchange": exchange, "contract": contract, "time": str(now_ms), "open": t["open"],
                           "high": t["high"], "low": t["low"], "last": t["last"], "volume": t["volume"],
                           "change": _plain(change)}
    if with_rate:
        out["change_rate"] = _plain((change / open_).quantize(Decimal("0.0001"), ROUND_HALF_UP)) if open_ else "0"
    return out


def depth_fields(exchange: str, contract: str, bids: list[tuple[str, str]],
                 asks: list[tuple[str, str]]) -> dict[str, Any]:
    return {"exchange": exchange, "contract": contract,
            "asks": [{"price": p, "volume": v} for p, v in asks],
            "bids": [{"price": p, "volume": v} for p, v in bids]}


class LiveTopics:
    def __init__(self, live: Callable[[str], LiveMarket | None], now_ms: Callable[[], int]) -> None:
        self.live = live
        self.now_ms = now_ms
        self.subs: dict[Topic, set[Subscriber]] = {}
        self._stops: dict[Topic, Callable[[], None]] = {}
        self._last: dict[Topic, bytes] = {}
        self.pushes = 0

    def venue(self, exchange: str) -> LiveMarket | None:
        return self.live(exchange)

    def add(self, topic: Topic, sub: Subscriber) -> bytes | None:
        """Subscribe; returns the topic's last state for the new subscriber, if it has one."""
        subs = self.subs.get(topic)
        if subs is None:
            kind, exchange, contract, duration = topic
            venue = self.live(exchange)
            assert venue is not None
            stop = venue.watch(kind, contract, duration, lambda obj: self._emit(topic, obj))
            self.subs[topic] = subs = set()
            self._stops[topic] = stop
        subs.add(sub)
        return self._last.get(topic)

    def remove(self, topic: Topic, sub: Subscriber) -> None:
        subs = self.subs.get(topic)
        if subs is None:
            return
        subs.discard(sub)
        if not subs:
            del self.subs[topic]
            self._last.pop(topic, None)
            self._stops.pop(topic)()

    def close(self) -> None:
        for stop in self._stops.values():
            stop()
        self._stops.clear()
        self.subs.clear()
        self._last.clear()

    def _emit(self, topic: Topic, obj: dict[str, Any]) -> None:
        kind, exchange, contract, duration = topic
        if kind == "tick":
            payload = {"msg_type": "push-tick", **tick_fields(exchange, contract, self.now_ms(), obj, with_rate=True)}
        elif kind == "depth10":
            payload = {"msg_type": "push-depth10", **depth_fields(exchange, contract, obj["bids"], obj["asks"])}
        elif kind == "candle":
            payload = {"msg_type": "push-candle", "exchange": exchange, "contract": contract, "duration": duration,
                       **obj}
        else:
            payload = {"msg_type": "push-trade", "exchange": exchange, "contract": contract, **obj}
        data = encode_json(payload)
        state = kind != "trade"
        if state:
            self._last[topic] = data
        state_topic = (payload["msg_type"], exchange, contract, duration) if state else None
        for sub in list(self.subs.get(topic, ())):
            sub.push(data, state_topic)
            self.pushes += 1
