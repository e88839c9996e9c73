"""A gateway's ``submit``: commands forwarded to the leading engine over NATS request/reply.

The gateway validates and authenticates as a single server does, then calls ``submit(cmd)``
exactly where a single server calls its sequencer. :class:`RemoteSubmit` sends the commands
submitted in one pass of the event loop as one request (as the sequencer makes them one
journal frame) with a fresh idempotency key, waits for the leader's reply, then waits until its
own replica (``pipeline.replica``, following the journal) has applied the replies' sequence
numbers, so the answer and every read after it show the command. What a client sees when no engine leads:

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

from ceres.cluster.wire import KEY, MAX_BATCH, Refused, decode_replies, encode_commands
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
        self.requests = 0
        self.request_s = 0.0  # time spent waiting for the leader's replies (per request)
        self.catch_up_s = 0.0  # ... then for this gateway's replica to apply the commands
        self._queue: list[tuple[Command, asyncio.Future[Any]]] = []
        self._scheduled = False
        self._sending: set[asyncio.Future[None]] = set()

    def counters(self) -> dict[str, Callable[[], float]]:
        """For ``/metrics``."""
        return {"forwarded_total": lambda: self.forwarded, "forward_requests_total": lambda: self.requests,
                "leader_unavailable_total": lambda: self.unavailable,
                "forward_seconds_total": lambda: self.request_s, "replica_catch_up_seconds_total":
                lambda: self.catch_up_s}

    def __call__(self, cmd: Command) -> asyncio.Future[Any]:
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append((cmd, fut))
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)
        return fut

    def _flush(self) -> None:
        """Everything submitted in this pass of the loop, as requests of at most MAX_BATCH."""
        self._scheduled = False
        queue, self._queue = self._queue, []
        for i in range(0, len(queue), MAX_BATCH):
            task = asyncio.ensure_future(self._forward(queue[i:i + MAX_BATCH]))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _forward(self, batch: list[tuple[Command, asyncio.Future[Any]]]) -> None:
        try:
            results = await self._request([cmd for cmd, _ in batch])
            replied = time.monotonic()
            await self.reached(max(seq for seq, _ in results), self.timeout_s)
            self.catch_up_s += time.monotonic() - replied
        except (TimeoutError, CeresError) as exc:
            error = exc if isinstance(exc, CeresError) else CeresError(
                ErrorCode.LEADER_UNAVAILABLE, "the command was applied, but this gateway has not read it back from "
                "the journal yet: check before retrying")
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(error)
            return
        for (_, fut), (_, result) in zip(batch, results, strict=True):
            if fut.done():
                continue
            if isinstance(result, Refused):
                fut.set_exception(result.error)
            else:
                fut.set_result(result)

    async def _request(self, cmds: list[Command]) -> list[tuple[int, Any]]:
        data = encode_commands(cmds)
        headers = {KEY: uuid.uuid4().hex}
        started = time.monotonic()
        give_up = started + self.failover_wait_s
        while True:
            try:
                msg = await self.nc.request(self.subject, data, timeout=self.timeout_s, headers=headers)
                break
            except NoRespondersError:
                if time.monotonic() >= give_up:
                    self.unavailable += len(cmds)
                    raise CeresError(ErrorCode.LEADER_UNAVAILABLE, NO_LEADER) from None
                await asyncio.sleep(0.05)
            except (TimeoutError, NatsTimeout):
                self.unavailable += len(cmds)
                raise CeresError(ErrorCode.LEADER_UNAVAILABLE, NO_ANSWER) from None
        self.forwarded += len(cmds)
        self.requests += 1
        self.request_s += time.monotonic() - started
        results = decode_replies(msg.data)
        if len(results) != len(cmds):  # a leader that could not read the request
            raise results[0][1].error if results and isinstance(results[0][1], Refused) else CeresError(
                ErrorCode.INTERNAL, "the leading engine answered a request it was not sent")
        return results
