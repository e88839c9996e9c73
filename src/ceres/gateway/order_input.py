"""What a place request becomes: the enumerations of the wire (side, price type, future_dir,
close_rule, time in force, self-trade prevention), order id lists, and ``place_command``,
the exact conversion of a validated request into an engine ``Place`` (shared by place,
close and every item of a batch)."""

from __future__ import annotations

from typing import Any

from ceres.domain import commands as C
from ceres.domain.enums import CloseRule, FutureDir, PriceType, SelfTradePrevention, Side, TimeInForce
from ceres.domain.errors import CeresError, ErrorCode
from ceres.domain.instruments import Instrument
from ceres.domain.money import parse_decimal, to_scaled
from ceres.engine.core import MAX_CANCEL_IDS, MAX_CLIENT_OID
from ceres.engine.ledger import ApiKey
from ceres.gateway import protocol as P

SIDES = {"buy": Side.BUY, "sell": Side.SELL}
_PRICE_TYPES = {"limit": PriceType.LIMIT, "market": PriceType.MARKET}
_FUTURE_DIRS = {"open": FutureDir.OPEN, "close": FutureDir.CLOSE}
_CLOSE_RULES = {"time": CloseRule.TIME, "1": CloseRule.TIME, "risk": CloseRule.RISK, "2": CloseRule.RISK}
_TIFS = {"gtc": TimeInForce.GTC, "ioc": TimeInForce.IOC, "fok": TimeInForce.FOK}
_STPS = {m.wire: m for m in SelfTradePrevention}
_BOOLS = {"true": True, "false": False}


def enum_value(value: str, table: dict[str, Any], field: str) -> Any:
    found = table.get(value)
    if found is not None:
        return found
    found = table.get(value.lower())
    if found is None:
        raise CeresError(ErrorCode.INVALID_VALUE, f"must be one of {', '.join(table)}", field)
    return found


def _choice(value: str, table: dict[str, Any], field: str) -> Any:
    """A value of ``table`` named in any ASCII letter case."""
    found = table.get(value.lower()) if value.isascii() else None
    if found is None:
        raise CeresError(ErrorCode.INVALID_VALUE, f"must be one of {', '.join(table)}", field)
    return found


def _lifetime(req: P.PlaceReq, ptype: PriceType) -> int:
    """The command's time in force from ``time_in_force`` and ``post_only`` (0: the default)."""
    tif = int(_choice(req.time_in_force, _TIFS, "time_in_force")) if req.time_in_force is not None else 0
    post = req.post_only
    if isinstance(post, str):
        post = _BOOLS.get(post)
        if post is None:
            raise CeresError(ErrorCode.INVALID_VALUE, "must be true or false", "post_only")
    if post:
        if ptype != PriceType.LIMIT or tif not in (0, TimeInForce.GTC):
            raise CeresError(ErrorCode.INVALID_VALUE, "only a GTC limit order can be post-only", "post_only")
        return int(TimeInForce.POST_ONLY)
    return tif


def _trigger_price(inst: Instrument, text: str | None, field: str) -> int:
    """A TP/SL price in ticks; absent or zero ("0", "0.0") means none."""
    if text is None or parse_decimal(text, field)[0] == 0:
        return 0
    return inst.price_to_ticks(text, field)


MAX_ORDER_ID = 2**63 - 1
"""Order ids are signed 64-bit integers (the history store's key)."""


def parse_ids(text: str, field: str = "system_oid", most: int = MAX_CANCEL_IDS,
              too_many: ErrorCode = ErrorCode.TOO_MANY_IDS) -> tuple[int, ...]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise CeresError(ErrorCode.MISSING_FIELD, "at least one id", field)
    if len(parts) > most:
        raise CeresError(too_many, f"at most {most} ids, got {len(parts)}", field)
    ids = []
    for p in parts:
        if not (p.isascii() and p.isdigit() and len(p) <= 19 and int(p) <= MAX_ORDER_ID):
            raise CeresError(ErrorCode.INVALID_VALUE, f"{p[:40]!r} is not an order id", field)
        ids.append(int(p))
    return tuple(ids)


def place_command(inst: Instrument, key: ApiKey, req: P.PlaceReq, *, closing: bool = False) -> C.Place:
    """Convert a validated request for ``inst`` into an engine command (exact grid conversion;
    the new fields of issue 13: ``time_in_force``/``post_only`` as the time in force, ``stp``
    or the key's default)."""
    side = enum_value(req.entrust_bs, SIDES, "entrust_bs")
    ptype = enum_value(req.price_type, _PRICE_TYPES, "price_type")
    if ptype == PriceType.LIMIT:
        if req.entrust_price is None:
            raise CeresError(ErrorCode.MISSING_FIELD, "entrust_price is required for limit orders",
                             "entrust_price")
        price = inst.price_to_ticks(req.entrust_price)
    else:
        price = 0
    if ptype == PriceType.MARKET and side == Side.BUY and not inst.is_contract:
        vol = to_scaled(req.entrust_vol, inst.quote_decimals, "entrust_vol", ErrorCode.AMOUNT_OFF_GRID)
    else:
        vol = inst.vol_to_lots(req.entrust_vol)
    client_oid = req.client_oid or ""
    if len(client_oid) > MAX_CLIENT_OID:
        raise CeresError(ErrorCode.FIELD_TOO_LONG, f"at most {MAX_CLIENT_OID} characters", "client_oid")
    fdir, lever, profit, stop, deal_id, close_rule = 0, 1, 0, 0, 0, 0
    if inst.is_contract:
        fdir = FutureDir.CLOSE if closing else enum_value(req.future_dir or "", _FUTURE_DIRS, "future_dir")
        if req.lever is not None:
            if not (req.lever.isascii() and req.lever.isdigit() and len(req.lever) <= 4):
                raise CeresError(ErrorCode.LEVER_OUT_OF_RANGE, "must be a whole number", "lever")
            lever = int(req.lever)
        profit = _trigger_price(inst, req.profit_value, "profit_value")
        stop = _trigger_price(inst, req.stop_value, "stop_value")
        if req.deal_id is not None:
            deal_id = parse_ids(req.deal_id, "deal_id")[0]
        if req.close_rule is not None:
            close_rule = enum_value(req.close_rule, _CLOSE_RULES, "close_rule")
    elif closing:
        raise CeresError(ErrorCode.NOT_A_CONTRACT, f"{inst.contract} is a spot pair", "contract")
    stp = int(_choice(req.stp, _STPS, "stp")) if req.stp is not None else key.stp
    return C.Place(key.product.name, inst.exchange, inst.contract, int(side), int(ptype), price,
                   vol, client_oid, int(fdir), lever, profit, stop, deal_id, int(close_rule),
                   _lifetime(req, ptype), stp)
