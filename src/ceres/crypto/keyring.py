"""The data directory's keyring and the master key files.

``DATA_DIR/keyring.json`` (mode 0600) holds the data keys that seal API secrets, each
encrypted ("wrapped") under a master key; nothing in it opens without that key::

    {"format": 1, "current": 2, "wraps": {"<master fingerprint>": {"1": "<base64>", "2": ...}}}

The master key lives outside the data directory: in ``CERES_MASTER_KEY`` or a key file
(one line of base64, mode 0600). :func:`rotate` re-wraps every data key under a new
master key (optionally adding a new data key generation for secrets sealed from then
on) in three atomic steps, so that a crash at any point leaves a keyring that the key
file then on disk opens: (1) the keyring gets wraps under both keys, (2) the key file is
replaced, (3) the old wraps are dropped. Every file is written to a temporary name,
fsynced, renamed, and the directory fsynced.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ceres.crypto.sealing import DataKeys, SealError, decode_master, encode_master, fingerprint, new_key, unwrap, wrap
from ceres.files import FILE_MODE, fsync_dir, write_replacing

log = logging.getLogger("ceres.keyring")
KEYRING_FILE = "keyring.json"
FORMAT = 1


class KeyringError(Exception):
    """The keys needed to open the data directory's secrets are missing or wrong; the
    message says which and what to do."""


@dataclass(frozen=True)
class MasterKey:
    key: bytes
    source: str              # for messages: "CERES_MASTER_KEY" or the file's path
    path: Path | None = None  # the key file it was read from (None: the environment)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.key)


def default_master_file(data_root: Path) -> Path:
    """``<data dir>.master-key`` beside the data directory (never inside it)."""
    root = data_root.resolve()
    return root.parent / f"{root.name}.master-key"


def parse_master(text: str, source: str, path: Path | None = None) -> MasterKey:
    try:
        return MasterKey(decode_master(text), source, path)
    except ValueError as exc:
        raise KeyringError(f"{source}: {exc}") from None


def read_master_file(path: Path) -> MasterKey:
    try:
        text = path.read_text(encoding="ascii")
        mode = stat.S_IMODE(path.stat().st_mode)
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyringError(f"cannot read the master key file {path}: {exc}") from None
    if mode & 0o077:
        log.warning("master key file %s is readable by others (mode %04o): chmod 600 it", path, mode)
    return parse_master(text, str(path), path)


def _write_atomic(path: Path, data: bytes) -> None:
    write_replacing(path, path.with_name(path.name + ".tmp"), data)


def create_master_file(path: Path) -> MasterKey:
    """A new random master key in ``path`` (0600); refuses to overwrite an existing file."""
    key = new_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except OSError as exc:
        raise KeyringError(f"cannot create the master key file {path}: {exc}") from None
    try:
        os.write(fd, (encode_master(key) + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_dir(path.parent)
    return MasterKey(key, str(path), path)


def keyring_path(root: Path) -> Path:
    return root / KEYRING_FILE


def _read(root: Path) -> dict[str, Any]:
    path = keyring_path(root)
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        if data.get("format") != FORMAT or not isinstance(data.get("wraps"), dict):
            raise ValueError(f"unknown keyring format {data.get('format')!r}")
        return data
    except (OSError, ValueError) as exc:
        raise KeyringError(f"cannot read {path}: {exc}") from None


def _write(root: Path, current: int, keys: dict[int, bytes], masters: list[MasterKey]) -> None:
    wraps = {m.fingerprint: {str(gen): base64.b64encode(wrap(m.key, gen, key)).decode("ascii")
                             for gen, key in sorted(keys.items())} for m in masters}
    body = json.dumps({"format": FORMAT, "current": current, "wraps": wraps}, indent=2) + "\n"
    _write_atomic(keyring_path(root), body.encode())


def _unwrap_all(root: Path, master: MasterKey) -> tuple[int, dict[int, bytes]]:
    data = _read(root)
    wrapped = data["wraps"].get(master.fingerprint)
    if wrapped is None:
        known = ", ".join(sorted(data["wraps"])) or "none"
        raise KeyringError(f"the master key from {master.source} (fingerprint {master.fingerprint}) does not "
                           f"open {keyring_path(root)}, which opens with the master key of fingerprint {known}")
    try:
        keys = {int(gen): unwrap(master.key, int(gen), base64.b64decode(text)) for gen, text in wrapped.items()}
    except (SealError, ValueError) as exc:
        raise KeyringError(f"{keyring_path(root)} is damaged: {exc}") from None
    return int(data["current"]), keys


def exists(root: Path) -> bool:
    return keyring_path(root).exists()


def load(root: Path, master: MasterKey) -> DataKeys:
    current, keys = _unwrap_all(root, master)
    return DataKeys(keys, current)


def create(root: Path, master: MasterKey) -> DataKeys:
    """A new keyring with one data key (generation 1) wrapped under ``master``."""
    keys = {1: new_key()}
    _write(root, 1, keys, [master])
    return DataKeys(keys, 1)


def rotate(root: Path, old: MasterKey, new: MasterKey, *, new_data_key: bool = False,
           replace_file: Path | None = None) -> DataKeys:
    """Re-wrap every data key under ``new`` (and with ``new_data_key`` add a generation
    that seals from now on); ``replace_file``: the key file to overwrite with ``new``."""
    if new.key == old.key:
        raise KeyringError("the new master key is the current one")
    current, keys = _unwrap_all(root, old)
    if new_data_key:
        current = max(keys) + 1
        keys[current] = new_key()
    _write(root, current, keys, [old, new])
    if replace_file is not None:
        _write_atomic(replace_file, (encode_master(new.key) + "\n").encode("ascii"))
    _write(root, current, keys, [new])
    return DataKeys(keys, current)
