"""A string that never prints: API secrets and admin tokens.

``str()``, ``repr()``, f-strings and ``%s`` all give ``***``; the real value is only
available through :meth:`Secret.reveal`, so a secret cannot reach a log line by accident.
Hash and equality are those of the underlying text.
"""

from __future__ import annotations

import hmac

REDACTED = "***"


class Secret(str):
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


def secret_enc_hook(obj: object) -> object:
    """msgspec ``enc_hook``: Secrets are stored as their plain text (journal, snapshot)."""
    if isinstance(obj, Secret):
        return obj.reveal()
    raise NotImplementedError(f"cannot encode {type(obj).__name__}")


def secret_dec_hook(typ: type, obj: object) -> object:
    if typ is Secret and isinstance(obj, str):
        return Secret(obj)
    raise NotImplementedError(f"cannot decode {typ!r}")
