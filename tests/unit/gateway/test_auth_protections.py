"""The verifier with a key's protections: its own ``require_timestamp`` (REST and
handshake), its address allowlist (checked before the sign, failing closed when the
address is unknown), and the replay window when the seen-pair memory is full (the strict
profile refuses rather than forget a pair still inside the window)."""

from __future__ import annotations

import pytest

from ceres.domain.errors import CeresError, ErrorCode
from ceres.domain.secret import Secret
from ceres.engine.ledger import ApiKey, Product
from ceres.gateway.auth import Authenticator, compute_sign, peer_address, ws_sign

SECRET = "TQAFrtRS4WrUn1hHKByszao3ozWvIMkF"
NOW = 1_760_000_000_000
KEY = "bGppXpZqNrzVOptf"


def make(require_timestamp: bool = False, allow_ips: tuple[str, ...] = (), **kw) -> tuple[Authenticator, ApiKey]:
    key = ApiKey(KEY, Secret(SECRET), Product("fund-1", 0), 3, 0, require_timestamp=require_timestamp,
                 allow_ips=allow_ips)
    return Authenticator({KEY: key}, **kw), key


def refused(fn, *args, **kw) -> CeresError:
    with pytest.raises(CeresError) as info:
        fn(*args, **kw)
    return info.value


def signed(*pairs: tuple[str, str]) -> tuple[list[tuple[str, str | None]], str]:
    params: list[tuple[str, str | None]] = list(pairs)
    return params, compute_sign(params, SECRET)


# --- require_timestamp per key ------------------------------------------------------------------
def test_a_key_requiring_timestamps_refuses_requests_without_one():
    auth, key = make(require_timestamp=True)
    params, sign = signed(("exchange", "TEST"))
    err = refused(auth.verify_rest, KEY, sign, params, NOW)
    assert err.error is ErrorCode.AUTH_TIMESTAMP_REQUIRED and err.field == "timestamp"
    assert refused(auth.verify_ws, KEY, ws_sign(KEY, SECRET), None, NOW).error is ErrorCode.AUTH_TIMESTAMP_REQUIRED
    params, sign = signed(("exchange", "TEST"), ("timestamp", str(NOW)))
    assert auth.verify_rest(KEY, sign, params, NOW) is key
    assert refused(auth.verify_rest, KEY, sign, params, NOW + 1).error is ErrorCode.AUTH_REPLAY
    ts = str(NOW)
    assert auth.verify_ws(KEY, ws_sign(KEY, SECRET, ts), ts, NOW) is key
    assert refused(auth.verify_ws, KEY, ws_sign(KEY, SECRET, ts), ts, NOW).error is ErrorCode.AUTH_REPLAY
    late = NOW + 5001
    assert refused(auth.verify_ws, KEY, ws_sign(KEY, SECRET, ts), ts, late).error is ErrorCode.AUTH_TIMESTAMP_WINDOW


def test_a_default_key_accepts_the_same_request_again():
    """The 2019 behaviour, kept for keys that do not require timestamps."""
    auth, key = make()
    params, sign = signed(("exchange", "TEST"))
    assert auth.verify_rest(KEY, sign, params, NOW) is key
    assert auth.verify_rest(KEY, sign, params, NOW + 60_000) is key
    assert auth.verify_ws(KEY, ws_sign(KEY, SECRET), None, NOW) is key
    assert auth.verify_ws(KEY, ws_sign(KEY, SECRET), None, NOW + 60_000) is key


def test_the_key_setting_is_read_at_each_request():
    auth, key = make()
    params, sign = signed(("exchange", "TEST"))
    assert auth.verify_rest(KEY, sign, params, NOW) is key
    key.require_timestamp = True  # what SetKey does in the engine
    assert refused(auth.verify_rest, KEY, sign, params, NOW).error is ErrorCode.AUTH_TIMESTAMP_REQUIRED


# --- address allowlist ------------------------------------------------------------------------
def test_allowlist_admits_listed_addresses_only():
    auth, key = make(allow_ips=("127.0.0.2/32", "10.0.0.0/8", "2001:db8::/32"))
    params, sign = signed(("exchange", "TEST"))
    for peer in ("127.0.0.2", "10.200.3.4", "2001:db8::7", "::ffff:10.1.1.1"):
        assert auth.verify_rest(KEY, sign, params, NOW, peer=peer) is key, peer
        assert auth.verify_ws(KEY, ws_sign(KEY, SECRET), None, NOW, peer=peer) is key, peer
    for peer in ("127.0.0.1", "11.0.0.1", "2001:db9::1", None, "", "not-an-address"):
        err = refused(auth.verify_rest, KEY, sign, params, NOW, peer=peer)
        assert err.error is ErrorCode.AUTH_ADDRESS_NOT_ALLOWED, peer
        assert refused(auth.verify_ws, KEY, ws_sign(KEY, SECRET), None, NOW, peer=peer).error \
            is ErrorCode.AUTH_ADDRESS_NOT_ALLOWED
    assert "127.0.0.1" in refused(auth.verify_rest, KEY, sign, params, NOW, peer="127.0.0.1").message


def test_address_is_checked_before_the_sign():
    """From outside the allowlist a wrong sign learns nothing about the secret."""
    auth, _ = make(allow_ips=("127.0.0.2/32",))
    params, _ = signed(("exchange", "TEST"))
    err = refused(auth.verify_rest, KEY, "0" * 64, params, NOW, peer="127.0.0.1")
    assert err.error is ErrorCode.AUTH_ADDRESS_NOT_ALLOWED
    assert refused(auth.verify_rest, KEY, "0" * 64, params, NOW, peer="127.0.0.2").error is ErrorCode.AUTH_BAD_SIGN


def test_a_changed_allowlist_applies_at_once():
    auth, key = make(allow_ips=("127.0.0.2/32",))
    params, sign = signed(("exchange", "TEST"))
    assert auth.verify_rest(KEY, sign, params, NOW, peer="127.0.0.2") is key
    key.allow_ips = ("127.0.0.1/32",)
    assert refused(auth.verify_rest, KEY, sign, params, NOW, peer="127.0.0.2").error \
        is ErrorCode.AUTH_ADDRESS_NOT_ALLOWED
    assert auth.verify_rest(KEY, sign, params, NOW, peer="127.0.0.1") is key
    key.allow_ips = ()
    assert auth.verify_rest(KEY, sign, params, NOW, peer=None) is key


def test_peer_address_forms():
    assert str(peer_address("::ffff:127.0.0.2")) == "127.0.0.2"
    assert str(peer_address("2001:db8::1")) == "2001:db8::1"
    assert peer_address("") is None and peer_address(None) is None and peer_address("x") is None


# --- the replay memory when full ------------------------------------------------------------------
def _stamped(i: int) -> tuple[list[tuple[str, str | None]], str]:
    return signed(("exchange", "TEST"), ("timestamp", str(NOW + i)))


def test_default_forgets_the_oldest_pair_when_full():
    auth, key = make(replay_capacity=2)
    first = _stamped(0)
    for i in range(3):
        params, sign = _stamped(i)
        assert auth.verify_rest(KEY, sign, params, NOW) is key
    # the first pair was forgotten to make room: its replay inside the window passes
    assert auth.verify_rest(KEY, first[1], first[0], NOW) is key


def test_strict_replay_refuses_rather_than_forget():
    auth, key = make(replay_capacity=2, strict_replay=True)
    first = _stamped(0)
    for i in range(2):
        params, sign = _stamped(i)
        assert auth.verify_rest(KEY, sign, params, NOW) is key
    params, sign = _stamped(2)
    err = refused(auth.verify_rest, KEY, sign, params, NOW)
    assert err.error is ErrorCode.RATE_LIMITED
    assert refused(auth.verify_rest, KEY, first[1], first[0], NOW).error is ErrorCode.AUTH_REPLAY
    # once the remembered pairs expire (twice the window) there is room again
    later = NOW + 2 * auth.window_ms + 1
    params, sign = signed(("exchange", "TEST"), ("timestamp", str(later)))
    assert auth.verify_rest(KEY, sign, params, later) is key
