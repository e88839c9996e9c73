"""Request validation (``parse_request``), the ``req_id`` extension and the pairs a REST
signature covers (``sign_params``): docs/API.md section 3 input rules."""

from __future__ import annotations

import pytest

from ceres.domain.errors import CeresError, ErrorCode
from ceres.gateway import protocol as P
from ceres.wire.codec import NumberText, decode_json_object

PLACE = {"exchange": "TEST", "contract": "BTC/USDT", "price_type": "limit", "entrust_vol": "0.5",
         "entrust_bs": "buy", "entrust_price": "30000"}


def error_of(cls: type[P.Request], obj: dict) -> CeresError:
    with pytest.raises(CeresError) as info:
        P.parse_request(cls, obj)
    return info.value


@pytest.mark.parametrize(("cls", "obj"), [
    (P.PlaceReq, {**PLACE, "client_oid": "c1", "lever": "5", "timestamp": "1700000000000"}),
    (P.FillsReq, {"exchange": "TEST", "contract": "BTC/USDT", "count": 7}),
    (P.OpenOrdersReq, {"from": "1179500000000000000", "limit": 3}),
    (P.OrdersReq, {"system_oid": "1,2", "status": 3}),
])
def test_fast_and_slow_paths_agree(cls, obj):
    fast = P.parse_request(cls, obj)
    assert fast == P._parse_slow(cls, obj)
    # any empty value (here under an unknown key) sends a request down the slow path
    assert P.parse_request(cls, {**obj, "unused": ""}) == fast


def test_open_orders_from_is_the_wire_name():
    assert P.parse_request(P.OpenOrdersReq, {"from": "42"}).from_ == "42"


@pytest.mark.parametrize("missing", ["exchange", "contract", "price_type", "entrust_vol", "entrust_bs"])
def test_missing_required_field_is_named(missing):
    err = error_of(P.PlaceReq, {k: v for k, v in PLACE.items() if k != missing})
    assert (err.error, err.field) == (ErrorCode.MISSING_FIELD, missing)
    assert err.code == "40004" and missing in err.message


def test_empty_string_counts_as_absent():
    err = error_of(P.PlaceReq, {**PLACE, "entrust_vol": ""})
    assert (err.error, err.field) == (ErrorCode.MISSING_FIELD, "entrust_vol")
    assert P.parse_request(P.PlaceReq, {**PLACE, "client_oid": "", "lever": ""}).client_oid is None
    assert P.parse_request(P.FillsReq, {"exchange": "TEST", "contract": "X", "count": 1, "timestamp": ""}) \
        .timestamp is None


@pytest.mark.parametrize(("cls", "obj", "field"), [
    (P.PlaceReq, {**PLACE, "entrust_vol": True}, "entrust_vol"),
    (P.PlaceReq, {**PLACE, "entrust_bs": ["buy"]}, "entrust_bs"),
    (P.PlaceReq, {**PLACE, "client_oid": {"a": 1}}, "client_oid"),
    (P.FillsReq, {"exchange": "TEST", "contract": "X", "count": "ten"}, "count"),
    (P.FillsReq, {"exchange": "TEST", "contract": "X", "count": True}, "count"),
    (P.OrdersReq, {"status": NumberText("3.5")}, "status"),
    (P.OrdersReq, {"status": "3.0"}, "status"),
])
def test_wrong_type_is_named(cls, obj, field):
    err = error_of(cls, obj)
    assert (err.error, err.field) == (ErrorCode.INVALID_TYPE, field)


def test_json_numbers_keep_their_literal_text():
    body = b'{"exchange":"TEST","contract":"BTC/USDT","price_type":"limit","entrust_bs":"buy",' \
           b'"entrust_price": 0.10, "entrust_vol": 2, "lever": 10}'
    req = P.parse_request(P.PlaceReq, decode_json_object(body))
    assert (req.entrust_price, req.entrust_vol, req.lever) == ("0.10", "2", "10")
    assert all(type(v) is str for v in (req.entrust_vol, req.lever))


def test_numeric_strings_are_accepted_for_integers():
    req = P.parse_request(P.FillsReq, {"exchange": "TEST", "contract": "X", "count": "20"})
    assert req.count == 20
    assert P.parse_request(P.OpenOrdersReq, {"limit": "100"}).limit == 100
    assert P.parse_request(P.OrdersReq, {"status": "15"}).status == 15


def test_java_sdk_aliases():
    assert P.parse_request(P.CancelReq, {"systemOid": "123"}).system_oid == "123"
    assert P.parse_request(P.OrdersReq, {"systemOid": "1,2"}).system_oid == "1,2"
    assert P.parse_request(P.PositionsReq, {"positionDir": "sell"}).position_dir == "sell"
    err = error_of(P.CancelReq, {"systemOid": ""})
    assert (err.error, err.field) == (ErrorCode.MISSING_FIELD, "system_oid")


def test_unknown_keys_are_ignored():
    extra = {**PLACE, "trade_type": 1, "margin_mode": "cross", "biz_type": 11, "req_id": "r"}
    assert P.parse_request(P.PlaceReq, extra) == P.parse_request(P.PlaceReq, PLACE)


@pytest.mark.parametrize("value", [0, 101, -1, "0", "101"])
def test_open_orders_limit_range(value):
    err = error_of(P.OpenOrdersReq, {"limit": value})
    assert (err.error, err.field) == (ErrorCode.COUNT_OUT_OF_RANGE, "limit")


@pytest.mark.parametrize("value", [1, 100, "1", "100"])
def test_open_orders_limit_bounds_are_inclusive(value):
    assert P.parse_request(P.OpenOrdersReq, {"limit": value}).limit == int(value)


def test_parse_req_id():
    assert P.parse_req_id({}) is None
    assert P.parse_req_id({"req_id": None}) is None
    assert P.parse_req_id({"req_id": "abc"}) == "abc"
    assert P.parse_req_id({"req_id": 17}) == "17"
    assert P.parse_req_id({"req_id": "x" * 64}) == "x" * 64
    for bad, error in (("x" * 65, ErrorCode.FIELD_TOO_LONG), (True, ErrorCode.INVALID_TYPE),
                       ([1], ErrorCode.INVALID_TYPE), ({"a": 1}, ErrorCode.INVALID_TYPE)):
        with pytest.raises(CeresError) as info:
            P.parse_req_id({"req_id": bad})
        assert (info.value.error, info.value.field) == (error, "req_id")


def test_sign_params_render_values_as_signed():
    obj = decode_json_object(b'{"a": true, "b": false, "c": {"x": 1, "y": [true, "z", null]}, "d": null,'
                             b' "e": 0.10, "f": 5, "g": "BTC/USDT", "h": ""}')
    assert P.sign_params(obj) == [("a", "true"), ("b", "false"), ("c", '{"x":1,"y":[true,"z",null]}'),
                                  ("d", None), ("e", "0.10"), ("f", "5"), ("g", "BTC/USDT"), ("h", "")]


# --- inputs that once broke the server ------------------------------------------------------
def test_sign_params_nested_fraction_keeps_its_literal_text():
    # a POST body with a non-integer number inside an array/object (even under an unknown
    # key) must sign as its literal text, not crash the request with HTTP 500
    assert P.sign_params(decode_json_object(b'{"h": [1, 2.50]}')) == [("h", "[1,2.50]")]


def test_integer_field_with_two_minus_signs_is_invalid_type():
    err = error_of(P.OpenOrdersReq, {"limit": "--5"})
    assert (err.error, err.field) == (ErrorCode.INVALID_TYPE, "limit")
