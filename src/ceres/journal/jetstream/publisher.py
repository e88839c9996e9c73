"""The journal's writer on a JetStream stream: frames published in order by one writer, fenced.

Each frame is a core-NATS request to the stream's subject (nats-py 2.16's ``publish_async``
never resolves a rejected publish, nats.py issue 985; a request gets the stream's answer either
way), with headers:

* ``Nats-Expected-Last-Sequence``: the stream sequence the frame before it got — so a frame is
  stored only right after its predecessor, and a second writer (or a deposed one whose frames
  are still in flight) is refused by the stream itself;
* ``Ceres-Epoch``: the writer's epoch; readers ignore frames of an epoch older than the newest
  they have seen (``Nats-Expected-Last-Sequence`` alone is not a fence: a deposed writer's
  in-flight frames can land after the new leader's first — see ``shared/reference/scale-out.md``);
* ``Nats-Msg-Id``: ``<epoch>-<last record seq>``, so a publish the stream got twice is stored once.

Up to ``window`` frames are in flight (the stream acks them in order); durable points are
reported in submission order through ``on_durable`` (the frame's last record seq). The first
refusal, timeout or lost connection stops the publisher for good: ``on_failure`` gets it,
nothing submitted after it is reported durable, and every later ``submit`` fails at once — the
owner must re-read the stream's tail before anything is written again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import Callable
from typing import Any

EXPECTED_LAST = "Nats-Expected-Last-Sequence"
EPOCH = "Ceres-Epoch"
MSG_ID = "Nats-Msg-Id"


class Fenced(Exception):
    """The stream refused a frame: another writer has written since (or the epoch is stale)."""


class PublishFailed(Exception):
    """No answer in time, or the connection failed: the frame's outcome is unknown."""


def ack_seq(data: bytes) -> int:
    """The stream sequence of a publish ack; raises for the stream's error answers."""
    try:
        reply: dict[str, Any] = json.loads(data)
    except ValueError:
        raise PublishFailed(f"not a JetStream ack: {data[:200]!r}") from None
    error = reply.get("error")
    if error:
        # 10071: wrong last sequence (another writer wrote in between)
        if error.get("err_code") == 10071:
            raise Fenced(f"the stream refused the frame: {error.get('description')}")
        raise PublishFailed(f"the stream refused the frame: {error}")
    if "seq" not in reply:
        raise PublishFailed(f"not a JetStream ack: {reply}")
    return int(reply["seq"])


class FramePublisher:
    def __init__(self, nc: Any, subject: str, *, epoch: int, last_stream_seq: int,
                 on_durable: Callable[[int], None], on_failure: Callable[[BaseException], None],
                 window: int = 16, timeout: float = 5.0) -> None:
        self.nc = nc
        self.subject = subject
        self.epoch = epoch
        self.window = window
        self.timeout = timeout
        self.on_durable = on_durable
        self.on_failure = on_failure
        self.failed: BaseException | None = None
        self.stream_seq = last_stream_seq  # the stream sequence the last submitted frame will get
        self.published = 0
        self._slots = asyncio.Semaphore(window)
        self._pending: deque[tuple[int, asyncio.Task[int]]] = deque()
        self._reporter: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()  # nothing submitted is waiting to be reported
        self._idle.set()

    def submit(self, frame: bytes, last_seq: int) -> None:
        """Queue ``frame`` (records up to ``last_seq``) after the previously submitted one."""
        if self.failed is not None:
            raise PublishFailed(f"the publisher stopped: {self.failed}")
        expected = self.stream_seq
        self.stream_seq += 1
        headers = {EXPECTED_LAST: str(expected), EPOCH: str(self.epoch), MSG_ID: f"{self.epoch}-{last_seq}"}
        task = asyncio.ensure_future(self._send(frame, headers, expected + 1))
        self._pending.append((last_seq, task))
        self._idle.clear()
        if self._reporter is None:
            self._reporter = asyncio.ensure_future(self._report())
        self._wake.set()

    async def _send(self, frame: bytes, headers: dict[str, str], want: int) -> int:
        async with self._slots:
            if self.failed is not None:
                raise PublishFailed(f"the publisher stopped: {self.failed}")
            try:
                msg = await self.nc.request(self.subject, frame, timeout=self.timeout, headers=headers)
            except Exception as exc:  # nats-py: TimeoutError, NoRespondersError, ConnectionClosedError...
                raise PublishFailed(f"{type(exc).__name__}: {exc}") from exc
            got = ack_seq(msg.data)
            if got != want:  # a duplicate (Nats-Msg-Id) answers the sequence stored first
                raise Fenced(f"the frame was stored as stream seq {got}, expected {want}")
            return got

    async def _report(self) -> None:
        while True:
            while not self._pending:
                self._wake.clear()
                await self._wake.wait()
            last_seq, task = self._pending[0]
            try:
                await task
            except BaseException as exc:
                self._fail(exc)
                return
            self._pending.popleft()
            self.published += 1
            self.on_durable(last_seq)
            if not self._pending:
                self._idle.set()

    def _fail(self, exc: BaseException) -> None:
        self.failed = exc
        for _, task in self._pending:
            task.cancel()
        self._pending.clear()
        self._idle.set()
        self.on_failure(exc)

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until every submitted frame is reported (or the publisher failed)."""
        async with asyncio.timeout(timeout):
            await self._idle.wait()

    async def close(self) -> None:
        if self._reporter is not None:
            self._reporter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reporter
        for _, task in self._pending:
            task.cancel()
