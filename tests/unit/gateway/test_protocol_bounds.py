"""Bounds of the request types (``ceres.gateway.protocol``): text fields at most 64
characters, id lists at most 512, integer fields a JSON integer or at most 18 digits —
named errors on the fast (msgspec) and the slow (field by field) path alike; the Java
aliases count when the real name is absent or empty; a query that is not UTF-8 is
refused naming the parameter."""

from __future__ import annotations

import pytest

from ceres.domain.errors import CeresError, ErrorCode
from ceres.gateway import protocol as P

PLACE = {"exchange": "TEST", "contract": "BTC/USDT", "price_type": "limit", "entrust_vol": "0.5",
         "entrust_bs": "buy", "entrust_price": "30000"}


def error_of(cls, obj) -> CeresError:
    with pytest.raises(CeresError) as info:
        P.parse_request(cls, obj)
    return info.value


@pytest.mark.parametrize("field", ["exchange", "contract", "entrust_price", "client_oid", "lever", "timestamp"])
@pytest.mark.parametrize("slow", [False, True], ids=["fast", "slow"])
def test_text_over_64_characters_is_named(field, slow):
    obj = {**PLACE, field: "1" * 65}
    if slow:
        obj["unused"] = ""  # any empty value takes the field-by-field path
    err = error_of(P.PlaceReq, obj)
    assert (err.error, err.field, err.code) == (ErrorCode.FIELD_TOO_LONG, field, "40014")
    assert P.parse_request(P.PlaceReq, {**obj, field: "1" * 64})  # 64 is fine


def test_a_number_for_a_text_field_is_bounded_by_its_literal():
    err = error_of(P.PlaceReq, {**PLACE, "client_oid": 10**70})
    assert (err.error, err.field) == (ErrorCode.FIELD_TOO_LONG, "client_oid")


def test_id_lists_take_512_characters():
    ids = ",".join(["1179500000000000000"] * 15) + " " * 100
    assert P.parse_request(P.CancelReq, {"system_oid": ids}).system_oid == ids
    err = error_of(P.CancelReq, {"system_oid": ids + " " * 300})
    assert (err.error, err.field) == (ErrorCode.FIELD_TOO_LONG, "system_oid")
    assert P.parse_request(P.OpenOrdersReq, {"from": " 1179500000000000000 ,"}).from_ == " 1179500000000000000 ,"


@pytest.mark.parametrize("value", ["1" * 19, "--5", "+5", "5.0", "٣"])
def test_integer_text_beyond_18_digits_or_not_digits(value):
    err = error_of(P.FillsReq, {"exchange": "TEST", "contract": "X", "count": value})
    assert (err.error, err.field) == (ErrorCode.INVALID_TYPE, "count")


def test_alias_counts_when_the_real_name_is_empty():
    assert P.parse_request(P.OrdersReq, {"system_oid": "", "systemOid": "42"}).system_oid == "42"
    assert P.parse_request(P.PositionsReq, {"positionDir": "buy"}).position_dir == "buy"
    err = error_of(P.OrdersReq, {"system_oid": "", "systemOid": "1" * 513})
    assert (err.error, err.field) == (ErrorCode.FIELD_TOO_LONG, "system_oid")


def test_both_spellings_must_agree():
    """Found by schemathesis: ``positionDir`` of any value was ignored next to a valid ``position_dir``."""
    assert P.parse_request(P.PositionsReq, {"position_dir": "buy", "positionDir": "buy"}).position_dir == "buy"
    err = error_of(P.PositionsReq, {"position_dir": "buy", "positionDir": "\u00c8"})
    assert (err.error, err.field) == (ErrorCode.INVALID_VALUE, "position_dir")
    err = error_of(P.OrdersReq, {"system_oid": "1", "systemOid": "2"})
    assert (err.error, err.field) == (ErrorCode.INVALID_VALUE, "system_oid")


def test_query_text_must_be_utf8():
    P.check_query_text("exchange=TEST&contract=BTC%2FUSDT")
    with pytest.raises(CeresError) as info:
        P.check_query_text("exchange=TEST&contract=%C3%28")
    assert (info.value.error, info.value.field, info.value.code) == (ErrorCode.INVALID_VALUE, "contract", "40006")
