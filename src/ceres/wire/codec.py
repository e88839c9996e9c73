"""JSON in and out of every socket (sans-I/O), and the CoinCeres reply envelope.

* ``decode_json_value`` / ``decode_json_object``: bytes -> Python values, keeping each
  JSON number that is not an integer as its literal text (``NumberText``), so signatures
  and decimal fields see exactly what the client sent, within the bounds of
  :mod:`ceres.wire.bounds` (nesting depth, members per object or array, integers of 64
  bits); failures (not UTF-8, not JSON, over a bound) are ``INVALID_JSON``;
* ``encode_json``: compact JSON (msgspec);
* ``ok``/``error``: the envelope ``{"code","data","message"}`` with ``"SUCESS"`` (sic), plus
  ``biz_type`` and the ``req_id`` extension on the WebSocket. This is the one place a
  :class:`~ceres.domain.errors.CeresError` becomes wire bytes.

Used by the trading gateway (REST, 19001, 19003) and by market data (18003, market REST).
"""

from __future__ import annotations

from typing import Any

import msgspec

from ceres.domain.errors import CeresError, ErrorCode
from ceres.wire.bounds import MAX_DEPTH, MAX_INT, MAX_MEMBERS, MIN_INT, check_shape

SUCCESS_MESSAGE = "SUCESS"  # sic: the 2019 protocol's spelling


class NumberText(str):
    """A JSON number kept as its literal text (e.g. ``0.1`` stays ``"0.1"``)."""

    __slots__ = ()


def _number_literal(obj: Any) -> Any:
    """Encoder hook: a NumberText goes out as the number it came in as."""
    if isinstance(obj, NumberText):
        return msgspec.Raw(obj.encode())
    raise NotImplementedError(f"cannot encode {type(obj).__name__}")


_decoder = msgspec.json.Decoder(float_hook=NumberText)
encode_json = msgspec.json.Encoder(enc_hook=_number_literal).encode


def decode_json_value(data: bytes | str, what: str = "message", *, max_depth: int = MAX_DEPTH,
                      max_members: int | None = MAX_MEMBERS) -> Any:
    """Any JSON value (numbers as for ``decode_json_object``) nested at most ``max_depth``
    levels, each object or array with at most ``max_members`` members; INVALID_JSON
    otherwise."""
    try:
        value = _decoder.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise CeresError(ErrorCode.INVALID_JSON, f"{what} is not valid JSON: {exc}") from None
    except RecursionError:  # msgspec's own bound on nesting (about 1,000 levels)
        raise CeresError(ErrorCode.INVALID_JSON, f"{what} is nested more than {max_depth} levels deep") from None
    if type(value) is dict and (max_members is None or len(value) <= max_members):
        for member in value.values():  # the usual request: one flat object, small integers
            kind = type(member)
            if kind is dict or kind is list or (kind is int and not MIN_INT <= member <= MAX_INT):
                break
        else:
            return value
    check_shape(value, what, max_depth, max_members)
    return value


def decode_json_object(data: bytes | str, what: str = "body", *, max_depth: int = MAX_DEPTH,
                       max_members: int | None = MAX_MEMBERS) -> dict[str, Any]:
    obj = decode_json_value(data, what, max_depth=max_depth, max_members=max_members)
    if not isinstance(obj, dict):
        raise CeresError(ErrorCode.INVALID_JSON, f"{what} must be a JSON object")
    return obj


def ok(data: Any, biz_type: int | None = None, req_id: str | None = None) -> bytes:
    env: dict[str, Any] = {"code": "200", "data": data, "message": SUCCESS_MESSAGE}
    if biz_type is not None:
        env["biz_type"] = biz_type
    if req_id is not None:
        env["req_id"] = req_id
    return encode_json(env)


def error(err: CeresError, biz_type: int | None = None, req_id: str | None = None) -> bytes:
    env: dict[str, Any] = {"code": err.code, "data": None, "message": err.message}
    if biz_type is not None:
        env["biz_type"] = biz_type
    if req_id is not None:
        env["req_id"] = req_id
    return encode_json(env)
