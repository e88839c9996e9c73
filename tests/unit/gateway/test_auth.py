"""Signatures (API.md section 2) against hand-written payload strings, and the verifier:
each refusal code, the timestamp window, replays, ``require_timestamp`` and the retry
that keeps empty values."""

from __future__ import annotations

import hashlib

import pytest

from ceres.domain.errors import CeresError, ErrorCode
from ceres.domain.secret import Secret
from ceres.engine.ledger import ApiKey, Product
from ceres.gateway.auth import Authenticator, compute_sign, ws_sign

SECRET = "TQAFrtRS4WrUn1hHKByszao3ozWvIMkF"
NOW = 1_760_000_000_000


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def make_key(api_key: str = "bGppXpZqNrzVOptf", revoked: bool = False) -> ApiKey:
    return ApiKey(api_key, Secret(SECRET), Product("fund-1", 0), 3, 0, revoked)


@pytest.fixture
def key() -> ApiKey:
    return make_key()


@pytest.fixture
def auth(key: ApiKey) -> Authenticator:
    return Authenticator({key.api_key: key, "revokedKey000000": make_key("revokedKey000000", revoked=True)})


def refused(fn, *args) -> ErrorCode:
    with pytest.raises(CeresError) as info:
        fn(*args)
    return info.value.error


def test_rest_sign_sorts_drops_empty_and_appends_the_secret():
    params = [("exchange", "TEST"), ("contract", "BTC/USDT"), ("client_oid", ""), ("lever", None),
              ("Zeta", "1"), ("count", "2")]
    expected = sha(f"Zeta=1&contract=BTC/USDT&count=2&exchange=TEST&secret={SECRET}")
    assert compute_sign(params, SECRET) == expected
    assert compute_sign([], SECRET) == sha(f"secret={SECRET}")
    assert compute_sign([("a", ""), ("b", None)], SECRET) == sha(f"secret={SECRET}")
    assert compute_sign([("a", ""), ("b", "x")], SECRET, keep_empty=True) == sha(f"a=&b=x&secret={SECRET}")


def test_ws_sign_payloads():
    assert ws_sign("KEY", SECRET) == sha(f"api_key=KEY&secret={SECRET}")
    assert ws_sign("KEY", SECRET, "1760000000000") == sha(f"api_key=KEY&timestamp=1760000000000&secret={SECRET}")


def test_verify_rest_accepts_a_correct_sign(auth: Authenticator, key: ApiKey):
    params = [("exchange", "TEST"), ("contract", "BTC/USDT")]
    assert auth.verify_rest(key.api_key, compute_sign(params, SECRET), params, NOW) is key
    # no timestamp, no replay check: the same GET twice is fine
    assert auth.verify_rest(key.api_key, compute_sign(params, SECRET), params, NOW) is key


def test_verify_rest_refusals(auth: Authenticator, key: ApiKey):
    params = [("exchange", "TEST")]
    good = compute_sign(params, SECRET)
    assert refused(auth.verify_rest, key.api_key, compute_sign(params, "x" * 32), params, NOW) \
        is ErrorCode.AUTH_BAD_SIGN
    assert refused(auth.verify_rest, key.api_key, good, [("exchange", "BITMEX")], NOW) is ErrorCode.AUTH_BAD_SIGN
    assert refused(auth.verify_rest, "nobody0000000000", good, params, NOW) is ErrorCode.AUTH_UNKNOWN_KEY
    for api_key, sign in ((None, good), ("", good), (key.api_key, None), (key.api_key, "")):
        assert refused(auth.verify_rest, api_key, sign, params, NOW) is ErrorCode.AUTH_MISSING
    assert refused(auth.verify_rest, "revokedKey000000", good, params, NOW) is ErrorCode.AUTH_KEY_REVOKED
    assert ErrorCode.AUTH_BAD_SIGN.http_status == 401


def test_timestamp_window(auth: Authenticator, key: ApiKey):
    def verify(ts: str, now: int = NOW) -> ApiKey:
        params = [("exchange", "TEST"), ("timestamp", ts)]
        return auth.verify_rest(key.api_key, compute_sign(params, SECRET), params, now)

    assert verify(str(NOW - 5000)) is key
    assert verify(str(NOW + 5000)) is key
    for ts in (str(NOW - 5001), str(NOW + 5001), "abc", "-1", "1.5"):
        assert refused(verify, ts) is ErrorCode.AUTH_TIMESTAMP_WINDOW


def test_replay_inside_the_window(auth: Authenticator, key: ApiKey):
    params = [("exchange", "TEST"), ("timestamp", str(NOW))]
    sign = compute_sign(params, SECRET)
    auth.verify_rest(key.api_key, sign, params, NOW)
    assert refused(auth.verify_rest, key.api_key, sign, params, NOW + 1000) is ErrorCode.AUTH_REPLAY
    assert refused(auth.verify_rest, key.api_key, sign.upper(), params, NOW + 1000) is ErrorCode.AUTH_REPLAY
    # a new timestamp is a new sign
    fresh = [("exchange", "TEST"), ("timestamp", str(NOW + 1))]
    assert auth.verify_rest(key.api_key, compute_sign(fresh, SECRET), fresh, NOW + 1000) is key


def test_require_timestamp(key: ApiKey):
    auth = Authenticator({key.api_key: key}, require_timestamp=True)
    params = [("exchange", "TEST")]
    assert refused(auth.verify_rest, key.api_key, compute_sign(params, SECRET), params, NOW) \
        is ErrorCode.AUTH_TIMESTAMP_REQUIRED
    params = [("exchange", "TEST"), ("timestamp", str(NOW))]
    assert auth.verify_rest(key.api_key, compute_sign(params, SECRET), params, NOW) is key
    assert refused(auth.verify_ws, key.api_key, ws_sign(key.api_key, SECRET), None, NOW) \
        is ErrorCode.AUTH_TIMESTAMP_REQUIRED
    ts = str(NOW + 1)
    assert auth.verify_ws(key.api_key, ws_sign(key.api_key, SECRET, ts), ts, NOW) is key


def test_retry_keeping_empty_values(auth: Authenticator, key: ApiKey):
    params = [("exchange", "TEST"), ("client_oid", "")]
    kept = sha(f"client_oid=&exchange=TEST&secret={SECRET}")
    assert auth.verify_rest(key.api_key, kept, params, NOW) is key
    assert auth.verify_rest(key.api_key, compute_sign(params, SECRET), params, NOW) is key
    # null values are never signed, not even on the retry
    nulls = [("exchange", "TEST"), ("lever", None)]
    assert refused(auth.verify_rest, key.api_key, sha(f"exchange=TEST&lever=None&secret={SECRET}"), nulls, NOW) \
        is ErrorCode.AUTH_BAD_SIGN


def test_verify_ws(auth: Authenticator, key: ApiKey):
    assert auth.verify_ws(key.api_key, ws_sign(key.api_key, SECRET), None, NOW) is key
    assert auth.verify_ws(key.api_key, ws_sign(key.api_key, SECRET), "", NOW) is key
    assert refused(auth.verify_ws, key.api_key, ws_sign("other", SECRET), None, NOW) is ErrorCode.AUTH_BAD_SIGN
    # with the timestamp extension the sign covers it
    ts = str(NOW)
    assert refused(auth.verify_ws, key.api_key, ws_sign(key.api_key, SECRET), ts, NOW) is ErrorCode.AUTH_BAD_SIGN
    assert auth.verify_ws(key.api_key, ws_sign(key.api_key, SECRET, ts), ts, NOW) is key
    assert refused(auth.verify_ws, key.api_key, ws_sign(key.api_key, SECRET, ts), ts, NOW) is ErrorCode.AUTH_REPLAY
