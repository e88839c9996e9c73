"""A gateway's ``submit``: commands forwarded to the leading engine over NATS request/reply.

The gateway validates and authenticates as a single server does, then calls ``submit(cmd)``
exactly where a single server calls its sequencer. :class:`RemoteSubmit` sends the command with
a fresh idempotency key, waits for the leader's reply, then waits until its own replica
(``pipeline.replica``, following the journal) has applied the reply's sequence number, so the
answer and every read after it show the command. What a client sees when no engine leads:

* no responder (the leader died, a standby has not taken over yet): nothing was applied; the
  request is retried for up to ``failover_wait_s``, then answered 50004 (retry);
* no reply in time, or the leader lost the journal: the command may have been applied: 50004
  saying so (a place retried with the same ``client_oid`` is not doubled while the order is
  open).

Never an answer the journal does not back: a reply comes only after the command is durable.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from ceres.cluster.wire import KEY, Refused, decode_reply, encode_command
from ceres.domain.commands import Command
from ceres.domain.errors import CeresError, ErrorCode

NO_LEADER = "no engine leads now (a failover is under way); nothing was applied: retry"
NO_ANSWER = ("the leading engine did not answer in time; the command may have been applied: check, or retry "
             "(a place with the same client_oid is not doubled while open)")


class RemoteSubmit:
    def __init__(self, nc: Any, subject: str, reached: Callable[[int, float], Awaitable[None]], *,
                 timeout_s: float = 5.0, failover_wait_s: float = 2.0) -> None:
        self.nc = nc
        self.subject = subject
        self.reached = reached
        self.timeout_s = timeout_s
        self.failover_wait_s = failover_wait_s
        self.forwarded = 0
        self.unavailable = 0

    def __call__(self, cmd: Command) -> asyncio.Future[Any]:
        return asyncio.ensure_future(self._forward(cmd))

    async def _forward(self, cmd: Command) -> Any:
        data = encode_command(cmd)
        headers = {KEY: uuid.uuid4().hex}
        give_up = time.monotonic() + self.failover_wait_s
        while True:
            try:
                msg = await self.nc.request(self.subject, data, timeout=self.timeout_s, headers=headers)
                break
            except NoRespondersError:
                if time.monotonic() >= give_up:
                    self.unavailable += 1
                    raise CeresError(ErrorCode.LEADER_UNAVAILABLE, NO_LEADER) from None
                await asyncio.sleep(0.05)
            except (TimeoutError, NatsTimeout):
                self.unavailable += 1
                raise CeresError(ErrorCode.LEADER_UNAVAILABLE, NO_ANSWER) from None
        self.forwarded += 1
        seq, result = decode_reply(msg.data)
        try:
            await self.reached(seq, self.timeout_s)
        except TimeoutError:
            raise CeresError(ErrorCode.LEADER_UNAVAILABLE, "the command was applied, but this gateway has not "
                             "read it back from the journal yet: check before retrying") from None
        if isinstance(result, Refused):
            raise result.error
        return result
