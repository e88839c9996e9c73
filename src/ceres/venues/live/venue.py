"""A live exchange on the venue port, through ccxt (decision 0006).

The venue's markets as instruments (``basic/contracts`` / biz 13, by ccxt's unified symbol
or the venue's own id), a product's balances there (``trade/account`` / biz 14, account
type 3, with the product's own key), and GTC limit orders: a placement journals the market
as Ceres knows it (``DefineInstrument``, when new or changed) and the intent (``Place``,
status 2), then the :class:`~ceres.venues.live.desk.Desk` sends it and journals what the
venue says; a cancel journals CANCELING, then the desk asks the venue.

Markets are loaded without a key at start; a venue that cannot be reached then is retried
in the background (``venues.live.catalog``), its requests answered ``VENUE_UNAVAILABLE`` meanwhile.
One ccxt instance per product key (ccxt keeps the credentials on the instance), created on
first use and closed with the venue; a changed key replaces it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

import ccxt.async_support as ccxt_async  # type: ignore[import-untyped]
import msgspec

from ceres.domain import commands as C
from ceres.domain.errors import CeresError, ErrorCode
from ceres.domain.instruments import Instrument
from ceres.engine.core import CancelResult, Engine
from ceres.pipeline.venue import OrderState, PlaceResult, ReportStream, VenueBalance, VenuePosition
from ceres.venues.live import contracts
from ceres.venues.live.catalog import Catalog
from ceres.venues.live.desk import RESOLVE_S, Desk
from ceres.venues.live.factory import make_exchange
from ceres.venues.live.feed import Feed, depth_of, tick_of
from ceres.venues.live.markets import balance_units
from ceres.venues.live.paper import PaperDesk

log = logging.getLogger("ceres.venues")
SPOT = 3
CONTRACT = 4


@dataclass(frozen=True)
class Settings:
    rest_url: str = ""
    sandbox: bool = False
    timeout_ms: int = 10000
    ws_url: str = ""
    paper: bool = False  # mode = "paper": the venue's market data, fills simulated here (venues.live.paper)
    paper_fee: str = "0.001"
    contracts: bool = False  # also the venue's linear perpetuals (Binance USDT-M)

    @property
    def streams(self) -> bool:
        """Streams go to ``ws_url`` when set, else to the venue's own hosts — unless only REST was
        moved (``rest_url`` without ``ws_url``: a proxy or a fake with no streams): then polling."""
        return bool(self.ws_url) or not self.rest_url


@dataclass(frozen=True)
class Credentials:
    api_key: str
    secret: str
    password: str | None


class Health:
    """What the operator sees of a live venue (``/health``, ``/metrics``): whether it answers,
    its last error, the round trip of its last call, and counts."""

    def __init__(self) -> None:
        self.markets = 0
        self.connected = False
        self.last_error: str | None = None
        self.last_error_ms = 0
        self.rtt_s = 0.0
        self.calls = 0
        self.errors = 0

    def record(self, started: float, exc: Exception | None) -> None:
        self.calls += 1
        self.rtt_s = time.monotonic() - started
        if exc is None:
            self.connected = True
            return
        self.errors += 1
        self.last_error = f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
        self.last_error_ms = int(time.time() * 1000)
        # the venue answered (a refusal, a rate limit) unless the network failed on the way
        self.connected = not isinstance(exc, ccxt_async.NetworkError) or isinstance(exc, ccxt_async.DDoSProtection)

    def view(self) -> dict[str, Any]:
        return {"connected": self.connected, "markets": self.markets, "last_error": self.last_error,
                "last_error_ms": self.last_error_ms or None, "rtt_ms": round(self.rtt_s * 1000, 3),
                "calls": self.calls, "errors": self.errors}


def venue_error(exchange: str, exc: Exception) -> CeresError:
    """A ccxt failure on a read, on the error table (the venue's words kept in the log)."""
    log.warning("%s: %s: %s", exchange, type(exc).__name__, exc)
    if isinstance(exc, ccxt_async.AuthenticationError):
        return CeresError(ErrorCode.VENUE_AUTH_FAILED, f"{exchange} refused the product's key ({type(exc).__name__})")
    return CeresError(ErrorCode.VENUE_UNAVAILABLE, f"{exchange} did not answer ({type(exc).__name__}); retry later")


async def in_task(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a ccxt call as its own task: aiohttp's timeouts need one, and the 19001 path steps
    its handlers' coroutines by hand (``gateway.ws_trade``), outside any task."""
    return await asyncio.ensure_future(coro)


class LiveVenue:
    def __init__(self, exchange: str, settings: Settings, credentials: Callable[[str], Credentials | None],
                 engine: Engine, submit: Callable[[C.Command], Awaitable[Any]], *, poll_s: float = 1.0,
                 front: bool = False) -> None:
        self.exchange = exchange
        self.front = front  # a cluster gateway's: it journals intents; the leading engine's desk sends them
        self.settings = settings
        self._credentials = credentials
        self._engine = engine
        self._submit = submit
        self.desk: Desk | PaperDesk
        if settings.paper:
            self.desk = PaperDesk(exchange, engine, submit, self._paper_book, interval_s=poll_s)
        else:
            self.desk = Desk(exchange, engine, submit, self._client, self._call, interval_s=poll_s,
                             resolve_s=max(RESOLVE_S, 2 * settings.timeout_ms / 1000),
                             stream_client=self._stream_client if settings.streams else None)
        self.catalog = Catalog(exchange, lambda kind: self._make(default_type=kind, markets=False), self._call,
                               contracts=settings.contracts)
        self._public: Any = None  # a ccxt instance without keys, for market data
        self.feed = Feed(exchange, self._public_client, lambda: self._make(streams=True), self._call,
                         streams=settings.streams, poll_s=poll_s)
        self._clients: dict[str, tuple[Credentials, Any]] = {}
        self._closed = False
        self.health = Health()

    async def _call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """A ccxt call, in its own task (``in_task``), timed and counted in ``health``."""
        started = time.monotonic()
        try:
            result = await in_task(coro)
        except ccxt_async.BaseError as exc:
            self.health.record(started, exc)
            raise
        self.health.record(started, None)
        return result

    # --- markets -----------------------------------------------------------------------
    async def start(self) -> None:
        """Load the markets once (a failure is logged and retried in the background), and
        start the desk, whose first poll reconciles the orders the journal left open."""
        if not self.front:
            paper = self.exchange in self._engine.paper_venues
            if paper != self.settings.paper:  # the journal learns the mode (leaving paper cancels paper orders)
                await self._submit(C.SetPaperVenue(self.exchange, self.settings.paper))
            self.desk.start()
        await self.catalog.start()

    def instruments(self) -> Sequence[Instrument]:
        return self.catalog.instruments()

    def instrument(self, contract: str) -> Instrument:
        return self.catalog.instrument(contract)

    # --- a product's view ----------------------------------------------------------------
    def _make(self, creds: Credentials | None = None, *, streams: bool = False, default_type: str = "spot",
              markets: bool = True) -> Any:
        """A ccxt instance (``streams``: the ccxt.pro one, REST and streams) with the product's key,
        given the markets loaded so far (so it never loads them itself)."""
        s = self.settings
        ex = make_exchange(self.exchange, api_key=creds.api_key if creds else "",
                           secret=creds.secret if creds else "", password=creds.password if creds else None,
                           rest_url=s.rest_url or None, sandbox=s.sandbox, timeout_ms=s.timeout_ms,
                           streams=streams, ws_url=(s.ws_url or None) if streams else None, default_type=default_type)
        if markets and self.catalog.markets:
            ex.set_markets(self.catalog.markets)
        return ex

    async def _client(self, product: str) -> Any:
        creds = self._credentials(product)
        if creds is None:
            raise CeresError(ErrorCode.VENUE_NOT_CONNECTED, f"product {product} has no key at {self.exchange} "
                                                            f"(ceres venues connect {product} {self.exchange})")
        held = self._clients.get(product)
        if held is not None and held[0] == creds:
            return held[1]
        if held is not None:
            await held[1].close()
            if isinstance(self.desk, Desk):
                self.desk.leverage.forget(product)
        client = self._make(creds)
        self._clients[product] = (creds, client)
        return client

    def _stream_client(self, product: str) -> Any:
        """A new ccxt.pro instance with the product's key, for its private stream (the caller closes it)."""
        creds = self._credentials(product)
        if creds is None:
            raise CeresError(ErrorCode.VENUE_NOT_CONNECTED, f"product {product} has no key at {self.exchange}")
        return self._make(creds, streams=True)

    async def balances(self, product: str) -> list[VenueBalance]:
        if self.settings.paper:  # Ceres' ledger holds the paper account (engine.paper)
            found = self._engine.products.get(product)
            acc = found.accounts.get((self.exchange, SPOT)) if found is not None else None
            return [] if acc is None else [VenueBalance(SPOT, cur, acc.balances[cur].total, acc.balances[cur].frozen)
                                           for cur in sorted(acc.balances)]
        client = await self._client(product)
        rows = await self._balance_rows(client, SPOT, {})
        if "swap" in self.catalog.types:
            rows += await self._balance_rows(client, CONTRACT, {"type": "swap", "subType": "linear"})
        return rows

    async def _balance_rows(self, client: Any, account_type: int, params: dict[str, str]) -> list[VenueBalance]:
        try:
            balance = await self._call(client.fetch_balance(params))
        except ccxt_async.BaseError as exc:
            raise venue_error(self.exchange, exc) from None
        rows = []
        for currency in sorted(balance.get("total") or {}):
            (total, tdec), (used, udec) = (balance_units(balance["total"][currency]),
                                           balance_units((balance.get("used") or {}).get(currency)))
            dec = max(tdec, udec)
            if total or used:
                rows.append(VenueBalance(account_type, currency, total * 10 ** (dec - tdec),
                                         used * 10 ** (dec - udec), dec))
        return rows

    async def positions(self, product: str) -> list[VenuePosition]:
        """The product's perpetual positions here, from Ceres' records, with the venue's mark and
        liquidation prices when it answers (``venues.live.contracts``)."""
        mine = [p for p in self._engine.live_positions.values()
                if p.product.name == product and p.inst.exchange == self.exchange]
        if not mine:
            return []
        rows: list[dict[str, Any]] = []
        try:
            rows = await self._call((await self._client(product)).fetch_positions(
                sorted({p.inst.contract for p in mine})))
        except (ccxt_async.BaseError, CeresError) as exc:
            log.info("%s: positions of %s without the venue's marks (%s: %s)", self.exchange, product,
                     type(exc).__name__, exc)
        return [contracts.view(p, rows) for p in mine]

    async def query(self, product: str, oid: int) -> OrderState | None:
        return None  # no Ceres orders at live venues yet

    def health_view(self) -> dict[str, Any]:
        return {**self.health.view(), "markets": self.catalog.count(), "orders_in_flight": self.desk.in_flight,
                **self.desk.streams_view()}

    # --- public market data (market REST: tick, depth10) --------------------------------
    async def _public_client(self) -> Any:
        if self._public is None:
            self._public = self._make()
        return self._public

    async def ticker(self, contract: str) -> dict[str, str]:
        """The venue's 24-hour ticker: open, high, low, last, volume (base) as decimal strings."""
        inst = self.instrument(contract)
        try:
            return tick_of(await self._call((await self._public_client()).fetch_ticker(inst.contract)))
        except ccxt_async.BaseError as exc:
            raise venue_error(self.exchange, exc) from None

    async def order_book(self, contract: str, levels: int) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """The venue's best ``levels`` bids and asks as (price, volume) decimal strings."""
        inst = self.instrument(contract)
        try:
            book = await self._call((await self._public_client()).fetch_order_book(inst.contract, levels))
        except ccxt_async.BaseError as exc:
            raise venue_error(self.exchange, exc) from None
        depth = depth_of(book, levels)
        return depth["bids"], depth["asks"]

    def watch(self, kind: str, contract: str, duration: str | None,
              emit: Callable[[dict[str, Any]], None]) -> Callable[[], None]:
        """Run an 18003 topic (tick, trade, depth10, candle) of a market here until the returned
        function is called; ``emit`` gets its states and trades (``venues.live.feed``)."""
        return self.feed.watch(kind, self.instrument(contract).contract, duration, emit)

    async def trades(self, contract: str, begin: int | None, end: int | None, size: int) -> list[dict[str, str]]:
        inst = self.instrument(contract)
        try:
            return await self.feed.trades(inst.contract, begin, end, size)
        except ccxt_async.BaseError as exc:
            raise venue_error(self.exchange, exc) from None

    async def candles(self, contract: str, duration: str, begin: int | None, end: int | None,
                      size: int) -> list[dict[str, str]]:
        inst = self.instrument(contract)
        try:
            return await self.feed.candles(inst.contract, duration, begin, end, size)
        except ccxt_async.BaseError as exc:
            raise venue_error(self.exchange, exc) from None

    # --- trading -------------------------------------------------------------------------
    def _paper_instrument(self, inst: Instrument) -> Instrument:
        """A market as paper-traded: amounts in the ledger's units of its currencies (``[currencies]``),
        fees at ``paper_fee``."""
        decimals = self._engine.currencies
        missing = [c for c in (inst.base, inst.quote) if c not in decimals]
        if missing:
            raise CeresError(ErrorCode.INVALID_VALUE, f"{inst.contract} cannot be paper-traded: add "
                                                      f"{' and '.join(missing)} to [currencies]", "contract")
        fee = self.settings.paper_fee
        try:
            return msgspec.structs.replace(C.DefineInstrument.of(inst), base_decimals=decimals[inst.base],
                                           quote_decimals=decimals[inst.quote], maker_fee=fee,
                                           taker_fee=fee).instrument()
        except (ValueError, CeresError) as exc:
            raise CeresError(ErrorCode.INVALID_VALUE, f"{inst.contract} cannot be paper-traded with the decimals "
                                                      f"in [currencies]: {exc}", "contract") from None

    async def _paper_book(self, symbol: str, levels: int) -> Any:
        return await self._call((await self._public_client()).fetch_order_book(symbol, levels))

    async def place(self, cmd: C.Place) -> PlaceResult:
        inst = self.instrument(cmd.contract)
        if self.settings.paper:
            inst = self._paper_instrument(inst)
        if self._engine.live_instruments.get(inst.key) != inst:
            await self._submit(C.DefineInstrument.of(inst))
        if not self.settings.paper and self._credentials(cmd.product) is None:
            raise CeresError(ErrorCode.VENUE_NOT_CONNECTED, f"product {cmd.product} has no key at {self.exchange}")
        oid: int = await self._submit(msgspec.structs.replace(cmd, contract=inst.contract))
        return oid  # the desk sends it once durable (``ask_send``, by ``pipeline.venue.VenueDriver``)

    async def cancel(self, product: str, ids: tuple[int, ...], reason: str = "") -> CancelResult:
        result: CancelResult = await self._submit(C.Cancel(product, ids, reason))
        return result  # the desk asks the venue once durable (``ask_cancel``)

    def ask_send(self, oid: int) -> None:
        """A new order of this venue is durable (SUBMITTING): send it."""
        self.desk.spawn(self.desk.send(oid))

    def ask_cancel(self, oid: int) -> None:
        """An order of this venue is CANCELING, durably: ask the venue."""
        self.desk.spawn(self.desk.cancel(oid))

    def reports(self) -> ReportStream:
        return ReportStream(1, lambda stream: None)

    async def close(self) -> None:
        self._closed = True
        await self.desk.close()
        await self.feed.close()
        self.catalog.close()
        for _, client in self._clients.values():
            await client.close()
        if self._public is not None:
            await self._public.close()
        self._clients.clear()
