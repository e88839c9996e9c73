"""Public market-data REST (API.md section 5): bare objects, no envelope, no ``code`` key.

GET ``/api/v1/market/{candle,trade,depth10,tick}`` with query parameters, and the older
POST forms ``/api/v1/query/{cycle/data/history,trade/data,depth10/data,tick/data}`` with
a JSON body of the same fields. Errors: HTTP 400 ``{"code":"400","message":...}``; a
query that is not UTF-8, a body that is not a JSON object (or nests deeper than
``ceres.wire.bounds`` allows), a field of the wrong type or over ``MAX_TEXT`` characters
are 400s like any other bad parameter. A bug answers HTTP 500 ``{"code":"500",...}``
(counted and logged by ``ceres.wire.faults``).

Ranges (candle, trade): ``begin`` and ``end`` (ms) -> everything in between (``size``
ignored, at most ``MAX_SIZE``); ``begin`` + ``size`` -> ``size`` items forward from begin;
``end`` + ``size`` -> ``size`` items back from end; neither -> the latest ``size``.
``size`` defaults to ``DEFAULT_SIZE``. Results are in time order. History comes from the
projection store after it has caught up with everything durable.

A live venue's markets (``market.live``) answer from the venue, read at the time of the
request, in the same shapes: tick and depth10 from its ticker and book, trade and candle
through ccxt's ``fetch_trades`` / ``fetch_ohlcv`` with the same range rules (see
``venues.live.feed`` for what a venue's history reaches back to). A venue that does not answer
is a 503 ``{"code":"50003",...}``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from ceres.domain.candles import DURATIONS, Bar
from ceres.domain.errors import CeresError
from ceres.domain.instruments import Instrument
from ceres.market.data import MarketData, bar_fields, trade_fields
from ceres.market.live import LiveMarket, depth_fields, tick_fields
from ceres.pipeline.history import HistoryReader
from ceres.wire import faults
from ceres.wire.bounds import bad_query_param
from ceres.wire.codec import decode_json_object, encode_json

DEFAULT_SIZE = 100
MAX_SIZE = 2000
MAX_TEXT = 64  # characters of exchange, contract, duration
API = "/api/v1/"
MARKET_ROUTES: tuple[tuple[str, tuple[tuple[str, str, str], ...]], ...] = (
    ("candle", (("GET", API + "market/candle", "candles"),
                ("POST", API + "query/cycle/data/history", "candlesPost"))),
    ("trade", (("GET", API + "market/trade", "trades"), ("POST", API + "query/trade/data", "tradesPost"))),
    ("depth10", (("GET", API + "market/depth10", "depth10"),
                 ("POST", API + "query/depth10/data", "depth10Post"))),
    ("tick", (("GET", API + "market/tick", "tick"), ("POST", API + "query/tick/data", "tickPost"))),
)
"""Method name -> its routes ``(HTTP method, path, operationId in docs/openapi.yaml)``."""


class BadRequest(Exception):
    pass


def _bad(message: str, code: str = "400", status: int = 400) -> web.Response:
    return web.Response(body=encode_json({"code": code, "message": message}), status=status,
                        content_type="application/json")


MAX_DIGITS = 18
MAX_INT = 10**MAX_DIGITS - 1  # times, counts: within what SQLite and the engine's integers hold


def _int(params: dict[str, Any], name: str) -> int | None:
    """A non-negative integer parameter of at most 18 digits (a JSON integer or a string
    of digits); None when absent, null or ""."""
    value = params.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.isascii()
                                                                  and value.isdigit()
                                                                  and len(value) <= MAX_DIGITS)):
        raise BadRequest(f"parameter error: {name} must be a non-negative integer of at most {MAX_DIGITS} digits")
    number = int(value)
    if not 0 <= number <= MAX_INT:
        raise BadRequest(f"parameter error: {name} must be a non-negative integer of at most {MAX_DIGITS} digits")
    return number


class MarketRest:
    def __init__(self, market: MarketData, reader: HistoryReader,
                 caught_up: Callable[[], Awaitable[None]], durable: Callable[[], Awaitable[None]],
                 live: Callable[[str], LiveMarket | None] | None = None) -> None:
        self.market = market
        self.reader = reader
        self.caught_up = caught_up
        self.durable = durable  # the book is live engine state: its reply waits until that is durable
        self.live = live or (lambda exchange: None)  # live venues: everything comes from the venue

    def routes(self) -> list[web.RouteDef]:
        return [web.route(method, path, self._route(getattr(self, name)))
                for name, routes in MARKET_ROUTES for method, path, _ in routes]

    def _route(self, fn: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
               ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def route(request: web.Request) -> web.Response:
            try:
                if request.method == "POST":
                    body = await request.read()
                    params: dict[str, Any] = decode_json_object(body) if body.strip() else {}
                else:
                    name = bad_query_param(request.rel_url.raw_query_string)
                    if name is not None:
                        raise BadRequest(f"parameter error: {name} is not UTF-8 text")
                    params = dict(request.query)
                return web.Response(body=encode_json(await fn(params)), content_type="application/json")
            except BadRequest as exc:
                return _bad(str(exc))
            except CeresError as exc:
                if exc.error.http_status >= 500:  # e.g. the journal cannot write: depth not confirmed
                    return _bad(exc.message, exc.code, exc.error.http_status)
                return _bad(f"parameter error: {exc.message}")
            except Exception as exc:  # a bug: counted and logged once per kind and interval
                faults.report(exc, f"market REST {request.method} {request.path}")
                return _bad("internal error", "500", 500)

        return route

    def _instrument(self, params: dict[str, Any]) -> tuple[str, str]:
        exchange, contract = params.get("exchange"), params.get("contract")
        if not exchange or not contract:
            raise BadRequest("parameter error: exchange and contract are required")
        if not isinstance(exchange, str) or not isinstance(contract, str):
            raise BadRequest("parameter error: exchange and contract must be strings")
        if len(exchange) > MAX_TEXT or len(contract) > MAX_TEXT:
            raise BadRequest(f"parameter error: exchange and contract are at most {MAX_TEXT} characters")
        if (exchange, contract) not in self.market.markets:
            raise BadRequest(f"parameter error: invalid contract {exchange} {contract}")
        return exchange, contract

    def _live(self, params: dict[str, Any]) -> tuple[LiveMarket, Instrument] | None:
        exchange, contract = params.get("exchange"), params.get("contract")
        venue = self.live(exchange) if isinstance(exchange, str) else None
        if venue is None or not isinstance(contract, str) or len(contract) > MAX_TEXT:
            return None
        return venue, venue.instrument(contract)  # UNKNOWN_CONTRACT / VENUE_UNAVAILABLE: as any refusal

    @staticmethod
    def _duration(params: dict[str, Any]) -> str:
        duration = params.get("duration")
        if not isinstance(duration, str) or duration not in DURATIONS:
            raise BadRequest(f"parameter error: duration must be one of {' '.join(DURATIONS)}")
        return duration

    def _range(self, params: dict[str, Any]) -> tuple[int | None, int | None, int]:
        begin, end, size = _int(params, "begin"), _int(params, "end"), _int(params, "size")
        if begin is not None and end is not None:
            if begin > end:
                raise BadRequest("parameter error: begin is after end")
            return begin, end, MAX_SIZE
        size = DEFAULT_SIZE if size is None else size
        if not 1 <= size <= MAX_SIZE:
            raise BadRequest(f"parameter error: size must be 1..{MAX_SIZE}")
        return begin, end, size

    async def candle(self, params: dict[str, Any]) -> dict[str, Any]:
        live = self._live(params)
        if live is not None:
            venue, inst = live
            duration = self._duration(params)
            bars = await venue.candles(inst.contract, duration, *self._range(params))
            return {"exchange": inst.exchange, "contract": inst.contract, "duration": duration, "detail": bars}
        exchange, contract = self._instrument(params)
        duration = self._duration(params)
        begin, end, size = self._range(params)
        await self.caught_up()
        inst = self.market.markets[(exchange, contract)].inst
        rows = self.reader.candles(exchange, contract, DURATIONS[duration], begin, end, size)
        return {"exchange": exchange, "contract": contract, "duration": duration,
                "detail": [bar_fields(inst, Bar.from_row(r)) for r in rows]}

    async def trade(self, params: dict[str, Any]) -> dict[str, Any]:
        live = self._live(params)
        if live is not None:
            venue, inst = live
            trades = await venue.trades(inst.contract, *self._range(params))
            return {"exchange": inst.exchange, "contract": inst.contract, "detail": trades}
        exchange, contract = self._instrument(params)
        begin, end, size = self._range(params)
        await self.caught_up()
        inst = self.market.markets[(exchange, contract)].inst
        rows = self.reader.trades(exchange, contract, begin, end, size)
        return {"exchange": exchange, "contract": contract,
                "detail": [trade_fields(inst, r.time_ms, r.price, r.lots, r.taker_side) for r in rows]}

    async def depth10(self, params: dict[str, Any]) -> dict[str, Any]:
        live = self._live(params)
        if live is not None:
            venue, inst = live
            return depth_fields(inst.exchange, inst.contract, *await venue.order_book(inst.contract, 10))
        exchange, contract = self._instrument(params)
        depth = self.market.depth(exchange, contract)
        await self.durable()
        return depth

    async def tick(self, params: dict[str, Any]) -> dict[str, Any]:
        live = self._live(params)
        if live is not None:
            venue, inst = live
            return tick_fields(inst.exchange, inst.contract, self.market.now_ms(), await venue.ticker(inst.contract))
        exchange, contract = self._instrument(params)
        return self.market.tick(exchange, contract)
