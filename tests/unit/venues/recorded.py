"""Recorded venue replies fed through ccxt 4.5.90 without a socket (issue 11).

A fixture file ``tests/fixtures/venues/<ccxt id>/<name>.json`` holds one ccxt method's cases::

    {"source": "where the shapes come from", "method": "fetch_order",
     "cases": [{"name": "open", "input": ["123", "BTC/USDT"],
                "replies": {"GET /api/v3/order": {...raw venue body...}},
                "expect": {...subset of ccxt's unified result...}, "ceres": 3}]}

A case may override ``method``/``source``, give ``"status"`` (an HTTP error status) and ``"raises"``
(the ccxt exception class name) instead of ``expect``. ``markets.json`` is the ``load_markets`` case;
its ``replies`` (and ``shared`` ones, e.g. HTX's account list) are served to every case of that venue.

A request is answered by the longest reply key whose verb is the request's and whose text occurs in
its URL; any other request raises :class:`Unrecorded`, so nothing can reach the network. Success
cases replace ``exchange.fetch`` (ccxt's own "level A" injection); error cases (with ``status``)
put :class:`Recording` in as the aiohttp session instead, so ccxt's ``handle_errors`` and
``handle_http_status_code`` run on the raw text exactly as they would on a live reply.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from ceres.venues.live.factory import make_exchange

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "venues"
VENUES = {"binance": "BINANCE", "okx": "OKEX", "htx": "HUOBI", "bitfinex": "BITFINEX"}
# HTX would also load its linear and inverse contract markets (three more endpoints) by default.
OPTIONS: dict[str, dict[str, Any]] = {}  # per-venue option overrides for a case (the factory limits HTX to spot)


class Unrecorded(AssertionError):
    """A request the fixture has no reply for."""


def load(venue: str, name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / venue / f"{name}.json").read_text())


def cases(name: str, venues: tuple[str, ...] = tuple(VENUES)) -> list[Any]:
    """``pytest.param(venue, case)`` for every case of ``<venue>/<name>.json``, file defaults filled in."""
    params = []
    for venue in venues:
        if not (FIXTURES / venue / f"{name}.json").exists():
            continue
        recorded = load(venue, name)
        for case in recorded["cases"]:
            full = {"method": recorded["method"], "source": recorded["source"], **case}
            params.append(pytest.param(venue, full, id=f"{venue}-{case['name']}"))
    return params


class _Response:
    def __init__(self, status: int, body: Any) -> None:
        self.status, self.reason, self._text = status, "recorded", json.dumps(body)
        self.headers = {"Content-Type": "application/json"}

    async def text(self, errors: str = "strict") -> str:
        return self._text

    async def __aenter__(self) -> _Response:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


class Recording:
    """The replies of one case, as ``exchange.fetch`` (level A) or as an aiohttp-like session (level B)."""

    headers: dict[str, str] = {}  # noqa: RUF012 - ccxt merges session.headers into every request

    def __init__(self, replies: dict[str, Any], errors: dict[str, Any] | None = None, status: int = 200) -> None:
        """``errors`` are answered with HTTP ``status``, ``replies`` with 200."""
        self.replies, self.errors, self.status = replies, errors or {}, status
        self.requests: list[tuple[str, str, str | None]] = []

    def reply(self, method: str, url: str, body: str | None) -> tuple[int, Any]:
        self.requests.append((method, url, body))
        table = {**{key: (200, value) for key, value in self.replies.items()},
                 **{key: (self.status, value) for key, value in self.errors.items()}}
        keys = [key for key in table if key.split(" ", 1)[0] == method and key.split(" ", 1)[1] in url]
        if not keys:
            raise Unrecorded(f"no recorded reply for {method} {url}")
        return table[max(keys, key=len)]

    async def fetch(self, url: str, method: str = "GET", headers: Any = None, body: str | None = None) -> Any:
        return self.reply(method, url, body)[1]

    def __getattr__(self, verb: str) -> Any:
        if verb not in ("get", "post", "put", "delete"):
            raise AttributeError(verb)

        def call(url: Any, data: bytes | None = None, **_: Any) -> _Response:
            body = data.decode() if data else None
            return _Response(*self.reply(verb.upper(), str(url), body))
        return call

    async def close(self) -> None:
        return None


@asynccontextmanager
async def offline(venue: str, case: dict[str, Any] | None = None) -> AsyncIterator[tuple[Any, Recording]]:
    """A ``make_exchange`` instance of ``venue`` with its recorded markets loaded, answering ``case``
    (without a case: the recording that answered ``load_markets``)."""
    exchange = make_exchange(VENUES[venue], api_key="recorded-key", secret="recorded-secret", password="recorded-pass")
    exchange.enableRateLimit = False  # as in ccxt's own offline tests: no token-bucket sleeps
    exchange.timeout_on_exit = 0  # close() would sleep 250 ms for sockets this instance never opened
    for name, value in OPTIONS.get(venue, {}).items():
        exchange.options[name] = value
    markets = load(venue, "markets")
    shared = {**markets["cases"][0]["replies"], **markets.get("shared", {})}
    recording = Recording(shared)
    try:
        exchange.fetch = recording.fetch
        await exchange.load_markets()
        if case is not None and "status" in case:
            recording = Recording(shared, case["replies"], case["status"])
            del exchange.fetch  # back to ccxt's own fetch, over the recording as its session
            exchange.session = recording
        elif case is not None:
            recording = Recording({**shared, **case.get("replies", {})})
            exchange.fetch = recording.fetch
        yield exchange, recording
    finally:
        await exchange.close()


async def call(exchange: Any, case: dict[str, Any]) -> Any:
    return await getattr(exchange, case["method"])(*case.get("input", []))


def mismatches(actual: Any, expected: Any, path: str = "$") -> list[str]:
    """Where ``actual`` differs from ``expected``: dicts compare the expected keys only, lists whole,
    leaves by value *and type* (so ``"0.1"`` is not ``0.1`` and a float sneaking in fails)."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected a dict, got {actual!r}"]
        return [m for key, value in expected.items() for m in mismatches(actual.get(key), value, f"{path}.{key}")]
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{path}: expected {len(expected)} items, got {actual!r}"]
        pairs = enumerate(zip(actual, expected, strict=True))
        return [m for i, (a, e) in pairs for m in mismatches(a, e, f"{path}[{i}]")]
    if type(actual) is not type(expected) or actual != expected:
        return [f"{path}: expected {expected!r}, got {actual!r}"]
    return []
