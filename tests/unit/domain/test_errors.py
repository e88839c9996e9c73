"""The error table: unique banded codes, HTTP statuses, messages naming the field."""

from __future__ import annotations

import re

from ceres.domain.errors import CeresError, ErrorCode

BANDS = {"400": 200, "401": 401, "403": 200, "404": 200, "410": 200, "420": 200}
# refusals at the transport level: the connection closes and the HTTP status says why
TRANSPORT = {ErrorCode.PAYLOAD_TOO_LARGE, ErrorCode.REQUEST_TIMEOUT, ErrorCode.HEADER_TOO_LARGE,
             ErrorCode.MALFORMED_REQUEST, ErrorCode.TLS_REQUIRED, ErrorCode.ORIGIN_NOT_ALLOWED}


def test_codes_are_unique_banded_strings() -> None:
    codes = [e.code for e in ErrorCode]
    assert len(codes) == len(set(codes))
    for e in ErrorCode:
        assert re.fullmatch(r"\d{3}(\d{2})?", e.code), e
        assert e.default_message
        if len(e.code) == 5 and e.code[:3] in BANDS and e not in TRANSPORT:
            assert e.http_status == BANDS[e.code[:3]], e


def test_fixed_wire_codes() -> None:
    assert ErrorCode.INSUFFICIENT_BALANCE.code == "41001"
    assert ErrorCode.TOO_MANY_IDS.code == "40012"
    assert ErrorCode.ORDER_NOT_FOUND.code == "40403"
    assert ErrorCode.PAYLOAD_TOO_LARGE.http_status == 413
    assert ErrorCode.AUTH_BAD_SIGN.http_status == 401
    assert ErrorCode.RATE_LIMITED.code == "429" and ErrorCode.RATE_LIMITED.http_status == 429


def test_message_names_field_once() -> None:
    err = CeresError(ErrorCode.INVALID_DECIMAL, "must be greater than zero", "amount")
    assert err.code == "40007"
    assert err.message == "amount: must be greater than zero"
    assert str(err) == "40007 amount: must be greater than zero"
    err = CeresError(ErrorCode.INVALID_DECIMAL, "amount must be positive", "amount")
    assert err.message == "amount must be positive"
    assert CeresError(ErrorCode.TOO_MANY_IDS).message == "at most 15 ids per request"
    assert "TOO_MANY_IDS" in repr(CeresError(ErrorCode.TOO_MANY_IDS))
