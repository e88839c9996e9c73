"""One journal's JetStream objects: the stream of frames, the owner key (KV) and the snapshots
(object store), named after ``stream``; created when missing, with ``replicas`` copies."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import nats
from nats.js.api import KeyValueConfig, ObjectStoreConfig, StorageType, StreamConfig
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

    async def messages(self, start: int, count: int) -> list[Message]:
        """Up to ``count`` stored messages from stream seq ``start`` on (deleted ones skipped)."""
        first, last = await self.bounds()
        out = []
        for seq in range(max(start, first), min(last, start + count - 1) + 1):
            try:
                msg = await self.retried(functools.partial(self.js.get_msg, self.name, seq))
            except NotFoundError:
                continue  # deleted (cut back by resume or repair)
            out.append(Message(seq, bytes(msg.data or b""), int((msg.headers or {}).get(EPOCH, "0"))))
        return out

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
