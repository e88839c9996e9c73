"""A live venue's public market data for Ceres' market ports: 18003 topics and the market REST
(``trade``, ``candle``), as decimal strings in Ceres' shapes (the market layer adds the envelope).

* ``watch(kind, symbol, duration, emit)`` runs one topic until its stop function is called:
  ticker, trades and order book through ccxt.pro ``watch_ticker`` / ``watch_trades`` /
  ``watch_order_book`` when the venue streams (``Settings.streams``), else — and for
  ``STREAM_RETRY_S`` after a stream failed — by REST polling every ``poll_s``; candles always
  from ``fetch_ohlcv`` (polled). A state (tick, depth, candle) is emitted when it changed; each
  trade once (by the venue's trade id).
* ``trades`` / ``candles``: one REST read with the market REST's range rules (begin+end: that
  span, at most ``MAX_ROWS``; begin+size: forward; end+size: backward; size alone: the latest).
  Backward trade queries answer from the venue's most recent page of trades (ccxt's
  ``fetch_trades`` without ``since``): older ``end`` values give fewer rows.

The streams share one keyless ccxt.pro instance per venue, made on the first topic and closed
after the last.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import ccxt.async_support as ccxt_async  # type: ignore[import-untyped]

from ceres.venues.live.markets import plain

log = logging.getLogger("ceres.venues")
STREAM_RETRY_S = 10.0
MAX_ROWS = 1000
SEEN_TRADES = 2000
DURATION_MS = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000, "1h": 3_600_000,
               "4h": 14_400_000, "1d": 86_400_000}

Emit = Callable[[dict[str, Any]], None]
Call = Callable[[Coroutine[Any, Any, Any]], Awaitable[Any]]


def _s(value: Any) -> str:
    return plain(value) or "0"


def tick_of(t: dict[str, Any]) -> dict[str, str]:
    return {name: _s(t.get(field)) for name, field in
            (("open", "open"), ("high", "high"), ("low", "low"), ("last", "last"), ("volume", "baseVolume"))}


def trade_of(t: dict[str, Any]) -> dict[str, str]:
    return {"time": str(int(t.get("timestamp") or 0)), "price": _s(t.get("price")), "volume": _s(t.get("amount")),
            "side": "s" if t.get("side") == "sell" else "b"}


def depth_of(book: dict[str, Any], levels: int = 10) -> dict[str, list[tuple[str, str]]]:
    return {side: [(_s(r[0]), _s(r[1])) for r in (book.get(side) or [])[:levels]] for side in ("bids", "asks")}


def candle_of(row: list[Any]) -> dict[str, str]:
    return {"time": str(int(row[0])), **{k: _s(v) for k, v in zip(("open", "high", "low", "close", "volume"),
                                                                      row[1:6], strict=False)}}


class Feed:
    def __init__(self, exchange: str, public: Callable[[], Awaitable[Any]], make_stream: Callable[[], Any],
                 call: Call, *, streams: bool, poll_s: float = 1.0) -> None:
        self.exchange = exchange
        self._public = public  # the venue's keyless REST instance
        self._make_stream = make_stream
        self._call = call
        self.streams = streams
        self.poll_s = max(poll_s, 0.2)
        self._stream: Any = None
        self._topics: set[asyncio.Task[None]] = set()
        self.stream_failures = 0

    # --- 18003 topics ------------------------------------------------------------------------
    def watch(self, kind: str, symbol: str, duration: str | None, emit: Emit) -> Callable[[], None]:
        task = asyncio.create_task(self._run(kind, symbol, duration, emit), name=f"feed-{self.exchange}-{kind}")
        self._topics.add(task)

        def stop() -> None:
            task.cancel()
            self._topics.discard(task)
            if not self._topics and self._stream is not None:
                stream, self._stream = self._stream, None
                asyncio.create_task(stream.close())  # noqa: RUF006 (closing, nothing to wait for)

        return stop

    async def close(self) -> None:
        tasks = list(self._topics)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._topics.clear()
        if self._stream is not None:
            await self._stream.close()
            self._stream = None

    async def _run(self, kind: str, symbol: str, duration: str | None, emit: Emit) -> None:
        """The first round reads REST (the current state; the trades before the subscription are
        only remembered), then the stream or the poll."""
        down_until = 0.0
        last: Any = None
        seen: OrderedDict[str, None] = OrderedDict()  # trade ids already emitted
        since: int | None = None
        first = True
        while True:
            streaming = self.streams and kind != "candle" and not first and time.monotonic() >= down_until
            try:
                if streaming:
                    got = await self._watch_once(kind, symbol)
                else:
                    got = await self._poll_once(kind, symbol, duration, since)
            except ccxt_async.BaseError as exc:
                log.info("%s %s %s: %s: %s", self.exchange, symbol, kind, type(exc).__name__,
                         " ".join(str(exc).split())[:200])
                if streaming:
                    self.stream_failures += 1
                    down_until = time.monotonic() + STREAM_RETRY_S
                await asyncio.sleep(self.poll_s)
                continue
            if kind == "trade":
                for trade in sorted(got, key=lambda t: int(t.get("timestamp") or 0)):
                    tid = str(trade.get("id"))
                    if tid in seen:
                        continue
                    seen[tid] = None
                    if len(seen) > SEEN_TRADES:
                        seen.popitem(last=False)
                    since = int(trade.get("timestamp") or 0) or since
                    if not first:
                        emit(trade_of(trade))
            elif got is not None and got != last:
                last = got
                emit(got)
            if not streaming and not (first and self.streams and kind != "candle"):
                await asyncio.sleep(self.poll_s)
            first = False

    async def _watch_once(self, kind: str, symbol: str) -> Any:
        if self._stream is None:
            self._stream = self._make_stream()
        ex = self._stream
        if kind == "tick":
            return tick_of(await ex.watch_ticker(symbol))
        if kind == "trade":
            return await ex.watch_trades(symbol)
        return depth_of(await ex.watch_order_book(symbol))

    async def _poll_once(self, kind: str, symbol: str, duration: str | None, since: int | None) -> Any:
        ex = await self._public()
        if kind == "tick":
            return tick_of(await self._call(ex.fetch_ticker(symbol)))
        if kind == "trade":
            return await self._call(ex.fetch_trades(symbol, since))
        if kind == "depth10":
            return depth_of(await self._call(ex.fetch_order_book(symbol, 10)))
        assert duration is not None
        rows = await self._call(ex.fetch_ohlcv(symbol, duration, None, 1))
        return candle_of(rows[-1]) if rows else None

    # --- market REST ---------------------------------------------------------------------------
    async def trades(self, symbol: str, begin: int | None, end: int | None, size: int) -> list[dict[str, str]]:
        ex = await self._public()
        if begin is not None:
            rows = await self._call(ex.fetch_trades(symbol, begin, min(size, MAX_ROWS)))
        else:
            rows = await self._call(ex.fetch_trades(symbol, None, MAX_ROWS if end is not None else min(size, MAX_ROWS)))
        out = sorted((trade_of(t) for t in rows), key=lambda t: int(t["time"]))
        out = [t for t in out if (begin is None or int(t["time"]) >= begin) and (end is None or int(t["time"]) <= end)]
        return out[:size] if begin is not None else out[-size:]

    async def candles(self, symbol: str, duration: str, begin: int | None, end: int | None,
                      size: int) -> list[dict[str, str]]:
        ex = await self._public()
        step = DURATION_MS[duration]
        size = min(size, MAX_ROWS)
        if begin is not None and end is not None:
            size = min(MAX_ROWS, (end - begin) // step + 1)
        since = begin
        if begin is None and end is not None:
            since = end - end % step - (size - 1) * step
        rows = await self._call(ex.fetch_ohlcv(symbol, duration, since, size))
        out = [candle_of(r) for r in rows
               if (begin is None or r[0] >= begin) and (end is None or r[0] <= end)]
        return out[:size] if begin is not None else out[-size:]

