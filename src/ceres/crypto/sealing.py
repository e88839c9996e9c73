"""AES-GCM (the ``cryptography`` package) for API secrets at rest: data keys seal secrets,
a master key wraps the data keys.

* :class:`DataKeys` seals a secret with the current data key (a random 96-bit nonce per
  seal; the ``api_key`` and the key's generation are associated data, so a sealed value
  opens only for its own key) and unseals with whichever generation sealed it.
* :func:`wrap` / :func:`unwrap` encrypt a data key under the master key (associated
  data: the generation, so wrapped keys cannot be swapped).
* A master key is 32 random bytes, written as URL-safe base64 (:func:`encode_master`);
  its :func:`fingerprint` (a hash prefix, not the key) names it in files and messages.

Every key is 256 bits from ``os.urandom``. A wrong key, a changed byte or a sealed value
presented for another ``api_key`` is refused (:class:`SealError`), never guessed at.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ceres.domain.secret import NONCE_BYTES, SealedSecret, Secret

KEY_BYTES = 32
_SECRET_AD = b"ceres/api-secret/v1/"
_WRAP_AD = b"ceres/data-key/v1/"
_FINGERPRINT_PREFIX = b"ceres/master-key-fingerprint/v1/"


class SealError(ValueError):
    """A sealed value or wrapped key does not open: wrong key, changed bytes, or sealed
    for another api_key."""


def new_key() -> bytes:
    return os.urandom(KEY_BYTES)


def encode_master(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode("ascii")


def decode_master(text: str) -> bytes:
    """A master key from its text (URL-safe or standard base64 of 32 bytes)."""
    raw = text.strip()
    try:
        key = base64.b64decode(raw.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a master key is 32 bytes written in base64") from None
    if len(key) != KEY_BYTES:
        raise ValueError(f"a master key is 32 bytes written in base64 (this one is {len(key)} bytes)")
    return key


def fingerprint(master: bytes) -> str:
    """16 hex digits naming a master key (a hash of it: says which key, reveals nothing)."""
    return hashlib.sha256(_FINGERPRINT_PREFIX + master).hexdigest()[:16]


def _gen_ad(prefix: bytes, generation: int) -> bytes:
    return prefix + generation.to_bytes(4, "big")


def wrap(master: bytes, generation: int, data_key: bytes) -> bytes:
    """``nonce | ciphertext`` of ``data_key`` under ``master``."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(master).encrypt(nonce, data_key, _gen_ad(_WRAP_AD, generation))


def unwrap(master: bytes, generation: int, wrapped: bytes) -> bytes:
    try:
        key = AESGCM(master).decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], _gen_ad(_WRAP_AD, generation))
    except (InvalidTag, ValueError):
        raise SealError(f"data key {generation} does not open with this master key") from None
    if len(key) != KEY_BYTES:
        raise SealError(f"data key {generation} is not {KEY_BYTES} bytes")
    return key


class DataKeys:
    """The unwrapped data keys by generation; new secrets are sealed with ``current``."""

    def __init__(self, keys: Mapping[int, bytes], current: int) -> None:
        if current not in keys:
            raise ValueError(f"current data key {current} is missing")
        self._aead = {gen: AESGCM(key) for gen, key in keys.items()}
        self.current = current

    @property
    def generations(self) -> frozenset[int]:
        return frozenset(self._aead)

    def seal(self, api_key: str, secret: str) -> SealedSecret:
        nonce = os.urandom(NONCE_BYTES)
        gen = self.current
        data = self._aead[gen].encrypt(nonce, secret.encode(), _gen_ad(_SECRET_AD, gen) + api_key.encode())
        return SealedSecret(gen, nonce, data)

    def unseal(self, api_key: str, sealed: SealedSecret) -> Secret:
        aead = self._aead.get(sealed.key_id)
        if aead is None:
            raise SealError(f"api_key {api_key}: sealed with data key {sealed.key_id}, which the keyring lacks")
        try:
            plain = aead.decrypt(sealed.nonce, sealed.ciphertext,
                                 _gen_ad(_SECRET_AD, sealed.key_id) + api_key.encode())
        except InvalidTag:
            raise SealError(f"api_key {api_key}: the sealed secret does not open (changed, or another key's)") from None
        return Secret(plain.decode())
