"""Following the stream while another process writes it (hot standby engines, gateways and
projectors, issue 12), and the new owner's claim on its tail.

* :class:`StreamTail` continues from where recovery stopped (a :class:`TailPosition`: the last
  stream sequence read, the newest epoch seen, the last record seq) with an ordered push
  consumer on the journal's loop thread, and hands every message's admitted frames, in order,
  to ``on_frames(frames, stream_seq)`` on the caller's loop (an empty list for a message the
  epoch fence skips, or an owner's claim marker, so the caller always knows how far the stream
  has been read). nats-py resets an ordered consumer that misses heartbeats; a watchdog also
  recreates it from the position if the stream grows while nothing arrives.
* :func:`claim` is how a new owner fences the old one out before it writes: an empty message of
  its epoch stored right after the tail it has read (``Nats-Expected-Last-Sequence``). Once it is
  stored, readers skip every frame of an older epoch after it; if the stream grew in between (the
  old owner's last frames landed), the claim is refused and the caller reads those first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ceres.journal.jetstream.fence import EpochFence
from ceres.journal.jetstream.publisher import EPOCH, EXPECTED_LAST, MSG_ID, Fenced, PublishFailed, ack_seq
from ceres.journal.jetstream.stream import Message
from ceres.pipeline.frames import Frame, JournalDamaged, scan

if TYPE_CHECKING:
    from ceres.journal.jetstream.journal import JetStreamJournal

log = logging.getLogger("ceres.journal.tail")
OnFrames = Callable[[list[Frame], int], None]
WATCHDOG_S = 2.0


@dataclass
class TailPosition:
    stream_seq: int = 0  # the last stream message read
    epoch: int = 0  # the newest epoch seen (the fence)
    record_seq: int = 0  # the last record seq of the journal read


class StreamTail:
    def __init__(self, journal: JetStreamJournal, position: TailPosition, on_frames: OnFrames,
                 on_error: Callable[[BaseException], None]) -> None:
        self.journal = journal
        self.position = TailPosition(position.stream_seq, position.epoch, position.record_seq)
        self._fence = EpochFence(position.epoch)
        self._on_frames = on_frames
        self._on_error = on_error
        self._main = asyncio.get_running_loop()
        self._sub: Any = None
        self._watchdog: asyncio.Future[None] | None = None
        self._stopped = False
        journal.run(self._start())

    async def _start(self) -> None:
        await self._subscribe()
        self._watchdog = asyncio.ensure_future(self._watch())

    async def _subscribe(self) -> None:
        self._sub = await self.journal.stream.subscribe_from(self.position.stream_seq + 1, self._on_msg)

    async def _on_msg(self, delivered: Any) -> None:
        if self._stopped:
            return
        pos = self.position
        msg = Message.of(delivered)
        stream_seq = msg.stream_seq
        if stream_seq <= pos.stream_seq:
            return  # delivered again after a reset
        frames: list[Frame] = []
        if self._fence.admit(msg.epoch):
            name = f"{self.journal.stream.name} message {stream_seq}"
            result = scan(msg.data, name, pos.record_seq)
            if result.torn:
                self._fail(JournalDamaged(name, result.valid_end, pos.record_seq, "a message cut short"))
                return
            frames = [f for f in result.frames if f.first_seq + f.count - 1 > pos.record_seq]
            if frames:
                pos.record_seq = frames[-1].first_seq + frames[-1].count - 1
        pos.stream_seq = stream_seq
        pos.epoch = self._fence.newest
        self._main.call_soon_threadsafe(self._on_frames, frames, stream_seq)

    def _fail(self, exc: BaseException) -> None:
        self._stopped = True
        self._main.call_soon_threadsafe(self._on_error, exc)

    async def _watch(self) -> None:
        """Recreate the consumer if the stream holds more than was delivered for two checks."""
        stalled_at = -1
        while not self._stopped:
            await asyncio.sleep(WATCHDOG_S)
            try:
                _, last = await self.journal.stream.bounds()
            except Exception as exc:  # the servers are away: nats-py reconnects; check again later
                log.debug("tail watchdog: %s", exc)
                continue
            seen = self.position.stream_seq
            if last <= seen:
                stalled_at = -1
            elif stalled_at == seen:
                log.warning("journal tail stalled at stream seq %d (stream at %d): resubscribing", seen, last)
                with contextlib.suppress(Exception):
                    await self._sub.unsubscribe()
                with contextlib.suppress(Exception):
                    await self._subscribe()
                stalled_at = -1
            else:
                stalled_at = seen

    def stop(self) -> None:
        self._stopped = True

        async def stop() -> None:
            if self._watchdog is not None:
                self._watchdog.cancel()
            if self._sub is not None:
                with contextlib.suppress(Exception):
                    await self._sub.unsubscribe()
        if self.journal.bg.loop.is_running():
            self.journal.run(stop())


async def claim(journal: JetStreamJournal, after_stream_seq: int, epoch: int) -> int | None:
    """Store this owner's empty claim marker right after stream seq ``after_stream_seq``;
    its stream seq, or None when the stream has grown since (read the rest, then claim again)."""
    stream = journal.stream
    headers = {EXPECTED_LAST: str(after_stream_seq), EPOCH: str(epoch), MSG_ID: f"{epoch}-claim-{after_stream_seq}"}
    try:
        msg = await stream.nc.request(stream.subject, b"", timeout=stream.timeout_s, headers=headers)
    except Exception as exc:
        raise PublishFailed(f"claim: {type(exc).__name__}: {exc}") from exc
    try:
        return ack_seq(msg.data)
    except Fenced:
        return None
