"""Secrets as values: a string that never prints, and an API secret sealed at rest.

:class:`Secret`: ``str()``, ``repr()``, f-strings and ``%s`` all give ``***``; the real
value is only available through :meth:`Secret.reveal`, so a secret cannot reach a log
line by accident. Hash and equality are those of the underlying text.

:class:`SealedSecret`: an API secret encrypted (AES-GCM) with one of the data directory's
data keys, bound to its ``api_key``. The edge seals a key's secret before it becomes a
command (``ceres.crypto``), so the journal, snapshots and the engine hold only this
opaque value; the authenticator unseals it. Its stored form is one byte string::

    version 1 (0x01) | key_id 4 (data key generation, big-endian) | nonce 12 | ciphertext + tag

Both are a :class:`StoredSecret`: what a ``CreateKey`` command and an ``ApiKey`` carry.
Journals written before sealing hold plain secrets (MessagePack text); sealed ones are
MessagePack binary, so the hooks below tell the two apart and both keep decoding.
"""

from __future__ import annotations

import hmac
import struct

REDACTED = "***"
SECRET_CHARS = 32  # API.md section 2: a secret is 32 random characters
SEALED_VERSION = 1
NONCE_BYTES = 12
TAG_BYTES = 16
_HEAD = struct.Struct(">BI")


class StoredSecret:
    """A key's secret as commands and the engine hold it: :class:`Secret` (plain; journals
    from before sealing, and tests) or :class:`SealedSecret`."""

    __slots__ = ()


class Secret(str, StoredSecret):
    __slots__ = ()

    def __new__(cls, value: object = "") -> Secret:
        # str(value) of a Secret is the redacted text: wrap its real value instead
        if isinstance(value, Secret):
            value = value.reveal()
        return super().__new__(cls, value)

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return REDACTED

    def __format__(self, spec: str) -> str:
        return REDACTED

    def reveal(self) -> str:
        return str.__str__(self)

    def equals(self, other: str) -> bool:
        """Constant-time comparison with ``other``."""
        return hmac.compare_digest(self.reveal().encode(), str(other).encode())


class SealedSecret(StoredSecret):
    """Ciphertext of one API secret under data key ``key_id`` (opaque to the engine)."""

    __slots__ = ("ciphertext", "key_id", "nonce")

    def __init__(self, key_id: int, nonce: bytes, ciphertext: bytes) -> None:
        if not 0 < key_id < 1 << 32 or len(nonce) != NONCE_BYTES or len(ciphertext) <= TAG_BYTES:
            raise ValueError("malformed sealed secret")
        self.key_id = key_id
        self.nonce = bytes(nonce)
        self.ciphertext = bytes(ciphertext)

    def to_bytes(self) -> bytes:
        return _HEAD.pack(SEALED_VERSION, self.key_id) + self.nonce + self.ciphertext

    @classmethod
    def from_bytes(cls, data: bytes) -> SealedSecret:
        if len(data) <= _HEAD.size + NONCE_BYTES + TAG_BYTES:
            raise ValueError("malformed sealed secret: too short")
        version, key_id = _HEAD.unpack_from(data)
        if version != SEALED_VERSION:
            raise ValueError(f"sealed secret of unknown version {version}")
        start = _HEAD.size + NONCE_BYTES
        return cls(key_id, data[_HEAD.size:start], data[start:])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SealedSecret):
            return NotImplemented
        return (self.key_id, self.nonce, self.ciphertext) == (other.key_id, other.nonce, other.ciphertext)

    def __hash__(self) -> int:
        return hash((self.key_id, self.nonce, self.ciphertext))

    def __repr__(self) -> str:
        return f"SealedSecret(key_id={self.key_id}, {len(self.ciphertext)} bytes)"


def stored_secret(value: object) -> StoredSecret:
    """The :class:`StoredSecret` a decoded journal or snapshot value stands for: text is a
    plain secret (written before sealing), bytes a sealed one."""
    if isinstance(value, StoredSecret):
        return value
    if isinstance(value, str):
        return Secret(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return SealedSecret.from_bytes(bytes(value))
    raise ValueError(f"not a stored secret: {type(value).__name__}")


def secret_enc_hook(obj: object) -> object:
    """msgspec ``enc_hook``: plain Secrets as their text (journals from before sealing and
    tests), sealed ones as their bytes (journal, snapshot)."""
    if isinstance(obj, Secret):
        return obj.reveal()
    if isinstance(obj, SealedSecret):
        return obj.to_bytes()
    raise NotImplementedError(f"cannot encode {type(obj).__name__}")


def secret_dec_hook(typ: type, obj: object) -> object:
    """msgspec ``dec_hook``: text decodes to a :class:`Secret`, bytes to a :class:`SealedSecret`."""
    if typ in (StoredSecret, Secret, SealedSecret):
        value = stored_secret(obj)
        if isinstance(value, typ):
            return value
    raise NotImplementedError(f"cannot decode {typ!r}")
