"""A live venue's markets as Ceres instruments (``basic/contracts`` / biz 13).

ccxt's unified market (``number=str``: precisions and limits as decimal strings, e.g.
Binance ``"0.01000000"``) becomes an :class:`~ceres.domain.instruments.Instrument` on the
venue's own grid: ``tick_size`` its price precision, ``volume_increment`` its amount
precision, ``min_volume`` its minimum amount (else one step), ``min_price`` its minimum
price (else one tick). Currency decimals are what that grid needs (at least 8), so every
price x volume is exact. Spot markets, and linear perpetuals (``swap`` + ``linear``: kind 3,
``contract_value`` ccxt's ``contractSize``, ``max_lever`` the venue's maximum capped at
Ceres' 100, ``maint_margin`` the venue's rate when ccxt has it, else ``MAINT_DEFAULT`` — the
venue liquidates, Ceres does not use it). A market ccxt marks inactive, any other kind, or a
market whose precision is not a step size (Bitfinex counts significant digits), is left out.
"""

from __future__ import annotations

import logging
from decimal import Decimal, InvalidOperation
from typing import Any

from ceres.domain.enums import Kind
from ceres.domain.instruments import Instrument

log = logging.getLogger("ceres.venues")
MIN_DECIMALS = 8
MAX_LEVER = 100
MAINT_DEFAULT = "0.005"


def plain(value: Any) -> str | None:
    """A positive decimal string without exponent or trailing zeros (``"0.01000000"`` ->
    ``"0.01"``), or None when ``value`` is missing, zero or not a number."""
    if value is None or isinstance(value, bool):
        return None
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        return None
    if not d.is_finite() or d <= 0:
        return None
    text = format(d.normalize(), "f")
    return text


def _decimals(text: str) -> int:
    return len(text.partition(".")[2])


TICK_SIZE = 4  # ccxt.base.decimal_to_precision: precisions are step sizes (Binance, OKX, HTX)
SIGNIFICANT_DIGITS = 3  # precisions are digit counts (Bitfinex: price 5 significant, amount 8 decimals)
SIGNIFICANT_TICK = "0.00000001"  # Bitfinex: "up to 5 significant digits and up to 8 decimals"


def instrument_of(exchange: str, market: dict[str, Any], precision_mode: int = TICK_SIZE) -> Instrument | None:
    """The market on its grid; None for what Ceres cannot trade as given: neither spot nor a
    linear perpetual, inactive, or a venue whose prices are rounded to significant digits
    rather than to a step (Bitfinex: no fixed tick, so no integer grid)."""
    perpetual = bool(market.get("swap") and market.get("linear"))
    if precision_mode not in (TICK_SIZE, SIGNIFICANT_DIGITS) or not (market.get("spot") or perpetual) \
            or market.get("active") is False:
        return None
    precision, limits = market.get("precision") or {}, market.get("limits") or {}
    significant = 0
    tick: str | None
    step: str | None
    if precision_mode == SIGNIFICANT_DIGITS:  # a fixed 8-decimal grid, plus the cap on digits
        try:
            significant, places = int(Decimal(str(precision.get("price")))), int(Decimal(str(precision.get("amount"))))
        except (InvalidOperation, TypeError, ValueError):
            return None
        tick, step = SIGNIFICANT_TICK, plain(Decimal(1).scaleb(-places))
    else:
        tick, step = plain(precision.get("price")), plain(precision.get("amount"))
    if tick is None or step is None:
        return None
    min_vol = plain((limits.get("amount") or {}).get("min")) or step
    min_price = plain((limits.get("price") or {}).get("min")) or tick
    vol_dec, price_dec = _decimals(step), _decimals(tick)
    terms: dict[str, Any] = {"price_significant": significant} if significant else {}
    if perpetual:
        value = plain(market.get("contractSize")) or "1"
        lever = (limits.get("leverage") or {}).get("max")
        terms = {"contract_value": value,
                 "max_lever": min(MAX_LEVER, int(Decimal(str(lever)))) if plain(lever) else MAX_LEVER,
                 "maint_margin": plain(market.get("maintenanceMarginRate")) or MAINT_DEFAULT}
    try:
        return Instrument(exchange, market["symbol"], Kind.PERPETUAL if perpetual else Kind.SPOT, market["base"],
                          market["quote"], tick, step, min_price, min_vol, plain(market.get("maker")) or "0",
                          plain(market.get("taker")) or "0", max(vol_dec, MIN_DECIMALS),
                          max(price_dec + vol_dec + _decimals(str(terms.get("contract_value", "1"))), MIN_DECIMALS),
                          **terms)
    except (ValueError, KeyError, InvalidOperation) as exc:  # a limit off the venue's own grid: not tradable
        log.warning("%s %s left out: %s", exchange, market.get("symbol"), exc)
        return None


def balance_units(value: Any) -> tuple[int, int]:
    """A balance string as (minor units, decimals): ``"0.5"`` -> (5, 1); missing -> (0, 0)."""
    text = plain(value)
    if text is None:
        return 0, 0
    whole, _, frac = text.partition(".")
    return int(whole + frac), len(frac)
