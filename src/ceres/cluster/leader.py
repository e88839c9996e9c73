"""The leading engine's side of forwarding: commands from gateways, applied and answered.

:class:`CommandServer` subscribes to ``<stream>.cmd`` only while this process leads (standbys do
not, so a request during a failover finds no responder and the gateway says so). Each request
is submitted to the sequencer at once (requests pipeline: the reply is sent when the command is
durable, in whatever order the journal makes them so) and answered with the sequence number
the gateway must see applied before it answers its client. Idempotency: the futures of the last
``remember`` keys are kept, so a request that arrives twice (a gateway retrying after no
responder was found, or NATS delivering twice) is applied once and both get the same answer.
Keys are not journaled: a command retried at a *new* leader is a new command (a place with the
same ``client_oid`` is not doubled while its order is open: the engine checks that).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from ceres.cluster.wire import KEY, BadRequest, decode_command, encode_reply
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
        self._recent: OrderedDict[str, tuple[asyncio.Future[Any], int]] = OrderedDict()
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
            fut, seq = known
        else:
            try:
                cmd = decode_command(msg.data)
            except BadRequest as exc:
                await msg.respond(encode_reply(self.current_seq(), error=CeresError(ErrorCode.BAD_REQUEST, str(exc))))
                return
            fut = self.submit(cmd)
            seq = self.current_seq()  # the command's seq when applied; the state it was judged on when refused
            if key:
                self._recent[key] = (fut, seq)
                if len(self._recent) > self.remember:
                    self._recent.popitem(last=False)
        self.served += 1
        task = asyncio.ensure_future(self._answer(msg, fut, seq))
        self._answering.add(task)
        task.add_done_callback(self._answering.discard)

    async def _answer(self, msg: Any, fut: asyncio.Future[Any], seq: int) -> None:
        try:
            result = await asyncio.shield(fut)
        except CeresError as exc:
            if exc.error is ErrorCode.JOURNAL_FAILURE:  # its frame may still be in the stream
                exc = CeresError(ErrorCode.LEADER_UNAVAILABLE, UNKNOWN_OUTCOME)
            data = encode_reply(seq, error=exc)
        except Exception as exc:  # pragma: no cover - the sequencer raises only CeresError
            log.exception("command failed: %s", exc)
            data = encode_reply(seq, error=CeresError(ErrorCode.INTERNAL))
        else:
            data = encode_reply(seq, result)
        try:
            await msg.respond(data)
        except Exception as exc:  # the gateway is gone: it told its client the outcome is unknown
            log.debug("reply not sent: %s", exc)
