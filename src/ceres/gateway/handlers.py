"""One handler per operation of the operations table (``gateway.operations``), shared by
REST and the biz_type socket.

A handler takes the authenticated key (its permission already checked against the
table) and a validated request Struct and returns the ``data`` of the reply, or raises
:class:`CeresError`. Everything venue-specific goes through the venue the request's
``exchange`` names (``pipeline.venue.VenueRegistry``): instruments, placing, cancelling,
balances, positions. State changes are journaled commands, so a reply waits for
durability. Orders are read from the engine (the book of record of every venue's open
orders), the in-memory cache of recently changed orders (``RecentOrders``) and the history
store (after it has caught up with everything applied, so a client always sees what it was
acknowledged).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from datetime import timezone
from typing import Any

from ceres.domain import commands as C
from ceres.domain.enums import (
    AccountType,
    OrderStatus,
)
from ceres.domain.errors import CeresError, ErrorCode
from ceres.domain.instruments import Instrument
from ceres.domain.money import pow10
from ceres.engine import controls, live
from ceres.engine.core import MAX_CANCEL_IDS, Engine
from ceres.engine.ledger import ApiKey
from ceres.engine.orders import LiveOrder, Order
from ceres.gateway import protocol as P
from ceres.gateway import views
from ceres.gateway.order_input import SIDES, enum_value, parse_ids, place_command
from ceres.gateway.recent import RecentOrders
from ceres.pipeline.history import HistoryReader, OrderRow
from ceres.pipeline.venue import VenueRegistry

DISCONNECT_REASON = ErrorCode.CANCELLED_ON_DISCONNECT.reason
_STATUSES = {int(s) for s in OrderStatus}
SETTLEMENT = int(AccountType.SETTLEMENT)
MAX_FILLS = 50


class Handlers:
    def __init__(self, engine: Engine, venues: VenueRegistry, history: HistoryReader,
                 caught_up: Callable[[], Awaitable[None]], recent: RecentOrders, *,
                 submit: Callable[[C.Command], Awaitable[Any]],
                 last_price: Callable[[str, str], int | None], tz: timezone, base_currency: str,
                 max_order_query: int = 100, durable: Callable[[], Awaitable[None]] | None = None) -> None:
        self.engine = engine
        # the markets Ceres has prices of (simulated; not live venues'), in the registry's order
        self._priced = sorted(engine.instruments.values(), key=lambda i: i.exchange)
        self.venues = venues
        self.history = history
        self.caught_up = caught_up
        self.durable = durable  # reads of live state are released once what they show is durable
        self.recent = recent
        self.last_price = last_price
        self.tz = tz
        self.base_currency = base_currency
        self.max_order_query = max_order_query
        self.submit = submit  # engine commands that are no venue's (the dead-man's switch, amend)

    def _filters(self, exchange: str | None, contract: str | None) -> None:
        """Optional exchange/contract filters must name a known exchange and instrument."""
        if exchange is not None:
            venue = self.venues.get(exchange)
            if contract is not None:
                venue.instrument(contract)

    # --- place / close ------------------------------------------------------------------
    def place_command(self, key: ApiKey, req: P.PlaceReq, *, closing: bool = False) -> C.Place:
        """Convert a validated request into an engine command (exact grid conversion)."""
        return place_command(self.venues.instrument(req.exchange, req.contract), key, req, closing=closing)

    async def place(self, key: ApiKey, req: P.PlaceReq, *, closing: bool = False) -> dict[str, str]:
        cmd = self.place_command(key, req, closing=closing)
        result = await self.venues.get(cmd.exchange).place(cmd)
        return {"client_oid": cmd.client_oid, "system_oid": _join_ids(result)}

    async def close(self, key: ApiKey, req: P.PlaceReq) -> dict[str, str]:
        """``trade/close``: a placement that must close contract positions."""
        return await self.place(key, req, closing=True)

    async def batch_place(self, key: ApiKey, req: P.BatchPlaceReq) -> list[dict[str, str]]:
        """Each item placed on its own (a bad one fails alone), all submitted in one pass of the
        loop so the good ones go in one journal frame; one result per item, in order."""
        out: list[dict[str, str]] = []
        pending: list[tuple[dict[str, str], C.Place, Awaitable[Any]]] = []
        for item in req.orders:
            coid = item.get("client_oid") if isinstance(item, dict) else None
            text = str(coid) if isinstance(coid, (str, int)) and not isinstance(coid, bool) else ""
            row = {"code": "0", "client_oid": text if len(text) <= P.MAX_TEXT else ""}
            out.append(row)
            try:
                if not isinstance(item, dict):
                    raise CeresError(ErrorCode.INVALID_TYPE, "each order must be an object", "orders")
                cmd = self.place_command(key, P.parse_request(P.PlaceReq, item))  # type: ignore[arg-type]
                pending.append((row, cmd, self.venues.get(cmd.exchange).place(cmd)))
            except CeresError as err:
                row.update(code=err.code, message=err.message)
        results = await asyncio.gather(*(aw for _, _, aw in pending), return_exceptions=True)
        for (row, cmd, _), result in zip(pending, results, strict=True):
            if isinstance(result, CeresError):
                row.update(code=result.code, message=result.message)
            elif isinstance(result, BaseException):
                raise result
            else:
                row.update(client_oid=cmd.client_oid, system_oid=_join_ids(result))
        return out

    # --- cancel ---------------------------------------------------------------------------
    async def cancel(self, key: ApiKey, req: P.CancelReq) -> dict[str, list[dict[str, str]]]:
        ok, failed = await self._cancel_ids(key.product.name, parse_ids(req.system_oid))
        return {"SUCCESS": [{"system_oid": str(oid)} for oid in ok],
                "ERROR": [{"system_oid": str(oid), "code": err.code, "message": err.message} for oid, err in failed]}

    async def batch_cancel(self, key: ApiKey, req: P.BatchCancelReq) -> list[dict[str, str]]:
        """Up to 100 ids; one result per id, in order."""
        ids = parse_ids(req.system_oid, most=P.MAX_BATCH_CANCEL, too_many=ErrorCode.BATCH_TOO_LARGE)
        ok, failed = await self._cancel_ids(key.product.name, ids)
        done = Counter(ok)  # an id given twice: cancelled once, then finished
        errors: dict[int, list[CeresError]] = {}
        for oid, err in failed:
            errors.setdefault(oid, []).append(err)
        out = []
        for oid in ids:
            if done[oid]:
                done[oid] -= 1
                out.append({"system_oid": str(oid), "code": "0"})
            else:
                err = errors[oid].pop(0)
                out.append({"system_oid": str(oid), "code": err.code, "message": err.message})
        return out

    async def cancel_all(self, key: ApiKey, req: P.CancelAllReq) -> list[dict[str, str]]:
        """Every open order of the product matching the filters; what was cancelled, by id."""
        self._filters(req.exchange, req.contract)
        side = int(enum_value(req.entrust_bs, SIDES, "entrust_bs")) if req.entrust_bs is not None else 0
        product = key.product
        ids = tuple(o.spec.oid for o in controls.cancelable(product, req.exchange or "", req.contract or "", side))
        ok, _ = await self._cancel_ids(product.name, ids) if ids else ([], [])
        return [{"system_oid": str(oid)} for oid in ok]

    async def cancel_all_after(self, key: ApiKey, req: P.CancelAllAfterReq) -> dict[str, str]:
        """The dead-man's switch: armed (or cleared with 0) by a journaled command."""
        if req.exchange is not None:
            self.venues.get(req.exchange)
        deadline = await self.submit(C.CancelAllAfter(key.product.name, req.timeout_ms, req.exchange or ""))
        return {"timeout_ms": str(req.timeout_ms), "deadline": str(deadline) if deadline else ""}

    async def cancel_on_disconnect(self, key: ApiKey, ids: Iterable[int]) -> list[int]:
        """Cancel what is still open of ``ids`` (placed through a connection that closed)."""
        product = key.product
        still = tuple(sorted(oid for oid in ids if self.is_open(key, oid)))
        ok, _ = await self._cancel_ids(product.name, still, DISCONNECT_REASON) if still else ([], [])
        return ok

    def is_open(self, key: ApiKey, oid: int) -> bool:
        order = key.product.open_orders.get(oid) or key.product.live_orders.get(oid)
        return order is not None and order.status in live.CANCELABLE

    async def amend(self, key: ApiKey, req: P.AmendReq) -> dict[str, Any]:
        """A resting order's new price and/or total volume (``engine.amend``); the order after it."""
        (oid,) = parse_ids(req.system_oid, most=1)
        product = key.product
        if req.entrust_price is None and req.entrust_vol is None:
            raise CeresError(ErrorCode.MISSING_FIELD, "entrust_price or entrust_vol is required", "entrust_price")
        order = product.open_orders.get(oid) or product.live_orders.get(oid)  # the engine refuses a live one
        if order is None:
            _, failed = await self._classify(product.name, [oid])
            raise failed[0][1]
        inst = order.spec.inst
        price = inst.price_to_ticks(req.entrust_price) if req.entrust_price is not None else 0
        vol = inst.vol_to_lots(req.entrust_vol) if req.entrust_vol is not None else 0
        try:
            await self.submit(C.Amend(product.name, oid, price, vol))
        except CeresError as exc:
            if exc.error is ErrorCode.ORDER_NOT_FOUND:  # it ended meanwhile
                raise (await self._classify(product.name, [oid]))[1][0][1] from None
            raise
        now = product.open_orders.get(oid) or self.recent.get(product.name, oid)
        if now is None:
            await self.caught_up()
            return (await self.orders(key, P.OrdersReq(system_oid=str(oid))))[0]
        return views.order_object(now, self.tz, False)

    async def _cancel_ids(self, product: str, ids: tuple[int, ...],
                          reason: str = "") -> tuple[list[int], list[tuple[int, CeresError]]]:
        """Cancel ``ids`` (in requests of at most 15, all submitted at once); the ids cancelled,
        and each failure with its error (finished or not found)."""
        chunks = [ids[i:i + MAX_CANCEL_IDS] for i in range(0, len(ids), MAX_CANCEL_IDS)]
        results = await asyncio.gather(*(self.venues.cancel(product, chunk, reason) for chunk in chunks))
        ok = [oid for r in results for oid in r.ok]
        return await self._classify(product, [oid for r in results for oid, _ in r.failed], ok)

    async def _classify(self, product: str, failed_ids: list[int],
                        ok: list[int] | None = None) -> tuple[list[int], list[tuple[int, CeresError]]]:
        """Why orders that are not open could not be acted on: finished (42001, the product's
        order ended) or not found (40403)."""
        if any(self.recent.get(product, oid) is None for oid in failed_ids):
            await self.caught_up()
        failed = []
        for oid in failed_ids:
            finished = self.recent.get(product, oid) is not None or self.history.order_owner(oid) == product
            failed.append((oid, CeresError(ErrorCode.ORDER_FINISHED if finished else ErrorCode.ORDER_NOT_FOUND)))
        return ok or [], failed

    # --- reads ---------------------------------------------------------------------------
    async def pairs(self, key: ApiKey, req: P.PairsReq) -> list[dict[str, str]]:
        venue = self.venues.get(req.exchange)
        if req.contract is not None:
            return [views.pair_object(venue.instrument(req.contract))]
        return [views.pair_object(i) for i in venue.instruments()]

    async def account(self, key: ApiKey, req: P.AccountReq) -> list[dict[str, Any]]:
        venues = [self.venues.get(req.exchange)] if req.exchange is not None else list(self.venues)
        currencies = self.engine.currencies
        base_dec = currencies[self.base_currency]
        rows = []

        def row(account_type: int, venue: str, currency: str, total: int, frozen: int,
                dec: int = -1) -> dict[str, Any]:
            dec = currencies[currency] if dec < 0 else dec
            return views.account_row(account_type, venue, currency, total, frozen, dec,
                                     self._value_in_base(currency, total, dec, base_dec), base_dec)

        if req.exchange is None:
            settlement = key.product.accounts.get(("", SETTLEMENT))
            if settlement is not None:
                rows += [row(SETTLEMENT, "", cur, settlement.balances[cur].total, settlement.balances[cur].frozen)
                         for cur in sorted(settlement.balances)]
        for venue in venues:
            if req.exchange is None and not self._holds(key, venue.exchange):
                continue  # a live venue where the product has no key: nothing to show
            rows += [row(b.account_type, venue.exchange, b.currency, b.total, b.frozen, b.decimals)
                     for b in await venue.balances(key.product.name)]
        return rows

    def _live(self, inst: Instrument) -> bool:
        """A live venue's (or paper) market: fees are in what the order receives."""
        return inst.exchange not in self.engine.exchanges

    def _holds(self, key: ApiKey, exchange: str) -> bool:
        """The product can have balances at ``exchange``: a simulated one, a live one it has a key at,
        or one in paper mode (balances in Ceres' ledger)."""
        return (exchange in self.engine.exchanges or exchange in key.product.venue_keys
                or exchange in self.engine.paper_venues)

    def _value_in_base(self, currency: str, amount: int, decimals: int, base_dec: int) -> int:
        """``amount`` of ``currency`` in base-currency minor units at the last trade price of
        a direct pair (CUR/BASE or BASE/CUR); 0 when no price is known."""
        base = self.base_currency
        if currency == base:
            return amount
        for inst in self._priced:
            if inst.is_contract:
                continue
            if inst.base == currency and inst.quote == base:
                price = self.last_price(inst.exchange, inst.contract)
                if price:
                    # amount/10^dec * price*tick_units/10^pdec, in 10^-base_dec units
                    num = amount * price * inst.tick_units * pow10(base_dec)
                    return num // pow10(decimals + inst.price_decimals)
            if inst.quote == currency and inst.base == base:
                price = self.last_price(inst.exchange, inst.contract)
                if price:
                    num = amount * pow10(base_dec + inst.price_decimals)
                    return num // (price * inst.tick_units * pow10(decimals))
        return 0

    async def orders(self, key: ApiKey, req: P.OrdersReq) -> list[dict[str, Any]]:
        if req.status is not None and req.status not in _STATUSES:
            raise CeresError(ErrorCode.INVALID_VALUE, "unknown status code", "status")
        self._filters(req.exchange, req.contract)
        product = key.product
        if req.system_oid is not None:
            ids = parse_ids(req.system_oid)
            found: dict[int, dict[str, Any]] = {}
            missing = []
            for oid in ids:
                order = product.open_orders.get(oid) or product.live_orders.get(oid)
                if order is not None:
                    found[oid] = views.order_object(order, self.tz, self._live(order.spec.inst))
                elif (ev := self.recent.get(product.name, oid)) is not None:
                    found[oid] = views.order_object(ev, self.tz, self._live(ev.spec.inst))
                else:
                    missing.append(oid)
            if missing:
                await self.caught_up()
                for oid, row in self.history.orders_by_ids(product.name, missing).items():
                    obj = self._row_object(row)
                    if obj is not None:
                        found[oid] = obj
            if not found:
                raise CeresError(ErrorCode.ORDER_NOT_FOUND, "no such order for this api_key", "system_oid")
            out = [found[oid] for oid in ids if oid in found]
            return [o for o in out if _matches(o, req)]
        await self.caught_up()
        rows = self.history.recent_orders(product.name, exchange=req.exchange, contract=req.contract,
                                          status=req.status, limit=self.max_order_query)
        return [obj for obj in map(self._row_object, rows) if obj is not None]

    def _row_object(self, row: OrderRow) -> dict[str, Any] | None:
        # a live venue's market as the journal defined it (its grid may have changed since)
        inst = self.engine.live_instruments.get((row.exchange, row.contract)) or \
            self.venues.find(row.exchange, row.contract)
        if inst is None:  # instrument removed from the config since
            return None
        return views.order_fields(inst, row.oid, row.client_oid, row.side, row.ptype, row.fdir,
                                  row.price, row.vol, row.time_ms, row.lever, row.profit, row.stop,
                                  row.status, row.filled, row.dealt, row.commission, self.tz, row.reason,
                                  self._live(inst))

    async def open_orders(self, key: ApiKey, req: P.OpenOrdersReq) -> dict[str, Any]:
        self._filters(req.exchange, req.contract)
        limit = P.MAX_OPEN_PAGE if req.limit is None else req.limit
        after = parse_ids(req.from_, "from")[0] if req.from_ is not None else 0
        page: list[Order | LiveOrder] = []
        more = False
        orders: Iterable[tuple[int, Order | LiveOrder]] = key.product.open_orders.items()  # insertion = id order
        if key.product.live_orders:
            orders = sorted([*orders, *key.product.live_orders.items()], key=lambda item: item[0])
        for oid, order in orders:
            if oid <= after:
                continue
            inst = order.inst
            if (req.exchange is not None and inst.exchange != req.exchange) or \
               (req.contract is not None and inst.contract != req.contract):
                continue
            if len(page) == limit:
                more = True
                break
            page.append(order)
        return {"orderDetailRes": [views.order_object(o, self.tz, self._live(o.spec.inst)) for o in page],
                "nextFrom": str(page[-1].oid) if more else ""}

    async def positions(self, key: ApiKey, req: P.PositionsReq) -> list[dict[str, str]]:
        self._filters(req.exchange, req.contract)
        side = enum_value(req.position_dir, SIDES, "position_dir") if req.position_dir is not None else None
        venues = [self.venues.get(req.exchange)] if req.exchange is not None else list(self.venues)
        out = []
        for venue in venues:
            for pos in await venue.positions(key.product.name):
                if (req.contract is not None and pos.inst.contract != req.contract) or \
                   (side is not None and pos.side != side):
                    continue
                out.append(views.position_object(pos))
        return out

    async def fills(self, key: ApiKey, req: P.FillsReq) -> list[dict[str, str]]:
        if not 1 <= req.count <= MAX_FILLS:
            raise CeresError(ErrorCode.COUNT_OUT_OF_RANGE, f"count must be 1..{MAX_FILLS}", "count")
        inst = self.venues.instrument(req.exchange, req.contract)
        inst = self.engine.live_instruments.get(inst.key, inst)  # a live market as the journal defined it
        await self.caught_up()
        live = self._live(inst)
        return [views.fill_fields(inst, r.oid, r.tid, r.client_oid, r.side, r.ptype, r.fdir, r.lots,
                                  r.price, r.time_ms, r.fee, self.tz, live)
                for r in self.history.fills(key.product.name, req.exchange, req.contract, req.count)]


def _join_ids(result: int | list[int]) -> str:
    if isinstance(result, list):
        return ",".join(str(i) for i in result)
    return str(result)


def _matches(order: dict[str, Any], req: P.OrdersReq) -> bool:
    if req.status is not None and order["status"] != req.status:
        return False
    return req.contract is None or order["contract"] == req.contract
