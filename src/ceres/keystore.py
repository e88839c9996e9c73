"""The keys that seal API secrets at rest, found from the configuration and environment,
for the server and the CLI (``ceres.crypto`` does the cryptography and the files).

Where the master key comes from, first match wins: ``CERES_MASTER_KEY`` (base64 of 32
bytes); the file ``[security] master_key_file``; by default ``DATA_DIR.master-key``
beside the data directory. :func:`open_keys` opens the data directory's keyring with it,
or, when the data directory has none yet, creates one (and the default or configured key
file if it does not exist: the only time a master key is generated). A keyring that the
key does not open, or a missing key or keyring while secrets are sealed, is a
:class:`KeyringError`: the server refuses to start rather than make a second keyring.

:func:`seal_stored_secrets` (``ceres keys seal``) seals the secrets that older versions
journaled in plain text; :func:`rotate_master` (``ceres keys rotate-master``) re-wraps
the data keys under a new master key. Both run with the journal's ownership held.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ceres.config import Config
from ceres.crypto import keyring
from ceres.crypto.keyring import KeyringError, MasterKey
from ceres.crypto.sealing import DataKeys, new_key
from ceres.domain.secret import SealedSecret, Secret, StoredSecret
from ceres.engine.core import Engine
from ceres.journal.file.reseal import ResealReport, replace_key_secrets
from ceres.pipeline.journal import Journal
from ceres.pipeline.recovery import recover

ENV_MASTER = "CERES_MASTER_KEY"
ENV_NEW_MASTER = "CERES_NEW_MASTER_KEY"

__all__ = ["KeyringError", "OpenKeys", "master_file", "open_keys", "rotate_master", "seal_stored_secrets"]


@dataclass(frozen=True)
class OpenKeys:
    keys: DataKeys
    master: MasterKey
    generated: Path | None  # a master key file generated now (first start)


def master_file(cfg: Config) -> Path:
    configured = cfg.security.master_key_file
    return Path(configured) if configured else keyring.default_master_file(cfg.data_path)


def find_master(cfg: Config, env: Mapping[str, str]) -> MasterKey | None:
    if env.get(ENV_MASTER):
        return keyring.parse_master(env[ENV_MASTER], ENV_MASTER)
    path = master_file(cfg)
    return keyring.read_master_file(path) if path.exists() else None


def sealed_generations(engine: Engine) -> set[int]:
    return {k.secret.key_id for k in engine.keys.values() if isinstance(k.secret, SealedSecret)}


def plain_keys(engine: Engine) -> list[str]:
    """Keys whose secret is still stored in plain text (created before sealing)."""
    return sorted(name for name, k in engine.keys.items() if isinstance(k.secret, Secret))


def open_keys(cfg: Config, engine: Engine, env: Mapping[str, str] | None = None) -> OpenKeys:
    """The data keys of ``cfg``'s data directory, for the secrets ``engine`` holds."""
    env = os.environ if env is None else env
    root = cfg.data_path
    needed = sealed_generations(engine)
    master = find_master(cfg, env)
    generated = None
    if keyring.exists(root):
        if master is None:
            raise KeyringError(f"no master key: the API secrets in {root} are sealed; set {ENV_MASTER} or put "
                               f"the key file at {master_file(cfg)} ([security] master_key_file)")
        keys = keyring.load(root, master)
    elif needed:
        raise KeyringError(f"{keyring.keyring_path(root)} is missing, but the journal holds secrets sealed "
                           "with it: restore it from a backup of the data directory")
    else:
        if master is None:
            master = keyring.create_master_file(master_file(cfg))
            generated = master.path
        keys = keyring.create(root, master)
    missing = needed - keys.generations
    if missing:
        raise KeyringError(f"{keyring.keyring_path(root)} lacks data key(s) {sorted(missing)} that sealed "
                           "secrets in the journal: restore it from a backup of the data directory")
    return OpenKeys(keys, master, generated)


def seal_stored_secrets(cfg: Config, journal: Journal, make_engine: Callable[[], Engine],
                        env: Mapping[str, str] | None = None) -> tuple[ResealReport, list[str]]:
    """Seal every plain secret in the journal and snapshots (ownership held). Returns
    what was rewritten and the keys sealed now."""
    if cfg.journal.backend != "file":
        raise KeyringError(f"`ceres keys seal` rewrites journal files; the {cfg.journal.backend!r} backend "
                           "has none to rewrite")
    engine = recover(journal, make_engine).engine
    keys = open_keys(cfg, engine, env).keys
    plain = plain_keys(engine)
    wanted: dict[str, StoredSecret] = {}
    for name, key in engine.keys.items():
        secret = key.secret
        wanted[name] = keys.seal(name, secret.reveal()) if isinstance(secret, Secret) else secret
    return replace_key_secrets(cfg.data_path, wanted), plain


def rotate_master(cfg: Config, *, new_key_file: Path | None = None, new_data_key: bool = False,
                  env: Mapping[str, str] | None = None) -> tuple[MasterKey, DataKeys]:
    """Re-wrap the data keys under a new master key (ownership held). The new key comes
    from ``CERES_NEW_MASTER_KEY``, or ``new_key_file`` (read, or created if absent), or
    else replaces the current key file in place."""
    env = os.environ if env is None else env
    root = cfg.data_path
    if not keyring.exists(root):
        raise KeyringError(f"{keyring.keyring_path(root)} does not exist: nothing to rotate (start the server once)")
    old = find_master(cfg, env)
    if old is None:
        raise KeyringError(f"no master key: set {ENV_MASTER} or put the key file at {master_file(cfg)}")
    replace = None
    if env.get(ENV_NEW_MASTER):
        new = keyring.parse_master(env[ENV_NEW_MASTER], ENV_NEW_MASTER)
    elif new_key_file is not None:
        new = (keyring.read_master_file(new_key_file) if new_key_file.exists()
               else keyring.create_master_file(new_key_file))
    elif old.path is not None:
        new, replace = MasterKey(new_key(), str(old.path), old.path), old.path
    else:
        raise KeyringError(f"the master key comes from {ENV_MASTER}: give the new one in {ENV_NEW_MASTER} "
                           "or --new-key-file FILE")
    return new, keyring.rotate(root, old, new, new_data_key=new_data_key, replace_file=replace)
