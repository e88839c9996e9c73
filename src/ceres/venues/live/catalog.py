"""A live venue's markets as Ceres knows them: loaded once without a key, retried in the
background while the venue does not answer (every ``RETRY_S``), looked up by ccxt's unified
symbol or the venue's own id (a spot market's id wins over a perpetual's with the same id:
``BTCUSDT`` is Binance's spot pair, its perpetual is ``BTC/USDT:USDT``).

Spot markets are required; a venue with ``contracts`` (Binance USDT-M) also loads its linear
perpetuals with a second instance (``default_type="swap"``), so a venue whose futures API
fails (a region, an outage) still trades spot while the perpetuals are retried. ``markets``
is ccxt's market table of both, handed to every product's ccxt instance (``set_markets``) so
none of them loads markets again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

import ccxt.async_support as ccxt_async  # type: ignore[import-untyped]

from ceres.domain.errors import CeresError, ErrorCode
from ceres.domain.instruments import Instrument
from ceres.venues.live.markets import instrument_of

log = logging.getLogger("ceres.venues")
RETRY_S = 30.0


class Catalog:
    def __init__(self, exchange: str, make: Callable[[str], Any],
                 call: Callable[[Coroutine[Any, Any, Any]], Awaitable[Any]], *, contracts: bool) -> None:
        self.exchange = exchange
        self._make = make  # default_type -> a keyless ccxt instance (the caller's factory)
        self._call = call
        self.types = ("spot", "swap") if contracts else ("spot",)
        self.markets: dict[str, Any] = {}  # ccxt's table, every type loaded so far
        self._by_type: dict[str, dict[str, Instrument]] = {}
        self._by_name: dict[str, Instrument] = {}
        self._list: list[Instrument] = []
        self._retry: asyncio.Task[None] | None = None

    @property
    def loaded(self) -> bool:
        """The spot markets were read once (even if none is tradable)."""
        return "spot" in self._by_type

    async def start(self) -> None:
        if not await self.load():
            self._retry = asyncio.create_task(self._retry_load(), name=f"markets-{self.exchange}")

    def close(self) -> None:
        if self._retry is not None:
            self._retry.cancel()

    async def load(self) -> bool:
        """Load what is not loaded yet; True when every type is."""
        for kind in [t for t in self.types if t not in self._by_type]:
            ex = self._make(kind)
            try:
                markets = await self._call(ex.load_markets())
            except ccxt_async.BaseError as exc:
                log.warning("%s: %s markets not loaded (%s: %s); retrying every %.0f s", self.exchange, kind,
                            type(exc).__name__, " ".join(str(exc).split())[:300], RETRY_S)
                continue
            finally:
                await ex.close()
            found: dict[str, Instrument] = {}
            for market in markets.values():
                inst = instrument_of(self.exchange, market, ex.precisionMode)
                if inst is not None and (kind == "spot") == (not inst.is_contract):
                    found[inst.contract] = inst
                    found.setdefault(str(market["id"]), inst)
            self.markets.update(markets)
            self._by_type[kind] = found
            self._index()
            log.info("%s: %d %s markets loaded%s", self.exchange, len({i.contract for i in found.values()}), kind,
                     "" if found else " (none Ceres can trade: see docs/venues.md)")
        return all(t in self._by_type for t in self.types)

    def _index(self) -> None:
        by_name: dict[str, Instrument] = {}
        for kind in reversed(self.types):  # spot last: its ids win
            by_name.update(self._by_type.get(kind, {}))
        self._by_name = by_name
        self._list = sorted({i.contract: i for i in by_name.values()}.values(), key=lambda i: i.contract)

    async def _retry_load(self) -> None:
        while True:
            await asyncio.sleep(RETRY_S)
            if await self.load():
                return

    def _check(self) -> None:
        if not self.loaded:
            raise CeresError(ErrorCode.VENUE_UNAVAILABLE, f"{self.exchange}: markets not loaded yet (the venue "
                                                          "did not answer); retry later", "exchange")

    def instruments(self) -> Sequence[Instrument]:
        self._check()
        return self._list

    def instrument(self, contract: str) -> Instrument:
        inst = self._by_name.get(contract)
        if inst is None:
            self._check()
            raise CeresError(ErrorCode.UNKNOWN_CONTRACT, f"{self.exchange} has no market {contract!r}", "contract")
        return inst

    def count(self) -> int:
        return len(self._list)
