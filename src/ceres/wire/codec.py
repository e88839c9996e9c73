"""JSON in and out of every socket (sans-I/O), and the CoinCeres reply envelope.

* ``decode_json_value`` / ``decode_json_object``: bytes -> Python values, keeping each
  JSON number that is not an integer as its literal text (``NumberText``), so signatures
  and decimal fields see exactly what the client sent; failures are ``INVALID_JSON``;
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


def decode_json_value(data: bytes | str, what: str = "message") -> Any:
    """Any JSON value (numbers as for ``decode_json_object``); INVALID_JSON on failure."""
    try:
        return _decoder.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise CeresError(ErrorCode.INVALID_JSON, f"{what} is not valid JSON: {exc}") from None


def decode_json_object(data: bytes | str, what: str = "body") -> dict[str, Any]:
    obj = decode_json_value(data, what)
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
