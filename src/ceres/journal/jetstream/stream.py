"""One journal's JetStream objects: the stream of frames, the owner key (KV) and the snapshots
(object store), named after ``stream``; created when missing, with ``replicas`` copies."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import nats
from nats.js.api import (
    ConsumerConfig,
    DeliverPolicy,
    KeyValueConfig,
    ObjectStoreConfig,
    StorageType,
    StreamConfig,
)
from nats.js.errors import NotFoundError

from ceres.journal.jetstream.fence import EpochFence
from ceres.journal.jetstream.publisher import EPOCH
from ceres.pipeline.frames import Frame, scan

T = TypeVar("T")


@dataclass
class Message:
    stream_seq: int
    data: bytes
    epoch: int

    @classmethod
    def of(cls, msg: Any) -> Message:
        """A message as a JetStream consumer delivers it."""
        return cls(int(msg.metadata.sequence.stream), bytes(msg.data or b""), int((msg.headers or {}).get(EPOCH, "0")))


class Stream:
    def __init__(self, servers: list[str], name: str, replicas: int, timeout_s: float) -> None:
        self.servers = servers
        self.name = name
        self.subject = f"{name.lower()}.journal"
        self.replicas = replicas
        self.timeout_s = timeout_s
        self.nc: Any = None
        self.js: Any = None
        self.kv: Any = None
        self.objects: Any = None

    async def connect(self) -> None:
        if self.nc is not None and self.nc.is_connected:
            return
        self.nc = await nats.connect(servers=self.servers, connect_timeout=self.timeout_s,
                                     max_reconnect_attempts=-1, reconnect_time_wait=0.2)
        self.js = self.nc.jetstream(timeout=self.timeout_s)
        for attempt in range(50):  # a cluster that just started elects its meta leader first
            try:
                await self._ensure()
                return
            except Exception:
                if attempt == 49:
                    raise
                await asyncio.sleep(0.2)

    async def _ensure(self) -> None:
        try:
            await self.js.stream_info(self.name)
        except NotFoundError:
            await self.js.add_stream(StreamConfig(name=self.name, subjects=[self.subject], num_replicas=self.replicas,
                                                  storage=StorageType.FILE, max_msg_size=8 << 20))
        self.kv = await self.js.create_key_value(KeyValueConfig(bucket=f"{self.name}_OWNER", history=1,
                                                                replicas=self.replicas))
        self.objects = await self.js.create_object_store(bucket=f"{self.name}_SNAPSHOTS",
                                                         config=ObjectStoreConfig(replicas=self.replicas,
                                                                                  storage=StorageType.FILE))
        for name in (self.name, f"KV_{self.name}_OWNER", f"OBJ_{self.name}_SNAPSHOTS"):
            await self._led(name)

    async def _led(self, name: str) -> None:
        """Wait until a replicated stream has elected its leader (a new one answers nothing before)."""
        for _ in range(150):
            info = await self.js.stream_info(name)
            if self.replicas == 1 or (info.cluster is not None and info.cluster.leader):
                return
            await asyncio.sleep(0.2)
        raise TimeoutError(f"stream {name} elected no leader in 30 s")

    async def retried(self, make: Callable[[], Awaitable[T]]) -> T:
        """A read, retried for up to four timeouts while the client reconnects or the stream
        elects a new leader (a node of the cluster went away)."""
        deadline = time.monotonic() + 4 * self.timeout_s
        while True:
            try:
                return await make()
            except NotFoundError:
                raise
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)

    async def bounds(self) -> tuple[int, int]:
        """(first, last) stream sequence; last 0 when empty."""
        info = await self.retried(lambda: self.js.stream_info(self.name))
        return info.state.first_seq, info.state.last_seq

    async def reading(self, start: int) -> AsyncGenerator[list[Message], None]:
        """The stored messages from stream seq ``start`` to the current last one, in order and
        in batches (deleted ones skipped), through an ordered push consumer. Measured on 10k
        small messages, the consumer alone: one request per message 1.6k/s, a pull consumer
        12.7k/s, an ordered push consumer 35k/s (the journal reader on it: 12.5k/s)."""
        start = max(start, 1)
        _, last = await self.bounds()
        if last < start:
            return
        arrived: list[Message] = []
        wake = asyncio.Event()

        async def on_msg(m: Any) -> None:
            arrived.append(Message.of(m))
            wake.set()

        sub = await self.retried(lambda: self.subscribe_from(start, on_msg))
        try:
            seen = start - 1
            while seen < last:
                if not arrived:
                    wake.clear()
                    try:
                        await asyncio.wait_for(wake.wait(), 0.5)
                    except TimeoutError:
                        if (await self.bounds())[1] <= seen or not await self._stored_after(seen, last):
                            return  # the rest up to ``last`` was deleted
                        continue
                batch = [m for m in arrived if m.stream_seq <= last]
                arrived.clear()
                if batch:
                    seen = batch[-1].stream_seq
                    yield batch
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def subscribe_from(self, start: int, cb: Callable[[Any], Awaitable[None]]) -> Any:
        """An ordered push consumer of the stream's messages from stream seq ``start`` on
        (nats-py resets it when heartbeats stop), delivering to ``cb``."""
        config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start)
        return await self.js.subscribe(self.subject, stream=self.name, ordered_consumer=True, idle_heartbeat=1.0,
                                       config=config, cb=cb)

    async def _stored_after(self, seen: int, last: int) -> bool:
        """Whether any message after ``seen`` up to ``last`` is still stored."""
        for seq in range(seen + 1, last + 1):
            try:
                await self.js.get_msg(self.name, seq)
                return True
            except NotFoundError:
                continue
        return False

    async def delete(self, stream_seq: int) -> None:
        with contextlib.suppress(NotFoundError):
            await self.js.delete_msg(self.name, stream_seq)

    async def close(self) -> None:
        if self.nc is not None:
            await self.nc.close()
            self.nc = None


def frames_of(messages: list[Message], fence: EpochFence, after_seq: int,
              name: str) -> list[tuple[Message, list[Frame], bool]]:
    """Each admitted message with its frames (``scan``: damage raises) and whether it is torn."""
    out = []
    prev = after_seq
    for msg in messages:
        if not fence.admit(msg.epoch):
            continue
        result = scan(msg.data, f"{name} message {msg.stream_seq}", prev)
        out.append((msg, result.frames, result.torn))
        if result.frames:
            prev = result.frames[-1].last_seq
    return out
