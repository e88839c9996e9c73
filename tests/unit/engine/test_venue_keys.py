"""A product's credentials at live exchanges in the engine: ``ConnectVenue`` stores them
sealed (replacing earlier ones), ``DisconnectVenue`` removes them, both journaled; kept in
snapshots and replayed to the same state; plain text and malformed input refused without
a trace."""

from __future__ import annotations

import msgspec
import pytest

from ceres.domain import commands as C
from ceres.domain.errors import ErrorCode
from ceres.domain.secret import SealedSecret, Secret, secret_dec_hook, secret_enc_hook
from ceres.engine.snapshot import engine_state
from engine_helpers import restored_copy


def sealed(n: int) -> SealedSecret:
    return SealedSecret(1, bytes([n]) * 12, bytes([n]) * 48)


def test_connect_replaces_and_disconnect_removes(h) -> None:
    h.apply(C.ConnectVenue("alice", "BINANCE", "KEY1", sealed(1)))
    h.apply(C.ConnectVenue("alice", "OKEX", "KEY2", sealed(2), sealed(3)))
    h.apply(C.ConnectVenue("alice", "BINANCE", "KEY3", sealed(4)))
    keys = h.eng.products["alice"].venue_keys
    assert sorted(keys) == ["BINANCE", "OKEX"]
    assert keys["BINANCE"].api_key == "KEY3" and keys["BINANCE"].secret.to_bytes() == sealed(4).to_bytes()
    assert keys["OKEX"].password is not None and keys["OKEX"].password.to_bytes() == sealed(3).to_bytes()
    assert h.eng.products["bob"].venue_keys == {}
    h.apply(C.DisconnectVenue("alice", "BINANCE"))
    assert sorted(keys) == ["OKEX"]
    assert h.reject(C.DisconnectVenue("alice", "BINANCE")).error is ErrorCode.VENUE_NOT_CONNECTED


@pytest.mark.parametrize("cmd, field", [
    (C.ConnectVenue("alice", "BINANCE", "KEY", Secret("plain-text")), "secret"),
    (C.ConnectVenue("alice", "OKEX", "KEY", sealed(1), Secret("passphrase")), "password"),
    (C.ConnectVenue("alice", "binance", "KEY", sealed(1)), "exchange"),
    (C.ConnectVenue("alice", "", "KEY", sealed(1)), "exchange"),
    (C.ConnectVenue("alice", "BINANCE", "", sealed(1)), "api_key"),
    (C.ConnectVenue("alice", "BINANCE", "a key", sealed(1)), "api_key"),
    (C.ConnectVenue("alice", "BINANCE", "K" * 257, sealed(1)), "api_key"),
])
def test_malformed_or_plain_credentials_are_refused(h, cmd, field) -> None:
    err = h.reject(cmd)
    assert (err.error, err.field) == (ErrorCode.INVALID_VALUE, field)


def test_unknown_product_is_refused(h) -> None:
    assert h.reject(C.ConnectVenue("nobody", "BINANCE", "KEY", sealed(1))).error is ErrorCode.UNKNOWN_PRODUCT


def test_snapshot_and_replay_keep_them(h) -> None:
    before = engine_state(h.eng)
    assert "venue_keys" not in before  # snapshots without venue keys are as they were
    hash_before = h.eng.state_hash()
    h.apply(C.ConnectVenue("alice", "OKEX", "KEY2", sealed(2), sealed(3)))
    h.apply(C.ConnectVenue("bob", "BINANCE", "KEY1", sealed(1)))
    assert h.eng.state_hash() != hash_before  # verify --full compares them too
    twin = restored_copy(h.eng, h.instruments, h.currencies)
    assert twin.state_hash() == h.eng.state_hash()
    okex = twin.products["alice"].venue_keys["OKEX"]
    assert (okex.api_key, okex.secret.to_bytes(), okex.password.to_bytes()) == (
        "KEY2", sealed(2).to_bytes(), sealed(3).to_bytes())
    assert twin.products["bob"].venue_keys["BINANCE"].password is None


def test_journal_records_hold_no_plain_secret() -> None:
    cmd = C.ConnectVenue("alice", "OKEX", "KEY2", sealed(2), sealed(3))
    data = msgspec.msgpack.encode(cmd, enc_hook=secret_enc_hook)
    back = msgspec.msgpack.decode(data, type=C.ANY_COMMAND, dec_hook=secret_dec_hook)
    assert isinstance(back.secret, SealedSecret) and isinstance(back.password, SealedSecret)
    assert "secret=***" in repr(cmd) and "KEY2" not in repr(cmd)
