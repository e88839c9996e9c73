"""Linear perpetuals at a live venue (Binance USDT-M through ccxt), the venue side.

* Hedge mode: a product's first contract order makes sure its account holds long and short
  positions apart (``set_position_mode(True)``; "no need to change" is fine), and each order
  carries ``positionSide`` (LONG for opening buys and closing sells, SHORT otherwise).
* Leverage is the venue's per market and account: before an opening order whose ``lever``
  differs from what Ceres last set there for the product, ``set_leverage``.
* ``trade/position`` (biz 16) answers from Ceres' records (``engine.live_positions``), with the
  venue's mark and liquidation prices added when it answers (``fetch_positions``); without
  them the position shows its entry value and no PnL, as on TEST before a mark exists.
"""

from __future__ import annotations

import logging
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any

import ccxt.async_support as ccxt_async  # type: ignore[import-untyped]

from ceres.domain.enums import FutureDir, Side
from ceres.domain.events import OrderSpec
from ceres.domain.instruments import Instrument
from ceres.engine.live_positions import LivePosition
from ceres.pipeline.venue import VenuePosition

log = logging.getLogger("ceres.venues")


def position_side(spec: OrderSpec) -> str:
    long = (spec.side == Side.BUY) == (spec.fdir == FutureDir.OPEN)
    return "LONG" if long else "SHORT"


def ticks(inst: Instrument, value: Any) -> int | None:
    """A venue price in ticks (floored), None when missing or not positive."""
    try:
        d = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    if not d.is_finite() or d <= 0:
        return None
    return int((d * (Decimal(10) ** inst.price_decimals) / inst.tick_units).to_integral_value(ROUND_FLOOR))


class Leverage:
    """What Ceres has set at the venue, per product: hedge mode, and each market's leverage."""

    def __init__(self) -> None:
        self._hedged: set[str] = set()
        self._lever: dict[tuple[str, str], int] = {}

    async def prepare(self, client: Any, product: str, spec: OrderSpec, call: Any) -> None:
        """Raise ccxt's error when the venue refuses (the order is then not sent)."""
        if product not in self._hedged:
            try:
                await call(client.set_position_mode(True, spec.inst.contract, {"type": "swap", "subType": "linear"}))
            except ccxt_async.BaseError as exc:
                if "-4059" not in str(exc) and "No need to change" not in str(exc):
                    raise
            self._hedged.add(product)
        key = (product, spec.inst.contract)
        if spec.fdir == FutureDir.OPEN and self._lever.get(key) != spec.lever:
            await call(client.set_leverage(spec.lever, spec.inst.contract))
            self._lever[key] = spec.lever

    def forget(self, product: str) -> None:
        """The product's key changed: ask again."""
        self._hedged.discard(product)
        for key in [k for k in self._lever if k[0] == product]:
            del self._lever[key]


def view(pos: LivePosition, venue_rows: list[dict[str, Any]]) -> VenuePosition:
    """A recorded position with the venue's mark and liquidation price for its side, if any."""
    inst = pos.inst
    side = "long" if pos.side == Side.BUY else "short"
    row = next((r for r in venue_rows if r.get("symbol") == inst.contract and r.get("side") == side), None)
    mark = ticks(inst, row.get("markPrice")) if row else None
    force = ticks(inst, row.get("liquidationPrice")) if row else None
    return VenuePosition(pos.deal_id, inst, pos.side, pos.vol, pos.cost, pos.margin, force or 0, pos.lever,
                         pos.realized, mark)
