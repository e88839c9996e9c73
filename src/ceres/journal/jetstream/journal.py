"""The journal port on NATS JetStream (issue 12, item 1; decision to come with its cluster
work): the frames of the file journal, one per message of one stream, written by one
epoch-fenced owner (``publisher``, ``fence``); snapshots in an object store; ownership a
lease in a KV bucket.

* **Ownership**: key ``owner`` of ``<STREAM>_OWNER`` holds ``{"holder", "epoch", "until"}``.
  ``acquire`` takes it when nobody holds a live lease (compare-and-set on the key's revision:
  two contenders cannot both win), bumping the epoch; the holder renews it every
  ``lease_s / 3``; ``release`` ends it at once; a crashed owner's lease runs out after
  ``lease_s``. (Leadership among hot standbys, issue 12 item 3, builds on this.)
* **Writer**: :class:`~ceres.journal.jetstream.publisher.FramePublisher` on the journal's own
  loop thread, reporting to the server's loop. After a failure, ``resume`` deletes whatever the
  stream holds after the last durable frame (a frame may have been stored without its ack
  arriving), probes the stream, and reports ``on_writable``.
* **Reader**: the stream's messages in order through the epoch fence, each scanned like a
  segment (``pipeline.frames.scan``: damage raises); a torn last message is skipped (and
  deleted by the next writer), a torn one before the last is damage.
* **Snapshots**: objects named by their 20-digit seq; ``prune`` keeps the newest and purges the
  messages only older snapshots needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError, NotFoundError

from ceres.files import FILE_MODE
from ceres.journal.jetstream.fence import EpochFence
from ceres.journal.jetstream.loop import BackgroundLoop
from ceres.journal.jetstream.publisher import FramePublisher, PublishFailed
from ceres.journal.jetstream.stream import Message, Stream, frames_of
from ceres.journal.jetstream.tail import OnFrames, StreamTail, TailPosition, claim
from ceres.pipeline.frames import Frame, JournalDamaged, decode_records, encode_frame, scan
from ceres.pipeline.journal import DurabilitySink, JournalLocked, Progress

HEADROOM = 8 << 10  # bytes of a message's max payload left for its headers
OWNER_KEY = "owner"


class JetStreamJournal:
    def __init__(self, servers: list[str], stream: str = "CERES", *, replicas: int = 1, timeout_s: float = 5.0,
                 lease_s: float = 10.0, acquire_wait_s: float | None = None) -> None:
        self.bg = BackgroundLoop(f"jetstream-{stream}")
        self.stream = Stream(servers, stream, replicas, timeout_s)
        self.bg.run(self.stream.connect(), timeout_s * 4 + 15)
        self.ownership = LeaseOwnership(self, lease_s, lease_s + 1 if acquire_wait_s is None else acquire_wait_s)
        self.reader = StreamReader(self)
        self.snapshots = ObjectSnapshots(self)

    def describe(self) -> str:
        s = self.stream
        return f"JetStream journal: stream {s.name} (R{s.replicas}) at {', '.join(s.servers)}"

    def run(self, coro: Any, timeout: float | None = None) -> Any:
        return self.bg.run(coro, timeout or self.stream.timeout_s * 6)

    def open_writer(self, next_seq: int) -> StreamWriter:
        torn = self.reader.torn_messages
        for stream_seq in torn:  # a torn last message: never part of the journal
            self.run(self.stream.delete(stream_seq))
        return StreamWriter(self, self.ownership.epoch)

    def follow(self, on_frames: OnFrames, on_error: Callable[[BaseException], None]) -> StreamTail:
        """Go on reading where the last ``reader.frames`` stopped, as the stream grows (call on
        the caller's loop; frames arrive there)."""
        return StreamTail(self, self.reader.position, on_frames, on_error)

    def stream_last(self) -> int:
        """The stream sequence of the newest message."""
        return int(self.run(self.stream.bounds())[1])

    def claim(self, after_stream_seq: int) -> int | None:
        """With ownership held: fence older epochs out after ``after_stream_seq`` (``tail.claim``)."""
        stored: int | None = self.run(claim(self, after_stream_seq, self.ownership.epoch))
        return stored

    def share_file(self, key: str, path: Path) -> bool:
        """Keep ``path`` the same on every process of the cluster (the keyring: data keys wrapped
        by the master key, so nothing in it opens a secret without that key): the first to
        get here stores its copy in the KV bucket, everyone else adopts the stored one.
        Returns whether ``path`` was replaced."""
        local = path.read_bytes() if path.exists() else None

        async def share() -> bytes | None:
            kv = self.stream.kv
            try:
                return bytes((await kv.get(key)).value or b"")
            except KeyNotFoundError:
                pass
            if local is None:
                return None
            try:
                await kv.create(key, local)
                return None
            except Exception:  # another process stored its copy first
                return bytes((await kv.get(key)).value or b"")
        stored: bytes | None = self.run(share())
        if stored is None or stored == local:
            return False
        tmp = path.with_suffix(".shared")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        with os.fdopen(fd, "wb") as f:
            f.write(stored)
        os.replace(tmp, path)
        return True

    def truncate_after(self, seq: int) -> list[str]:
        kept: list[int] = [0]
        drop: list[Message] = []
        fence = EpochFence()
        damaged = False
        for msg in self.reader.all_messages():
            if damaged or not fence.admit(msg.epoch):
                drop.append(msg)
                continue
            try:
                frames = frames_of([msg], EpochFence(msg.epoch), kept[-1], self.stream.name)[0][1]
            except JournalDamaged:
                damaged = True
                drop.append(msg)
                continue
            if not frames:
                drop.append(msg)
            elif frames[-1].last_seq <= seq:
                kept.append(frames[-1].last_seq)
            else:
                drop.append(msg)
        if seq not in kept:
            raise ValueError(f"seq {seq} does not end a retained, undamaged frame; possible: {kept[-5:]}")
        for msg in drop:
            self.run(self.stream.delete(msg.stream_seq))
        removed = [f"message {m.stream_seq} of stream {self.stream.name}" for m in drop]
        for snap in [s for s in self.snapshots.seqs() if s > seq]:
            self.snapshots.delete(snap)
            removed.append(f"snapshot {snap}")
        return removed

    def close(self) -> None:
        self.ownership.release()
        self.run(self.stream.close())
        self.bg.stop()


class LeaseOwnership:
    """``acquire`` waits up to ``wait_s`` for a lease that runs out by then (the owner was
    killed: a restart takes over once its lease ends) and refuses a lease that is renewed."""

    def __init__(self, journal: JetStreamJournal, lease_s: float, wait_s: float) -> None:
        self.journal = journal
        self.lease_s = lease_s
        self.wait_s = wait_s
        self.holder = uuid.uuid4().hex
        self.epoch = 0
        self._revision = 0
        self._until = 0.0
        self._renewer: asyncio.Task[None] | None = None
        self.on_lost: Callable[[str], None] | None = None  # called on the journal's loop thread

    async def _read(self) -> tuple[dict[str, Any] | None, int]:
        try:
            entry = await self.journal.stream.kv.get(OWNER_KEY)
        except KeyNotFoundError:
            return None, 0
        return json.loads(entry.value), entry.revision

    def _live_elsewhere(self, value: dict[str, Any] | None) -> bool:
        return value is not None and value["holder"] != self.holder and value["until"] > time.time() * 1000

    def acquire(self, wait_s: float | None = None) -> int:
        """``wait_s``: how long a lease that runs out may be waited for (default: the
        configured wait; 0: take it only if free now, as a standby polling for it does)."""
        wait = self.wait_s if wait_s is None else wait_s
        return int(self.journal.run(self._acquire(wait), wait + self.journal.stream.timeout_s * 6))

    async def _acquire(self, wait_s: float) -> int:
        deadline = time.time() + wait_s
        value, revision = await self._read()
        while self._live_elsewhere(value):
            assert value is not None
            ends = value["until"] / 1000
            if ends > deadline:
                raise JournalLocked(f"the journal {self.journal.stream.name} is owned elsewhere (lease until "
                                    f"{int(value['until'])} ms)")
            await asyncio.sleep(max(ends - time.time(), 0) + 0.05)  # a lease that runs out: the owner is gone
            value, revision = await self._read()
        epoch = (value["epoch"] if value else 0) + 1
        until = time.time() + self.lease_s
        record = json.dumps({"holder": self.holder, "epoch": epoch, "until": until * 1000})
        kv = self.journal.stream.kv
        try:
            self._revision = await (kv.update(OWNER_KEY, record.encode(), last=revision) if revision
                                    else kv.create(OWNER_KEY, record.encode()))
        except (KeyWrongLastSequenceError, Exception) as exc:
            raise JournalLocked(f"another process took the journal {self.journal.stream.name} first ({exc})") from exc
        self.epoch = epoch
        self._until = until
        if self._renewer is None:
            self._renewer = asyncio.ensure_future(self._renew())
        return epoch

    async def _renew(self) -> None:
        """Renew every third of the lease; while the servers do not answer, retry until the
        lease would have run out. Taken over, or run out: ``on_lost`` (the stream fences any
        late frame of this owner either way)."""
        pause = self.lease_s / 3
        while True:
            await asyncio.sleep(pause)
            until = time.time() + self.lease_s
            record = json.dumps({"holder": self.holder, "epoch": self.epoch, "until": until * 1000})
            try:
                self._revision = await self.journal.stream.kv.update(OWNER_KEY, record.encode(), last=self._revision)
            except KeyWrongLastSequenceError:
                return self._lost("another process took the lease")
            except Exception as exc:
                if time.time() + 0.2 >= self._until:
                    return self._lost(f"the lease ran out while the servers did not answer ({exc})")
                pause = 0.2
                continue
            self._until = until
            pause = self.lease_s / 3

    def _lost(self, why: str) -> None:
        self._renewer = None
        if self.on_lost is not None and self.epoch:
            self.on_lost(why)

    def release(self) -> None:
        if self.epoch and self.journal.bg.loop.is_running():
            self.journal.run(self._release())

    async def _release(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            self._renewer = None
        value, revision = await self._read()
        if value is not None and value["holder"] == self.holder:
            value["until"] = 0
            with contextlib.suppress(Exception):
                await self.journal.stream.kv.update(OWNER_KEY, json.dumps(value).encode(), last=revision)
        self.epoch = 0

    def held_elsewhere(self) -> bool:
        value, _ = self.journal.run(self._read())
        return self._live_elsewhere(value)


class StreamReader:
    def __init__(self, journal: JetStreamJournal) -> None:
        self.journal = journal
        self.torn_bytes = 0
        self.torn_messages: list[int] = []
        self.position = TailPosition()  # where the last ``frames`` call stopped (a tail goes on from it)

    def all_messages(self) -> Iterator[Message]:
        stream = self.journal.stream
        first, _ = self.journal.run(stream.bounds())
        batches = stream.reading(first)
        try:
            while True:
                try:
                    batch = self.journal.run(anext(batches))
                except StopAsyncIteration:
                    return
                yield from batch
        finally:
            self.journal.run(batches.aclose())

    def frames(self, after_seq: int, progress: Progress | None = None) -> Iterator[Frame]:
        self.torn_bytes = 0
        self.torn_messages = []
        self.position = position = TailPosition()
        fence = EpochFence()
        prev = 0
        pending_torn: Message | None = None
        name = self.journal.stream.name
        _, last = self.journal.run(self.journal.stream.bounds())
        for msg in self.all_messages():
            position.stream_seq = msg.stream_seq
            admitted = frames_of([msg], fence, prev, name)
            position.epoch = fence.newest
            if not admitted:
                continue
            if pending_torn is not None:  # a torn message with messages after it: damage
                raise JournalDamaged(f"{name} message {pending_torn.stream_seq}", 0, prev,
                                     "a write cut short before the end of the stream")
            _, frames, torn = admitted[0]
            if torn:
                pending_torn = msg
            for frame in frames:
                prev = position.record_seq = frame.last_seq
                if frame.last_seq > after_seq:
                    yield frame
            if progress is not None:
                progress(msg.stream_seq, last)
        if pending_torn is not None:
            self.torn_bytes = len(pending_torn.data)
            self.torn_messages = [pending_torn.stream_seq]


class ObjectSnapshots:
    def __init__(self, journal: JetStreamJournal) -> None:
        self.journal = journal

    @staticmethod
    def _key(seq: int) -> str:
        return f"{seq:020d}"

    def seqs(self) -> list[int]:
        stream = self.journal.stream

        async def names() -> list[int]:
            try:
                infos = await stream.retried(stream.objects.list)
            except NotFoundError:
                return []
            return sorted(int(i.name) for i in infos if not i.deleted)
        return list(self.journal.run(names()))

    def read(self, seq: int) -> bytes:
        stream = self.journal.stream

        async def get() -> bytes:
            return bytes((await stream.retried(lambda: stream.objects.get(self._key(seq)))).data or b"")
        return bytes(self.journal.run(get()))

    def write(self, seq: int, data: bytes) -> None:
        self.journal.run(self.journal.stream.objects.put(self._key(seq), data))

    def name(self, seq: int) -> str:
        return f"object {self._key(seq)} of {self.journal.stream.name}_SNAPSHOTS"

    def delete(self, seq: int) -> None:
        self.journal.run(self.journal.stream.objects.delete(self._key(seq)))

    def prune(self, keep: int) -> None:
        seqs = self.seqs()
        if keep <= 0 or len(seqs) < keep:  # fewer than asked for: everything is still needed
            return
        for seq in seqs[:-keep]:
            self.delete(seq)
        oldest = seqs[-keep:][0]
        cut = 0  # purge the messages whose frames all end at or before the oldest kept snapshot
        fence = EpochFence()
        prev = 0
        for msg in self.journal.reader.all_messages():
            admitted = frames_of([msg], fence, prev, self.journal.stream.name)
            frames = admitted[0][1] if admitted else []
            if frames and frames[-1].last_seq > oldest:
                break
            if frames:
                prev = frames[-1].last_seq
            cut = msg.stream_seq
        if cut:
            self.journal.run(self.journal.stream.js.purge_stream(self.journal.stream.name, seq=cut + 1))


class StreamWriter:
    def __init__(self, journal: JetStreamJournal, epoch: int) -> None:
        self.journal = journal
        self.epoch = max(epoch, 1)
        self.fault = False  # tests: the storage fails (every publish goes nowhere)
        self.slow_s = 0.0  # tests: each publish is slow
        self._sink: DurabilitySink | None = None
        self._main: asyncio.AbstractEventLoop | None = None
        self._pub: FramePublisher | None = None
        self._failed = False
        self._durable_stream_seq = 0
        self.frames = 0

    # --- on the server's loop --------------------------------------------------------------
    def start(self, sink: DurabilitySink) -> None:
        self._sink = sink
        self._main = asyncio.get_running_loop()
        self.journal.run(self._open())

    async def _open(self) -> None:
        _, last = await self.journal.stream.bounds()
        self._durable_stream_seq = last
        self._pub = self._publisher(last)

    def _publisher(self, last_stream_seq: int) -> FramePublisher:
        stream = self.journal.stream
        subject = "_CERES.NOWHERE" if self.fault else stream.subject
        pub = FramePublisher(_Slowed(stream.nc, self) if self.slow_s else stream.nc, subject, epoch=self.epoch,
                             last_stream_seq=last_stream_seq, on_durable=self._durable_bg,
                             on_failure=self._failure_bg, timeout=stream.timeout_s)
        return pub

    def submit(self, frame: bytes, last_seq: int, snapshot: bool = False) -> None:
        if self._failed or self._pub is None:
            return  # after a failure: discarded until resume reports on_writable
        self.journal.bg.call(self._submit_bg, frame, last_seq)

    def resume(self) -> None:
        self.journal.bg.call(lambda: asyncio.ensure_future(self._resume_bg()))

    def close(self, timeout: float = 10.0) -> None:
        async def drain() -> None:
            if self._pub is not None:
                with contextlib.suppress(TimeoutError):
                    await self._pub.drain(timeout)
                await self._pub.close()
        self.journal.run(drain(), timeout + 5)

    def stats(self) -> list[tuple[str, str, str, float]]:
        return [("journal_frames_total", "counter", "Frames the JetStream stream acknowledged.", float(self.frames)),
                ("journal_epoch", "gauge", "This writer's epoch (grows with every new owner).", float(self.epoch))]

    # --- on the journal's loop ---------------------------------------------------------------
    def _submit_bg(self, frame: bytes, last_seq: int) -> None:
        if self._pub is None or self._pub.failed is not None:
            return
        cap = max(int(getattr(self.journal.stream.nc, "max_payload", 1 << 20) or (1 << 20)) - HEADROOM, 1024)
        with contextlib.suppress(PublishFailed):
            for piece, piece_last in split_frame(frame, last_seq, cap):
                self._pub.submit(piece, piece_last)

    def _durable_bg(self, seq: int) -> None:
        self.frames += 1
        assert self._pub is not None
        self._durable_stream_seq += 1
        self._report("on_durable", seq)

    def _failure_bg(self, exc: BaseException) -> None:
        self._failed = True
        self._report("on_failure", exc)

    def _report(self, method: str, value: Any = None) -> None:
        assert self._main is not None and self._sink is not None
        fn = getattr(self._sink, method)
        if value is None:
            self._main.call_soon_threadsafe(fn)
        else:
            self._main.call_soon_threadsafe(fn, value)

    async def _resume_bg(self) -> None:
        stream = self.journal.stream
        try:
            if self.fault:
                raise PublishFailed("the stream does not answer (injected)")
            _, last = await stream.bounds()
            for seq in range(self._durable_stream_seq + 1, last + 1):  # stored, never acknowledged
                await stream.delete(seq)
            _, last = await stream.bounds()
        except Exception as exc:
            self._report("on_failure", exc)
            return
        if self._pub is not None:
            await self._pub.close()
        self._durable_stream_seq = last
        self._pub = self._publisher(last)
        self._failed = False
        self._report("on_writable")


def split_frame(frame: bytes, last_seq: int, cap: int) -> list[tuple[bytes, int]]:
    """``frame`` as frames of at most ``cap`` bytes (the server's max payload less headroom for
    headers): its records in order, halved until each piece fits; one piece when it fits."""
    if len(frame) <= cap:
        return [(frame, last_seq)]
    whole = scan(frame).frames[0]
    records = list(decode_records(whole.payload))

    def pieces(first: int, recs: list[Any]) -> list[tuple[bytes, int]]:
        data = encode_frame(first, recs)
        if len(data) <= cap or len(recs) == 1:
            return [(data, first + len(recs) - 1)]
        half = len(recs) // 2
        return pieces(first, recs[:half]) + pieces(first + half, recs[half:])

    return pieces(whole.first_seq, records)


class _Slowed:
    """Tests: the client with every request delayed (a slow stream)."""

    def __init__(self, nc: Any, writer: StreamWriter) -> None:
        self.nc = nc
        self.writer = writer

    async def request(self, *args: Any, **kw: Any) -> Any:
        await asyncio.sleep(self.writer.slow_s)
        return await self.nc.request(*args, **kw)
