"""Wire objects of API.md section 3, built from orders, events and venue views (pure
formatting).

Each function returns exactly the keys API.md lists for that object (the 2019 Java SDK
rejects unknown keys), with decimals as plain strings and ints where API.md says int.
The projection store keeps these same strings, so live and historical answers agree.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Protocol

from ceres.domain.enums import SPOT_FILL_FUTURE_DIR, FutureDir, PriceType, Side
from ceres.domain.events import OrderSpec
from ceres.domain.instruments import Instrument
from ceres.domain.money import format_scaled
from ceres.engine.positions import pnl
from ceres.pipeline.venue import VenuePosition

AVG_EXTRA_DECIMALS = 8


class OrderLike(Protocol):
    """An engine order, an order event or a venue's order state."""

    @property
    def spec(self) -> OrderSpec: ...

    @property
    def status(self) -> int: ...

    @property
    def filled(self) -> int: ...

    @property
    def dealt(self) -> int: ...

    @property
    def commission(self) -> int: ...


def wire_time(ms: int, tz: timezone) -> str:
    """``yyyy-MM-dd HH:mm:ss`` on the configured clock face."""
    return datetime.fromtimestamp(ms / 1000, tz).strftime("%Y-%m-%d %H:%M:%S")


def ratio_price(inst: Instrument, num: int, den: int) -> str:
    """A price of ``num / den`` ticks, rounded half-up to the tick's decimals plus eight,
    trailing zeros stripped; ``"0"`` when ``den`` is 0."""
    if den <= 0:
        return "0"
    scaled = num * inst.tick_units * 10**AVG_EXTRA_DECIMALS
    return format_scaled((2 * scaled + den) // (2 * den), inst.price_decimals + AVG_EXTRA_DECIMALS)


def avg_price(inst: Instrument, dealt: int, filled: int) -> str:
    """Average fill price (``dealt`` = sum of ticks x lots over ``filled`` lots)."""
    return ratio_price(inst, dealt, filled)


def entry_price(inst: Instrument, vol: int, cost: int) -> str:
    """Average entry price of a position from its entry notional ``cost``."""
    if inst.inverse:
        return ratio_price(inst, vol * inst.inv_num, cost * inst.tick_units)
    return ratio_price(inst, cost, vol * inst.notional_mult)


def is_market_buy(inst: Instrument, side: int, ptype: int) -> bool:
    return side == Side.BUY and ptype == PriceType.MARKET and not inst.is_contract


def fee_in_base(inst: Instrument, side: int, ptype: int, live: bool) -> bool:
    """Spot market buys pay fees in the base on TEST; on a live venue (and in paper mode)
    every spot buy does: fees are charged in what the order receives."""
    if live and not inst.is_contract:
        return side == Side.BUY
    return is_market_buy(inst, side, ptype)


def fee_currency(inst: Instrument, side: int, ptype: int, live: bool = False) -> str:
    """The base when ``fee_in_base``; else the settle currency (the quote for spot and linear
    contracts, the coin for inverse ones)."""
    return inst.base if fee_in_base(inst, side, ptype, live) else inst.settle


def fmt_fee(inst: Instrument, side: int, ptype: int, amount: int, live: bool = False) -> str:
    if fee_in_base(inst, side, ptype, live):
        return inst.fmt_base(amount)
    return inst.fmt_settle(amount)


def entrust_amount(inst: Instrument, side: int, ptype: int, vol: int) -> str:
    """A market buy's amount is the quote to spend; everything else is volume."""
    if is_market_buy(inst, side, ptype):
        return inst.fmt_quote(vol)
    return inst.fmt_vol(vol)


def order_fields(inst: Instrument, oid: int, client_oid: str, side: int, ptype: int, fdir: int,
                 price: int, vol: int, time_ms: int, lever: int, profit: int, stop: int,
                 status: int, filled: int, dealt: int, commission: int, tz: timezone,
                 reason: str = "", live: bool = False) -> dict[str, Any]:
    """The order object (API.md section 3) from integer fields; a live venue's refused order
    (status 6) also carries ``error_code`` and ``error_message`` (extension)."""
    spot = not inst.is_contract
    out = {
        "system_oid": str(oid),
        "client_oid": client_oid,
        "contract": inst.contract,
        "entrust_bs": "buy" if side == Side.BUY else "sell",
        "future_dir": FutureDir(fdir).wire,
        "entrust_price": inst.fmt_price(price) if price else "0",
        "entrust_amount": entrust_amount(inst, side, ptype, vol),
        "entrust_time": wire_time(time_ms, tz),
        "average_dealt_price": avg_price(inst, dealt, filled),
        "dealt_amount": inst.fmt_vol(filled),
        "status": int(status),
        "lever": "1" if spot else str(lever),
        "profit_value": "0" if spot or not profit else inst.fmt_price(profit),
        "stop_value": "0" if spot or not stop else inst.fmt_price(stop),
        "commission": fmt_fee(inst, side, ptype, commission, live),
    }
    if reason:
        out.update(refusal(reason))
    return out


def refusal(reason: str) -> dict[str, str]:
    """``error_code`` and ``error_message`` of a refusal reason ``"CODE text"``."""
    code, _, text = reason.partition(" ")
    return {"error_code": code, "error_message": text}


def order_object(order: OrderLike, tz: timezone, live: bool = False) -> dict[str, Any]:
    """The order object of an open order, a cached order event or a venue's order state:
    what the order is (``spec``) and how far it got."""
    o = order.spec
    return order_fields(o.inst, o.oid, o.client_oid, o.side, o.ptype, o.fdir, o.price, o.vol, o.time,
                        o.lever, o.profit, o.stop, order.status, order.filled, order.dealt,
                        order.commission, tz, getattr(order, "reason", ""), live)


def fill_fields(inst: Instrument, oid: int, tid: int, client_oid: str, side: int, ptype: int,
                fdir: int, lots: int, price: int, time_ms: int, fee: int, tz: timezone,
                live: bool = False) -> dict[str, Any]:
    """The fill object (API.md section 3); spot fills carry the original's literal
    ``future_dir``."""
    return {
        "system_oid": str(oid),
        "system_tid": str(tid),
        "client_oid": client_oid,
        "contract": inst.contract,
        "entrust_bs": "buy" if side == Side.BUY else "sell",
        "future_dir": FutureDir(fdir).wire if inst.is_contract else SPOT_FILL_FUTURE_DIR,
        "dealt_amount": inst.fmt_vol(lots),
        "dealt_price": inst.fmt_price(price),
        "dealt_time": wire_time(time_ms, tz),
        "commission": fmt_fee(inst, side, ptype, fee, live),
        "commission_currency": fee_currency(inst, side, ptype, live),
    }


def position_object(pos: VenuePosition) -> dict[str, str]:
    """The position object (API.md section 3). ``position_value`` and ``position_profit``
    are at the mark price (entry notional and 0 when no mark is known yet)."""
    inst = pos.inst
    mark = pos.mark
    value = inst.notional(pos.vol, mark) if mark else pos.cost
    profit = pnl(inst, pos.side, pos.cost, value) if mark else 0
    return {
        "dealId": str(pos.deal_id),
        "exchange": inst.exchange,
        "contract": inst.contract,
        "position_dir": "buy" if pos.side == Side.BUY else "sell",
        "vol": inst.fmt_vol(pos.vol),
        "margin": inst.fmt_settle(pos.margin),
        "open_price": entry_price(inst, pos.vol, pos.cost),
        "position_value": inst.fmt_settle(value),
        "force_price": inst.fmt_price(pos.force) if pos.force else "0",
        "lever": str(pos.lever),
        "close_profit": inst.fmt_settle(pos.realized),
        "position_profit": inst.fmt_settle(profit),
    }


def pair_object(inst: Instrument) -> dict[str, Any]:
    return {
        "contract": inst.contract,
        "exchange": inst.exchange,
        "kind": str(int(inst.kind)),
        "tick_size": inst.tick_size,
        "volume_increment": inst.volume_increment,
        "min_price": inst.min_price,
        "min_volume": inst.min_volume,
        "min_change": inst.tick_size,
    }


def account_row(account_type: int, venue: str, currency: str, total: int, frozen: int,
                decimals: int, market_value: int, base_decimals: int) -> dict[str, Any]:
    row = {
        "account_type": int(account_type),
        "balance": format_scaled(total, decimals),
        "currency": currency,
        "frozen": format_scaled(frozen, decimals),
        "market_value": format_scaled(market_value, base_decimals),
    }
    if account_type in (3, 4):
        row["exchange"] = venue
    return row
