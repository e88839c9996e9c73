"""Sealing API secrets (AES-GCM): a sealed secret opens only with its own data key, for its
own api_key, unchanged; data keys open only with their master key; the stored form of a
sealed secret round-trips through the journal codec and a malformed one is refused."""

from __future__ import annotations

import msgspec
import pytest

from ceres.crypto.sealing import (
    DataKeys,
    SealError,
    decode_master,
    encode_master,
    fingerprint,
    new_key,
    unwrap,
    wrap,
)
from ceres.domain import commands as C
from ceres.domain.secret import SealedSecret, Secret, secret_dec_hook, secret_enc_hook, stored_secret

API_KEY = "bGppXpZqNrzVOptf"
SECRET = "bcBFnn3GbFz1cB73f5TkJa8P5gbrFdgt"


@pytest.fixture
def keys() -> DataKeys:
    return DataKeys({1: new_key()}, 1)


def flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1:]


def test_seal_then_unseal_gives_the_secret_back(keys):
    sealed = keys.seal(API_KEY, SECRET)
    assert SECRET.encode() not in sealed.to_bytes()
    opened = keys.unseal(API_KEY, sealed)
    assert isinstance(opened, Secret) and opened.reveal() == SECRET
    again = keys.seal(API_KEY, SECRET)
    assert again.nonce != sealed.nonce and again.ciphertext != sealed.ciphertext  # a fresh nonce each time


def test_another_data_key_does_not_open_it(keys):
    sealed = keys.seal(API_KEY, SECRET)
    with pytest.raises(SealError, match="does not open"):
        DataKeys({1: new_key()}, 1).unseal(API_KEY, sealed)


@pytest.mark.parametrize("part", ["ciphertext", "tag", "nonce"])
def test_a_changed_byte_is_refused(keys, part):
    sealed = keys.seal(API_KEY, SECRET)
    nonce, data = sealed.nonce, sealed.ciphertext
    if part == "nonce":
        nonce = flip(nonce, 0)
    else:
        data = flip(data, 3 if part == "ciphertext" else len(data) - 1)
    with pytest.raises(SealError):
        keys.unseal(API_KEY, SealedSecret(sealed.key_id, nonce, data))


def test_a_sealed_secret_opens_only_for_its_own_api_key(keys):
    sealed = keys.seal(API_KEY, SECRET)
    with pytest.raises(SealError, match="another key"):
        keys.unseal("AAAAAAAAAAAAAAAA", sealed)


def test_generations_seal_with_the_current_and_open_with_their_own():
    k1, k2 = new_key(), new_key()
    old = DataKeys({1: k1}, 1).seal(API_KEY, SECRET)
    both = DataKeys({1: k1, 2: k2}, 2)
    new = both.seal(API_KEY, SECRET)
    assert (old.key_id, new.key_id) == (1, 2)
    assert both.unseal(API_KEY, old).reveal() == both.unseal(API_KEY, new).reveal() == SECRET
    with pytest.raises(SealError, match="lacks"):
        DataKeys({2: k2}, 2).unseal(API_KEY, old)
    # the generation is bound too: the same bytes labelled with another generation do not open
    with pytest.raises(SealError):
        DataKeys({1: k1, 2: k1}, 2).unseal(API_KEY, SealedSecret(2, old.nonce, old.ciphertext))


def test_data_keys_open_only_with_their_master_key_and_generation():
    master, data_key = new_key(), new_key()
    wrapped = wrap(master, 1, data_key)
    assert data_key not in wrapped
    assert unwrap(master, 1, wrapped) == data_key
    with pytest.raises(SealError):
        unwrap(new_key(), 1, wrapped)
    with pytest.raises(SealError):
        unwrap(master, 2, wrapped)
    with pytest.raises(SealError):
        unwrap(master, 1, flip(wrapped, 20))


def test_master_key_text():
    key = new_key()
    assert decode_master(encode_master(key) + "\n") == key
    assert fingerprint(key) == fingerprint(decode_master(encode_master(key))) != fingerprint(new_key())
    assert len(fingerprint(key)) == 16
    for bad in ("", "not base64!", encode_master(key[:16])):
        with pytest.raises(ValueError, match="32 bytes"):
            decode_master(bad)


def test_the_stored_form_round_trips_and_malformed_ones_are_refused(keys):
    sealed = keys.seal(API_KEY, SECRET)
    assert SealedSecret.from_bytes(sealed.to_bytes()) == sealed
    assert stored_secret(sealed.to_bytes()) == sealed and stored_secret(SECRET) == Secret(SECRET)
    cmd = C.CreateKey("fund", API_KEY, sealed, 3)
    raw = msgspec.msgpack.encode(cmd, enc_hook=secret_enc_hook)
    assert msgspec.msgpack.decode(raw, type=C.ANY_COMMAND, dec_hook=secret_dec_hook) == cmd
    assert SECRET not in repr(sealed) and SECRET not in repr(cmd)
    blob = sealed.to_bytes()
    for bad in (blob[:20], b"\x02" + blob[1:]):
        with pytest.raises(ValueError):
            SealedSecret.from_bytes(bad)
    with pytest.raises(msgspec.ValidationError):  # a journal record holding a malformed value
        msgspec.msgpack.decode(msgspec.msgpack.encode(["key", "fund", API_KEY, blob[:20], 3]), type=C.ANY_COMMAND,
                               dec_hook=secret_dec_hook)
