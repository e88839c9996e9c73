"""The leading engine's side of forwarding: commands from gateways, applied and answered.

:class:`CommandServer` subscribes to ``<stream>.cmd`` only while this process leads (standbys do
not, so a request during a failover finds no responder and the gateway says so). Each request
is submitted to the sequencer at once (requests pipeline: the reply is sent when the command is
durable, in whatever order the journal makes them so) and answered with the sequence number
the gateway must see applied before it answers its client; a request carries every command a
gateway's clients submitted in one pass of its loop, and is answered once all are durable.
Idempotency: the futures of the last ``remember`` keys are kept, so a request that arrives
twice (a gateway retrying after no responder was found, or NATS delivering twice) is applied
once and both get the same answer.
Keys are not journaled: a command retried at a *new* leader is a new command (a place with the
same ``client_oid`` is not doubled while its order is open: the engine checks that).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from ceres.cluster.wire import KEY, BadRequest, decode_commands, encode_replies, reply
from ceres.domain.commands import Command
from ceres.domain.errors import CeresError, ErrorCode

log = logging.getLogger("ceres.cluster.leader")
UNKNOWN_OUTCOME = ("the leading engine lost the journal before this command was confirmed; it may have been "
                   "applied: check, or retry (a place with the same client_oid is not doubled while open)")


class CommandServer:
    def __init__(self, nc: Any, subject: str, submit: Callable[[Command], asyncio.Future[Any]],
                 current_seq: Callable[[], int], *, remember: int = 100_000) -> None:
        self.nc = nc
        self.subject = subject
        self.submit = submit
        self.current_seq = current_seq
        self.remember = remember
        self.served = 0
        self.duplicates = 0
        self.answer_s = 0.0  # from a request's arrival to its reply (the command durable)
        self._recent: OrderedDict[str, list[tuple[asyncio.Future[Any], int]]] = OrderedDict()
        self._sub: Any = None
        self._answering: set[asyncio.Future[None]] = set()

    async def start(self) -> None:
        self._sub = await self.nc.subscribe(self.subject, cb=self._on_request)

    async def stop(self) -> None:
        if self._sub is not None:
            sub, self._sub = self._sub, None
            await sub.unsubscribe()

    async def _on_request(self, msg: Any) -> None:
        key = (msg.headers or {}).get(KEY, "")
        known = self._recent.get(key) if key else None
        if known is not None:
            self.duplicates += 1
            pending = known
        else:
            try:
                cmds = decode_commands(msg.data)
            except BadRequest as exc:
                error = CeresError(ErrorCode.BAD_REQUEST, str(exc))
                await msg.respond(encode_replies([reply(self.current_seq(), error=error)]))
                return
            pending = []
            for cmd in cmds:
                fut = self.submit(cmd)
                pending.append((fut, self.current_seq()))  # its seq when applied; the state it was judged on if not
            if key:
                self._recent[key] = pending
                if len(self._recent) > self.remember:
                    self._recent.popitem(last=False)
        self.served += len(pending)
        task = asyncio.ensure_future(self._answer(msg, pending, time.monotonic()))
        self._answering.add(task)
        task.add_done_callback(self._answering.discard)

    async def _answer(self, msg: Any, pending: list[tuple[asyncio.Future[Any], int]], arrived: float) -> None:
        replies = []
        for fut, seq in pending:
            try:
                result = await asyncio.shield(fut)
            except CeresError as exc:
                if exc.error is ErrorCode.JOURNAL_FAILURE:  # its frame may still be in the stream
                    exc = CeresError(ErrorCode.LEADER_UNAVAILABLE, UNKNOWN_OUTCOME)
                replies.append(reply(seq, error=exc))
            except Exception as exc:  # pragma: no cover - the sequencer raises only CeresError
                log.exception("command failed: %s", exc)
                replies.append(reply(seq, error=CeresError(ErrorCode.INTERNAL)))
            else:
                replies.append(reply(seq, result))
        self.answer_s += (time.monotonic() - arrived) * len(pending)
        try:
            await msg.respond(encode_replies(replies))
        except Exception as exc:  # the gateway is gone: it told its clients the outcome is unknown
            log.debug("reply not sent: %s", exc)
