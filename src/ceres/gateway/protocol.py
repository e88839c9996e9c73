"""Trading requests (sans-I/O): what REST and the biz_type WebSocket accept.

* ``sign_params``: the ``(key, value)`` pairs a REST signature covers;
* request Structs (msgspec) per operation and ``parse_request`` that validates a dict
  into one, naming the offending field in every error;
* ``parse_req_id``: the WebSocket's ``req_id`` extension.

JSON decoding and the reply envelope are in :mod:`ceres.wire.codec`.
"""

from __future__ import annotations

import functools
from typing import Any

import msgspec

from ceres.domain.errors import CeresError, ErrorCode
from ceres.wire.codec import NumberText, encode_json

MAX_REQ_ID = 64
MAX_OPEN_PAGE = 100


def param_text(value: Any) -> str | None:
    """How a JSON value appears in the string to sign (None = dropped)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int)):
        return str(value)
    return encode_json(value).decode()


def sign_params(obj: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(k, param_text(v)) for k, v in obj.items()]


# --- requests ------------------------------------------------------------------------------
class Request(msgspec.Struct, kw_only=True, frozen=True):
    """Base: every request may carry ``timestamp`` (signed, checked by auth)."""

    timestamp: str | None = None

    def check(self) -> None:
        """Range checks of a request's own fields (before permissions and lookups)."""


class PlaceReq(Request, frozen=True):
    exchange: str
    contract: str
    price_type: str
    entrust_vol: str
    entrust_bs: str
    entrust_price: str | None = None
    future_dir: str | None = None
    lever: str | None = None
    profit_value: str | None = None
    stop_value: str | None = None
    client_oid: str | None = None
    deal_id: str | None = None
    close_rule: str | None = None


class CancelReq(Request, frozen=True):
    system_oid: str


class PairsReq(Request, frozen=True):
    exchange: str
    contract: str | None = None


class AccountReq(Request, frozen=True):
    exchange: str | None = None


class OrdersReq(Request, frozen=True):
    system_oid: str | None = None
    status: int | None = None
    exchange: str | None = None
    contract: str | None = None


class OpenOrdersReq(Request, frozen=True):
    exchange: str | None = None
    contract: str | None = None
    from_: str | None = msgspec.field(default=None, name="from")
    limit: int | None = None

    def check(self) -> None:
        if self.limit is not None and not 1 <= self.limit <= MAX_OPEN_PAGE:
            raise CeresError(ErrorCode.COUNT_OUT_OF_RANGE, f"limit must be 1..{MAX_OPEN_PAGE}", "limit")


class PositionsReq(Request, frozen=True):
    exchange: str | None = None
    contract: str | None = None
    position_dir: str | None = None


class FillsReq(Request, frozen=True):
    exchange: str
    contract: str
    count: int


ALIASES = {"system_oid": "systemOid", "position_dir": "positionDir"}  # Java SDK names


@functools.cache
def _fields(cls: type[Request]) -> tuple[tuple[str, bool, bool], ...]:
    """(wire name, required, is_int) per field."""
    return tuple((f.encode_name, f.required, f.type is int or f.type == (int | None))
                 for f in msgspec.structs.fields(cls))


def _normalize(value: Any) -> Any:
    """Numbers arrive as int or NumberText; str-typed fields take their literal text."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, NumberText)):
        return str(value)
    return value


def parse_request(cls: type[Request], obj: dict[str, Any]) -> Request:
    """Validate ``obj`` into ``cls``. Unknown keys are ignored (the Java SDK sends extras);
    empty strings count as absent; JSON numbers are accepted for string fields (as their
    literal text) and numeric strings for integer fields; ``systemOid``/``positionDir``
    stand for ``system_oid``/``position_dir``. Errors: MISSING_FIELD / INVALID_TYPE naming
    the field.

    Fast path: a well-formed request converts in C (msgspec); anything unusual (aliases,
    empty strings, non-integer numbers, errors) takes the field-by-field path, which also
    produces the precise error and turns numbers into plain strings. Then the request's own range checks (``check``)."""
    values = obj.values()
    if "" not in values and not _ALIAS_KEYS.intersection(obj) and NumberText not in map(type, values):
        try:
            req = msgspec.convert(obj, cls)
        except msgspec.ValidationError:
            req = _parse_slow(cls, obj)
    else:
        req = _parse_slow(cls, obj)
    if cls.check is not Request.check:
        req.check()
    return req


_ALIAS_KEYS = frozenset(ALIASES.values())


def _parse_slow(cls: type[Request], obj: dict[str, Any]) -> Request:
    values: dict[str, Any] = {}
    for name, required, is_int in _fields(cls):
        raw = obj.get(name)
        if raw is None and name in ALIASES:
            raw = obj.get(ALIASES[name])
        if raw is None or raw == "":
            if required:
                raise CeresError(ErrorCode.MISSING_FIELD, f"{name} is required", name)
            continue
        if is_int:
            digits = raw[1:] if isinstance(raw, str) and raw.startswith("-") else raw
            if isinstance(digits, str) and digits.isascii() and digits.isdigit() and len(raw) <= 18:
                raw = int(raw)
            elif isinstance(raw, bool) or not isinstance(raw, int) or isinstance(raw, NumberText):
                raise CeresError(ErrorCode.INVALID_TYPE, "must be an integer", name)
        else:
            raw = _normalize(raw)
            if not isinstance(raw, str):
                raise CeresError(ErrorCode.INVALID_TYPE, "must be a string", name)
        values[name] = raw
    return msgspec.convert(values, cls)


def parse_req_id(obj: dict[str, Any]) -> str | None:
    req_id = obj.get("req_id")
    if req_id is None:
        return None
    if isinstance(req_id, bool) or not isinstance(req_id, (str, int)):
        raise CeresError(ErrorCode.INVALID_TYPE, "must be a string", "req_id")
    req_id = str(req_id)
    if len(req_id) > MAX_REQ_ID:
        raise CeresError(ErrorCode.FIELD_TOO_LONG, f"at most {MAX_REQ_ID} characters", "req_id")
    return req_id
