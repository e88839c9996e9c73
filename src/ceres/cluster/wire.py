"""What goes between a gateway and the leading engine over NATS request/reply.

* a **request** is a list of commands (those a gateway's clients submitted in one pass of its
  event loop, at most ``MAX_BATCH``), encoded as in the journal (msgpack, secrets as the
  journal keeps them: sealed), with header ``Ceres-Key``: an idempotency key the gateway draws
  per request (a request the leader gets twice is applied once and answered twice);
* a **reply** is a list with one ``[seq, kind, value]`` per command, in order: ``seq`` the
  engine's sequence number after the command (the gateway answers only once its replica has
  applied it), ``kind`` ``"ok"`` with the command's result (an order id, ``None``, or
  ``["cancel", ok, failed]`` for a cancel), or ``"err"`` with ``[code, detail, field]`` of the
  CeresError it raised.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from ceres.domain.commands import ANY_COMMAND, Command
from ceres.domain.errors import CeresError, ErrorCode
from ceres.domain.secret import secret_dec_hook, secret_enc_hook
from ceres.engine.core import CancelResult

KEY = "Ceres-Key"
MAX_BATCH = 256
_encoder = msgspec.msgpack.Encoder(enc_hook=secret_enc_hook)
_commands = msgspec.msgpack.Decoder(list[ANY_COMMAND], dec_hook=secret_dec_hook)
_replies = msgspec.msgpack.Decoder(list[tuple[int, str, Any]])
Reply = tuple[int, str, Any]
_CODES = {e.code: e for e in ErrorCode}


class BadRequest(Exception):
    """Not a command this engine understands (a gateway of another version?)."""


def encode_commands(cmds: list[Command]) -> bytes:
    return _encoder.encode(cmds)


def decode_commands(data: bytes) -> Sequence[Command]:
    try:
        cmds: Sequence[Command] = _commands.decode(data)
    except (msgspec.DecodeError, NotImplementedError) as exc:
        raise BadRequest(str(exc)) from None
    if len(cmds) > MAX_BATCH:
        raise BadRequest(f"at most {MAX_BATCH} commands per request")
    return cmds


def reply(seq: int, result: Any = None, error: CeresError | None = None) -> Reply:
    if error is not None:
        return (seq, "err", (error.code, error.detail, error.field))
    if isinstance(result, CancelResult):
        result = ("cancel", result.ok, [(oid, code.code) for oid, code in result.failed])
    return (seq, "ok", result)


def encode_replies(replies: list[Reply]) -> bytes:
    return _encoder.encode(replies)


def decode_replies(data: bytes) -> list[tuple[int, Any]]:
    """``(seq, result)`` per command; a refusal comes back as :class:`Refused` (the caller
    raises it once its replica has applied ``seq``)."""
    return [_result(*r) for r in _replies.decode(data)]


def _result(seq: int, kind: str, value: Any) -> tuple[int, Any]:
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
