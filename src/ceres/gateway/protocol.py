"""Trading requests (sans-I/O): what REST and the biz_type WebSocket accept.

* ``sign_params``: the ``(key, value)`` pairs a REST signature covers;
* request Structs (msgspec) per operation and ``parse_request`` that validates a dict
  into one, naming the offending field in every error; every text field is bounded
  (``MAX_TEXT`` characters, ``MAX_ID_LIST`` for comma-separated ids: FIELD_TOO_LONG),
  every integer field is a JSON integer or at most 18 digits (INVALID_TYPE), and the
  requests' own ranges are checked before permissions and lookups;
* ``parse_req_id``: the WebSocket's ``req_id`` extension.

JSON decoding and the reply envelope are in :mod:`ceres.wire.codec`.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any

import msgspec
import msgspec.inspect as mi

from ceres.domain.errors import CeresError, ErrorCode
from ceres.wire.bounds import bad_query_param
from ceres.wire.codec import NumberText, encode_json

MAX_REQ_ID = 64
MAX_OPEN_PAGE = 100
MAX_TEXT = 64
"""Characters of a text field (exchange, contract, decimals, client_oid, ...)."""
MAX_ID_LIST = 512
"""Characters of a comma-separated id list (15 ids of 19 digits fit with room for spaces)."""
MAX_INT_DIGITS = 18
"""Digits of an integer field sent as a string (``count``, ``limit``, ``status``)."""

MAX_BATCH_PLACE = 20
MAX_BATCH_CANCEL = 100
MAX_BATCH_ID_LIST = 2048
"""Characters of a batch cancel's id list (100 ids of 19 digits with separators)."""

Text = Annotated[str, msgspec.Meta(max_length=MAX_TEXT)]
IdList = Annotated[str, msgspec.Meta(max_length=MAX_ID_LIST)]
BatchIdList = Annotated[str, msgspec.Meta(max_length=MAX_BATCH_ID_LIST)]


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


def check_query_text(raw_query: str) -> None:
    """INVALID_VALUE naming the first query parameter whose percent escapes are not UTF-8
    (it could not be signed or read as the client meant it)."""
    name = bad_query_param(raw_query)
    if name is not None:
        raise CeresError(ErrorCode.INVALID_VALUE, "not UTF-8 text (after percent-decoding)", name)


# --- requests ------------------------------------------------------------------------------
class Request(msgspec.Struct, kw_only=True, frozen=True):
    """Base: every request may carry ``timestamp`` (signed, checked by auth)."""

    timestamp: Text | None = None

    def check(self) -> None:
        """Range checks of a request's own fields (before permissions and lookups)."""


class PlaceReq(Request, frozen=True):
    exchange: Text
    contract: Text
    price_type: Text
    entrust_vol: Text
    entrust_bs: Text
    entrust_price: Text | None = None
    future_dir: Text | None = None
    lever: Text | None = None
    profit_value: Text | None = None
    stop_value: Text | None = None
    client_oid: Text | None = None
    deal_id: IdList | None = None
    close_rule: Text | None = None
    time_in_force: Text | None = None
    post_only: Text | bool | None = None
    stp: Text | None = None


class BatchPlaceReq(Request, frozen=True):
    orders: list[Any]

    def check(self) -> None:
        if not self.orders:
            raise CeresError(ErrorCode.MISSING_FIELD, "at least one order", "orders")
        if len(self.orders) > MAX_BATCH_PLACE:
            raise CeresError(ErrorCode.BATCH_TOO_LARGE, f"at most {MAX_BATCH_PLACE} orders, got {len(self.orders)}",
                             "orders")


class BatchCancelReq(Request, frozen=True):
    system_oid: BatchIdList


class CancelAllReq(Request, frozen=True):
    exchange: Text | None = None
    contract: Text | None = None
    entrust_bs: Text | None = None


class AmendReq(Request, frozen=True):
    system_oid: IdList
    entrust_price: Text | None = None
    entrust_vol: Text | None = None


class CancelAllAfterReq(Request, frozen=True):
    timeout_ms: int
    exchange: Text | None = None


class CancelReq(Request, frozen=True):
    system_oid: IdList


class PairsReq(Request, frozen=True):
    exchange: Text
    contract: Text | None = None


class AccountReq(Request, frozen=True):
    exchange: Text | None = None


class OrdersReq(Request, frozen=True):
    system_oid: IdList | None = None
    status: int | None = None
    exchange: Text | None = None
    contract: Text | None = None


class OpenOrdersReq(Request, frozen=True):
    exchange: Text | None = None
    contract: Text | None = None
    from_: IdList | None = msgspec.field(default=None, name="from")
    limit: int | None = None

    def check(self) -> None:
        if self.limit is not None and not 1 <= self.limit <= MAX_OPEN_PAGE:
            raise CeresError(ErrorCode.COUNT_OUT_OF_RANGE, f"limit must be 1..{MAX_OPEN_PAGE}", "limit")


class PositionsReq(Request, frozen=True):
    exchange: Text | None = None
    contract: Text | None = None
    position_dir: Text | None = None


class FillsReq(Request, frozen=True):
    exchange: Text
    contract: Text
    count: int


ALIASES = {"system_oid": "systemOid", "position_dir": "positionDir"}  # Java SDK names


@functools.cache
def _fields(cls: type[Request]) -> tuple[tuple[str, bool, bool, int | None, tuple[type, ...]], ...]:
    """(wire name, required, is_int, max_length of a text field, other JSON types it takes) per field."""
    out = []
    for f in mi.type_info(cls).fields:  # type: ignore[attr-defined]
        types = f.type.types if isinstance(f.type, mi.UnionType) else (f.type,)
        is_int = any(isinstance(t, mi.IntType) for t in types)
        max_len = next((t.max_length for t in types if isinstance(t, mi.StrType)), None)
        others = tuple(py for t, py in ((mi.BoolType, bool), (mi.ListType, list))
                       if any(isinstance(x, t) for x in types))
        out.append((f.encode_name, f.required, is_int, max_len, others))
    return tuple(out)


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
    stand for ``system_oid``/``position_dir`` (both given, they must be equal). Errors:
    MISSING_FIELD / INVALID_TYPE / INVALID_VALUE naming the field.

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
    for name, required, is_int, max_len, others in _fields(cls):
        raw = obj.get(name)
        if name in ALIASES:
            alias = obj.get(ALIASES[name])
            if raw is None or raw == "":
                raw = alias
            elif alias is not None and alias != "" and alias != raw:
                raise CeresError(ErrorCode.INVALID_VALUE, f"{name} and {ALIASES[name]} differ; send one", name)
        if raw is None or raw == "":
            if required:
                raise CeresError(ErrorCode.MISSING_FIELD, f"{name} is required", name)
            continue
        if is_int:
            digits = raw[1:] if isinstance(raw, str) and raw.startswith("-") else raw
            if isinstance(digits, str) and digits.isascii() and digits.isdigit() and len(raw) <= MAX_INT_DIGITS:
                raw = int(raw)
            elif isinstance(raw, bool) or not isinstance(raw, int) or isinstance(raw, NumberText):
                raise CeresError(ErrorCode.INVALID_TYPE, "must be an integer", name)
        elif others and isinstance(raw, others):
            pass
        elif list in others:
            raise CeresError(ErrorCode.INVALID_TYPE, "must be an array", name)
        else:
            raw = _normalize(raw)
            if not isinstance(raw, str):
                raise CeresError(ErrorCode.INVALID_TYPE, "must be a string", name)
            if max_len is not None and len(raw) > max_len:
                raise CeresError(ErrorCode.FIELD_TOO_LONG, f"at most {max_len} characters", name)
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
