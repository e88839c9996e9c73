"""``ceres.wire.bounds`` through the JSON codec: nesting depth, members per object or
array, integers of 64 bits, and query strings that are not UTF-8 — each refused before
any work with a named ``INVALID_JSON`` (or the parameter's name)."""

from __future__ import annotations

import pytest

from ceres.domain.errors import CeresError, ErrorCode
from ceres.wire.bounds import bad_query_param
from ceres.wire.codec import decode_json_object, decode_json_value


def refused(data: bytes, **kw) -> str:
    with pytest.raises(CeresError) as info:
        decode_json_object(data, **kw)
    assert info.value.error is ErrorCode.INVALID_JSON
    return info.value.message


def nested(depth: int) -> bytes:
    return b'{"biz_type":13,"a":' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


def test_depth_four_is_accepted_five_is_not():
    assert decode_json_object(nested(4))["a"] == [[[]]]
    assert "nested more than 4 levels" in refused(nested(5))


@pytest.mark.parametrize("depth", [50, 1000, 100_000])
def test_deep_nesting_is_invalid_json(depth):
    """50 levels (walked), 100,000 (past the decoder's own recursion bound): both named."""
    assert "nested more than 4 levels" in refused(nested(depth))


def test_members_per_object_and_array():
    wide = b"{" + b",".join(b'"k%d":1' % i for i in range(65)) + b"}"
    assert "an object of 65 members; at most 64" in refused(wide)
    assert len(decode_json_object(b"{" + b",".join(b'"k%d":1' % i for i in range(64)) + b"}")) == 64
    assert "an array of 65 members" in refused(b'{"a":[' + b",".join([b"1"] * 65) + b"]}")
    # a looser bound where a protocol needs one (18003: up to 200 subscriptions per array)
    assert len(decode_json_value(b"[" + b",".join([b"{}"] * 200) + b"]", max_depth=3, max_members=None)) == 200


@pytest.mark.parametrize("number", [b"18446744073709551616", b"-9223372036854775809", b"9" * 4000])
def test_integers_beyond_64_bits(number):
    assert "integer beyond 64 bits" in refused(b'{"count":' + number + b"}")
    assert "integer beyond 64 bits" in refused(b'{"a":[' + number + b"]}")


def test_64_bit_integers_and_long_numbers_as_text_pass():
    obj = decode_json_object(b'{"a":18446744073709551615,"b":-9223372036854775808,"c":"123456789012345678901234"}')
    assert obj["a"] == 2**64 - 1 and obj["b"] == -(2**63)


def test_flat_requests_are_checked_too():
    """The flat fast path still refuses a top-level integer beyond 64 bits."""
    assert decode_json_object(b'{"biz_type":11,"exchange":"TEST","entrust_vol":0.5}')["entrust_vol"] == "0.5"
    assert "integer beyond 64 bits" in refused(b'{"biz_type":18446744073709551616,"exchange":"TEST"}')


def test_query_strings_must_be_utf8():
    assert bad_query_param("exchange=TEST&contract=BTC%2FUSDT&x=%E2%82%AC") is None
    assert bad_query_param("exchange=TEST&contract=%ff%fe") == "contract"
    assert bad_query_param("a=1&%ff=2") == "\ufffd"
    assert bad_query_param("plain=text+with+spaces") is None
