"""The keyring file and master key files: created private, opened only by their master
key, rotated so that a crash at any step leaves a keyring the key file on disk opens."""

from __future__ import annotations

import stat

import pytest

from ceres.crypto import keyring
from ceres.crypto.keyring import KeyringError, MasterKey
from ceres.crypto.sealing import new_key

API_KEY = "bGppXpZqNrzVOptf"
SECRET = "bcBFnn3GbFz1cB73f5TkJa8P5gbrFdgt"


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_default_master_file_is_beside_the_data_directory(tmp_path):
    root = tmp_path / "ceres-data"
    assert keyring.default_master_file(root) == tmp_path / "ceres-data.master-key"


def test_create_then_load_with_the_same_master_key_only(tmp_path):
    master = keyring.create_master_file(tmp_path / "m.key")
    assert mode(tmp_path / "m.key") == 0o600
    keys = keyring.create(tmp_path, master)
    assert mode(keyring.keyring_path(tmp_path)) == 0o600
    sealed = keys.seal(API_KEY, SECRET)
    again = keyring.load(tmp_path, keyring.read_master_file(tmp_path / "m.key"))
    assert again.unseal(API_KEY, sealed).reveal() == SECRET
    with pytest.raises(KeyringError, match=f"does not open .* fingerprint {master.fingerprint}"):
        keyring.load(tmp_path, MasterKey(new_key(), "CERES_MASTER_KEY"))


def test_a_master_key_file_is_never_overwritten(tmp_path):
    path = tmp_path / "m.key"
    first = keyring.create_master_file(path)
    with pytest.raises(KeyringError, match="cannot create"):
        keyring.create_master_file(path)
    assert keyring.read_master_file(path).key == first.key


def test_a_damaged_keyring_or_key_file_is_refused_with_its_name(tmp_path):
    master = keyring.create_master_file(tmp_path / "m.key")
    keyring.create(tmp_path, master)
    path = keyring.keyring_path(tmp_path)
    text = path.read_text()
    wrapped = text.split('"1": "')[1].split('"')[0]
    path.write_text(text.replace(wrapped, "A" + wrapped[1:] if wrapped[0] != "A" else "B" + wrapped[1:]))
    with pytest.raises(KeyringError, match="damaged"):
        keyring.load(tmp_path, master)
    (tmp_path / "bad.key").write_text("short\n")
    with pytest.raises(KeyringError, match=r"bad\.key: a master key is 32 bytes"):
        keyring.read_master_file(tmp_path / "bad.key")


def test_rotate_rewraps_under_the_new_key_and_the_old_one_stops_opening(tmp_path):
    old = keyring.create_master_file(tmp_path / "m.key")
    sealed = keyring.create(tmp_path, old).seal(API_KEY, SECRET)
    new = MasterKey(new_key(), "next")
    rotated = keyring.rotate(tmp_path, old, new, replace_file=tmp_path / "m.key")
    assert keyring.read_master_file(tmp_path / "m.key").key == new.key and mode(tmp_path / "m.key") == 0o600
    assert rotated.unseal(API_KEY, sealed).reveal() == SECRET
    assert keyring.load(tmp_path, new).unseal(API_KEY, sealed).reveal() == SECRET
    with pytest.raises(KeyringError, match="does not open"):
        keyring.load(tmp_path, old)
    with pytest.raises(KeyringError, match="is the current one"):
        keyring.rotate(tmp_path, new, new)


def test_rotate_with_a_new_data_key_seals_new_secrets_with_it(tmp_path):
    old = MasterKey(new_key(), "env")
    sealed = keyring.create(tmp_path, old).seal(API_KEY, SECRET)
    new = MasterKey(new_key(), "env2")
    keys = keyring.rotate(tmp_path, old, new, new_data_key=True)
    assert keys.current == 2 and keys.generations == {1, 2}
    assert keys.seal(API_KEY, SECRET).key_id == 2
    assert keyring.load(tmp_path, new).unseal(API_KEY, sealed).reveal() == SECRET


def test_a_crash_while_rotating_leaves_a_keyring_the_key_file_on_disk_opens(tmp_path, monkeypatch):
    old = keyring.create_master_file(tmp_path / "m.key")
    sealed = keyring.create(tmp_path, old).seal(API_KEY, SECRET)
    real_write = keyring._write_atomic

    def crash_at_the_key_file(path, data):
        if path.name == "m.key":
            raise OSError("crash (injected) before the key file was replaced")
        real_write(path, data)

    monkeypatch.setattr(keyring, "_write_atomic", crash_at_the_key_file)
    with pytest.raises(OSError, match="injected"):
        keyring.rotate(tmp_path, old, MasterKey(new_key(), "next"), replace_file=tmp_path / "m.key")
    on_disk = keyring.read_master_file(tmp_path / "m.key")
    assert on_disk.key == old.key
    assert keyring.load(tmp_path, on_disk).unseal(API_KEY, sealed).reveal() == SECRET
    monkeypatch.undo()
    # run again: it completes, and only the new key opens
    new = MasterKey(new_key(), "next")
    keyring.rotate(tmp_path, on_disk, new, replace_file=tmp_path / "m.key")
    assert keyring.load(tmp_path, keyring.read_master_file(tmp_path / "m.key")).unseal(API_KEY, sealed).reveal() \
        == SECRET
    with pytest.raises(KeyringError):
        keyring.load(tmp_path, old)
