"""A key's protections in the engine: ``require_timestamp`` and the address allowlist,
set by ``CreateKey`` and changed by ``SetKey`` (journaled commands), kept in snapshots,
and replayed to the same state. Older journal records and snapshots (without them) still
load, with the protections off."""

from __future__ import annotations

import msgspec
import pytest

from ceres.domain import commands as C
from ceres.domain.errors import CeresError, ErrorCode
from ceres.domain.secret import Secret, secret_dec_hook, secret_enc_hook
from ceres.engine.core import Engine
from ceres.engine.key_rules import MAX_ALLOW_IPS, normalize_networks
from ceres.engine.snapshot import engine_state, restore_engine
from ceres.pipeline.frames import decode_records, encode_frame, scan
from engine_helpers import T0, Harness, restored_copy, spot

KEY, OTHER = "bGppXpZqNrzVOptf", "AAAAAAAAAAAAAAAA"
SECRET = "bcBFnn3GbFz1cB73f5TkJa8P5gbrFdgt"
INSTS, CURS = [spot()], {"BTC": 8, "USDT": 8}


def _create(**kw) -> C.CreateKey:
    return C.CreateKey("alice", KEY, Secret(SECRET), 3, **kw)


def test_create_key_with_protections(h) -> None:
    h.apply(_create(require_timestamp=True, allow_ips=("10.0.0.0/8", "127.0.0.2/32")))
    key = h.eng.keys[KEY]
    assert key.require_timestamp is True and key.allow_ips == ("10.0.0.0/8", "127.0.0.2/32")


def test_a_key_created_without_them_has_none(h) -> None:
    h.apply(C.CreateKey("alice", KEY, Secret(SECRET), 3))
    key = h.eng.keys[KEY]
    assert key.require_timestamp is False and key.allow_ips == ()


def test_set_key_changes_only_what_it_names(h) -> None:
    h.apply(_create(allow_ips=("10.0.0.0/8",)))
    h.apply(C.SetKey(KEY, require_timestamp=True))
    key = h.eng.keys[KEY]
    assert (key.require_timestamp, key.allow_ips) == (True, ("10.0.0.0/8",))
    h.apply(C.SetKey(KEY, allow_ips=("192.0.2.0/24", "2001:db8::/32")))
    assert (key.require_timestamp, key.allow_ips) == (True, ("192.0.2.0/24", "2001:db8::/32"))
    h.apply(C.SetKey(KEY, require_timestamp=False, allow_ips=()))
    assert (key.require_timestamp, key.allow_ips) == (False, ())


@pytest.mark.parametrize("networks", [
    ("127.0.0.2",),                     # not normalized (the edge writes 127.0.0.2/32)
    ("10.0.0.1/8",),                    # host bits set
    ("10.0.0.0/8", "10.0.0.0/8"),       # twice
    ("example.com",),
    ("",),
    tuple(f"10.0.{i}.0/24" for i in range(MAX_ALLOW_IPS + 1)),
])
def test_invalid_allowlists_are_refused_and_change_nothing(h, networks) -> None:
    err = h.reject(_create(allow_ips=networks))
    assert (err.error, err.field) == (ErrorCode.INVALID_VALUE, "allow_ips")
    h.apply(_create())
    err = h.reject(C.SetKey(KEY, require_timestamp=True, allow_ips=networks))
    assert (err.error, err.field) == (ErrorCode.INVALID_VALUE, "allow_ips")
    assert h.eng.keys[KEY].require_timestamp is False  # the valid half was not applied either


def test_set_key_refusals(h) -> None:
    err = h.reject(C.SetKey(OTHER, require_timestamp=True))
    assert (err.error, err.field) == (ErrorCode.UNKNOWN_KEY, "api_key")
    h.apply(_create())
    h.apply(C.RevokeKey(KEY))
    err = h.reject(C.SetKey(KEY, allow_ips=("10.0.0.0/8",)))
    assert (err.error, err.field) == (ErrorCode.INVALID_VALUE, "api_key")


def test_normalize_networks_at_the_edge() -> None:
    assert normalize_networks([" 127.0.0.2 ", "10.0.0.0/8", "", "127.0.0.2/32", "2001:DB8::/32"]) == \
        ("127.0.0.2/32", "10.0.0.0/8", "2001:db8::/32")
    with pytest.raises(CeresError) as info:
        normalize_networks(["10.0.0.1/8"])
    assert info.value.field == "allow_ips" and "10.0.0.1/8" in info.value.message
    with pytest.raises(CeresError):
        normalize_networks(["256.0.0.1"])


# --- journal and snapshots -------------------------------------------------------------------
def _journal() -> list[C.Command]:
    return [C.CreateKey("alice", KEY, Secret(SECRET), 3, True, ("127.0.0.2/32",)),
            C.CreateKey("bob", OTHER, Secret("B" * 32), 1),
            C.SetKey(OTHER, allow_ips=("10.0.0.0/8",)),
            C.SetKey(KEY, require_timestamp=False),
            C.SetKey(OTHER, require_timestamp=True, allow_ips=("10.0.0.0/8", "192.0.2.0/24"))]


def test_replaying_the_journal_gives_the_same_state_hash() -> None:
    """The commands go through the journal's own encoding, then replay on a fresh engine,
    whole or from a snapshot taken half-way."""
    live = Harness(INSTS, CURS)
    cmds = _journal()
    records = []
    for cmd in cmds:
        live.apply(cmd)
        records.append((live.now, cmd))
    frame = scan(encode_frame(live.seq - len(cmds) + 1, records), "test").frames[0]
    decoded = [cmd for _, cmd in decode_records(frame.payload)]
    assert decoded == cmds

    replayed = Harness(INSTS, CURS)
    for cmd in decoded:
        replayed.apply(cmd)
    assert replayed.eng.state_hash() == live.eng.state_hash()
    assert replayed.eng.keys[OTHER].allow_ips == ("10.0.0.0/8", "192.0.2.0/24")

    half = Harness(INSTS, CURS)
    for cmd in decoded[:2]:
        half.apply(cmd)
    resumed = restored_copy(half.eng, INSTS, CURS)
    for i, cmd in enumerate(decoded[2:], start=half.seq + 1):
        resumed.apply(cmd, i, T0 + i)
    assert resumed.state_hash() == live.eng.state_hash()


def test_protections_change_the_state_hash() -> None:
    a, b = Harness(INSTS, CURS), Harness(INSTS, CURS)
    a.apply(_create())
    b.apply(_create())
    assert a.eng.state_hash() == b.eng.state_hash()
    b.apply(C.SetKey(KEY, require_timestamp=True))
    a.apply(C.SetKey(KEY, require_timestamp=False))
    assert a.eng.state_hash() != b.eng.state_hash()


def test_snapshot_keeps_the_protections(h) -> None:
    h.apply(_create(require_timestamp=True, allow_ips=("127.0.0.2/32",)))
    twin = restored_copy(h.eng, h.instruments, h.currencies)
    key = twin.keys[KEY]
    assert (key.require_timestamp, key.allow_ips) == (True, ("127.0.0.2/32",))
    assert twin.state_hash() == h.eng.state_hash()


def test_an_older_snapshot_restores_with_protections_off() -> None:
    """Version 4 key rows have six fields."""
    h = Harness(INSTS, CURS)
    h.apply(_create())
    state = msgspec.msgpack.decode(msgspec.msgpack.encode(engine_state(h.eng), enc_hook=secret_enc_hook),
                                   dec_hook=secret_dec_hook)
    state["version"] = 4
    state["keys"] = [row[:6] for row in state["keys"]]
    old = Engine(INSTS, CURS)
    restore_engine(old, state)
    key = old.keys[KEY]
    assert (key.require_timestamp, key.allow_ips, key.permissions) == (False, (), 3)
    assert old.state_hash() == h.eng.state_hash()


def test_an_older_journal_record_decodes_with_protections_off() -> None:
    old = msgspec.msgpack.encode(["key", "alice", KEY, SECRET, 3], enc_hook=secret_enc_hook)
    cmd = msgspec.msgpack.decode(old, type=C.ANY_COMMAND, dec_hook=secret_dec_hook)
    assert isinstance(cmd, C.CreateKey) and cmd.require_timestamp is False and cmd.allow_ips == ()
    record = msgspec.msgpack.encode(C.SetKey(KEY, require_timestamp=True))
    assert msgspec.msgpack.decode(record) == ["setkey", KEY, True, None, None]
