"""What goes between a gateway and the leading engine over NATS request/reply.

* a **request** is one command, encoded as in the journal (msgpack, secrets as the journal
  keeps them: sealed), with header ``Ceres-Key``: an idempotency key the gateway draws per
  command (a request the leader gets twice is applied once and answered twice);
* a **reply** is ``[seq, kind, value]``: ``seq`` the engine's sequence number after the command
  (the gateway answers only once its replica has applied it), ``kind`` ``"ok"`` with the
  command's result (an order id, ``None``, or ``["cancel", ok, failed]`` for a cancel), or
  ``"err"`` with ``[code, detail, field]`` of the CeresError it raised.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ceres.domain.commands import ANY_COMMAND, Command
from ceres.domain.errors import CeresError, ErrorCode
from ceres.domain.secret import secret_dec_hook, secret_enc_hook
from ceres.engine.core import CancelResult

KEY = "Ceres-Key"
_encoder = msgspec.msgpack.Encoder(enc_hook=secret_enc_hook)
_command = msgspec.msgpack.Decoder(ANY_COMMAND, dec_hook=secret_dec_hook)
_reply = msgspec.msgpack.Decoder(tuple[int, str, Any])
_CODES = {e.code: e for e in ErrorCode}


class BadRequest(Exception):
    """Not a command this engine understands (a gateway of another version?)."""


def encode_command(cmd: Command) -> bytes:
    return _encoder.encode(cmd)


def decode_command(data: bytes) -> Command:
    try:
        cmd: Command = _command.decode(data)
    except (msgspec.DecodeError, NotImplementedError) as exc:
        raise BadRequest(str(exc)) from None
    return cmd


def encode_reply(seq: int, result: Any = None, error: CeresError | None = None) -> bytes:
    if error is not None:
        return _encoder.encode((seq, "err", (error.code, error.detail, error.field)))
    if isinstance(result, CancelResult):
        result = ("cancel", result.ok, [(oid, code.code) for oid, code in result.failed])
    return _encoder.encode((seq, "ok", result))


def decode_reply(data: bytes) -> tuple[int, Any]:
    """``(seq, result)``; a refusal comes back as :class:`Refused` (the caller raises it once
    its replica has applied ``seq``)."""
    seq, kind, value = _reply.decode(data)
    if kind == "err":
        code, detail, field = value
        return seq, Refused(CeresError(_CODES.get(code, ErrorCode.INTERNAL), detail, field))
    if isinstance(value, list) and value and value[0] == "cancel":
        return seq, CancelResult(list(value[1]), [(oid, _CODES.get(code, ErrorCode.INTERNAL))
                                                  for oid, code in value[2]])
    return seq, value


class Refused:
    """A command the engine refused: its error, to raise once the replica has caught up."""

    __slots__ = ("error",)

    def __init__(self, error: CeresError) -> None:
        self.error = error
