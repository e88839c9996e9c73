"""The journal port's contract (``ceres.pipeline.journal``): what every backend must do.

Each test runs once per entry of ``BACKENDS`` and talks to the backend only through the
port (``Journal``: ownership, reader, snapshots, open_writer), recovery
(``pipeline.recovery.recover``) and the frame codec. Adding a backend is one more entry:
a function that, given the test's temporary directory, returns a :class:`Backend` — a way
to open ``Journal`` objects on one place, and two backend-specific hooks that make a
writer's storage fail or slow down (the only place where a backend's insides show).
"""

from __future__ import annotations

import asyncio
import errno
import random
import string
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ceres.crypto.sealing import DataKeys, new_key
from ceres.domain import commands as C
from ceres.engine.core import Engine
from ceres.engine.snapshot import engine_state
from ceres.journal.file import FileJournal
from ceres.journal.file.group_commit import GroupCommitter
from ceres.journal.file.segments import DataDir, SegmentWriter
from ceres.pipeline.frames import (
    JournalCorrupt,
    JournalDamaged,
    JournalGap,
    decode_records,
    encode_frame,
    encode_snapshot,
    scan,
)
from ceres.pipeline.journal import Journal, JournalLocked, JournalWriter
from ceres.pipeline.recovery import recover
from ceres.pipeline.sequencer import Sequencer
from journal_helpers import T0, command_stream, make_engine, next_trading_command

WAIT = 10.0


# --- backends -------------------------------------------------------------------------------
@dataclass
class Backend:
    """One backend's storage for one test. ``open()`` gives a new ``Journal`` object on it
    each call (another process's view, or the same process after a restart). Two hooks
    act on a writer from ``open_writer`` before it starts or while it is idle:
    ``break_storage(writer)`` makes its later writes fail (a dying disk), and
    ``slow_storage(writer)`` makes each of its writes take ~20 ms (a slow disk), and
    ``heal_storage(writer)`` makes writes work again (the disk has room again).
    ``stored_bytes()`` returns every byte the backend keeps (files, messages, indexes),
    for checks of what is at rest. With no writer running: ``tear_last_write(frame)``
    stores what a crash in the middle of writing ``frame`` leaves at the end, and
    ``damage_record(seq)`` flips one bit of the stored record ``seq`` (bit rot)."""

    open_journal: Callable[[], Journal]
    break_storage: Callable[[JournalWriter], None]
    slow_storage: Callable[[JournalWriter], None]
    stored_bytes: Callable[[], bytes]
    heal_storage: Callable[[JournalWriter], None]
    tear_last_write: Callable[[bytes], None]
    damage_record: Callable[[int], None]
    opened: list[Journal] = field(default_factory=list)

    def open(self) -> Journal:
        journal = self.open_journal()
        self.opened.append(journal)
        return journal

    def owned(self) -> Journal:
        """A new Journal object with ownership taken (as a node holds it)."""
        journal = self.open()
        journal.ownership.acquire()
        return journal


class _FailingSegmentWriter(SegmentWriter):
    def write(self, data: bytes) -> None:
        raise OSError(errno.EIO, "Input/output error (injected)")

    def check_space(self, nbytes: int) -> None:
        raise OSError(errno.EIO, "Input/output error (injected)")


class _SlowSegmentWriter(SegmentWriter):
    def write(self, data: bytes) -> None:
        time.sleep(0.02)
        super().write(data)


def _swap_segment_writer(cls: type[SegmentWriter]) -> Callable[[JournalWriter], None]:
    """File backend only: replace the group committer's segment writer with a ``cls`` on
    the same segment."""

    def swap(writer: JournalWriter) -> None:
        assert isinstance(writer, GroupCommitter)
        old = writer.writer
        writer.writer = cls(old.dir, 1, fsync=old.fsync, segment_bytes=old.segment_bytes)
        old.close()

    return swap


def file_backend(tmp_path: Path) -> Backend:
    root = tmp_path / "data"
    segments = DataDir(root).segments

    def tear(frame: bytes) -> None:
        with open(segments()[-1][1], "ab") as f:
            f.write(frame[:len(frame) // 2])

    def damage(seq: int) -> None:
        for _, path in segments():
            data = bytearray(path.read_bytes())
            for frame in scan(bytes(data)).frames:
                if frame.first_seq <= seq <= frame.last_seq:
                    data[frame.end - 6] ^= 0x08  # a payload byte: the frame stays complete
                    path.write_bytes(bytes(data))
                    return
        raise AssertionError(f"no stored record {seq}")

    return Backend(lambda: FileJournal(root, fsync=True),
                   _swap_segment_writer(_FailingSegmentWriter), _swap_segment_writer(_SlowSegmentWriter),
                   lambda: b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()),
                   _swap_segment_writer(SegmentWriter), tear, damage)


_NATS: list[Any] = []  # one nats-server for the whole run, started by the first jetstream test


def _nats_url(tmp_path: Path) -> str:
    if not _NATS:
        from tests.natsproc import NatsNode, free_port

        node = NatsNode(tmp_path.parent / "nats-contract", "c1", free_port()).start()
        _NATS.append(node)
        import atexit

        atexit.register(node.stop)
    return str(_NATS[0].url)


def jetstream_backend(tmp_path: Path) -> Backend:
    """A stream of its own per test on one local nats-server 2.15 (sync_interval: always)."""
    from ceres.journal.jetstream.journal import JetStreamJournal, StreamWriter
    from ceres.journal.jetstream.publisher import EPOCH

    url = _nats_url(tmp_path)
    name = "T" + "".join(c for c in tmp_path.name.upper() if c.isalnum())[-40:]
    admin = JetStreamJournal([url], name, lease_s=5, acquire_wait_s=0)

    def messages() -> list[Any]:
        return list(admin.reader.all_messages())

    def publish(data: bytes, epoch: int) -> None:
        admin.run(admin.stream.nc.request(admin.stream.subject, data, headers={EPOCH: str(epoch)}, timeout=5))

    def break_storage(writer: JournalWriter) -> None:
        assert isinstance(writer, StreamWriter)
        writer.fault = True
        if writer._pub is not None:
            writer._pub.subject = "_CERES.NOWHERE"  # no stream listens there: every publish fails

    def slow(writer: JournalWriter) -> None:
        assert isinstance(writer, StreamWriter)
        writer.slow_s = 0.02

    def heal(writer: JournalWriter) -> None:
        assert isinstance(writer, StreamWriter)
        writer.fault = False

    def tear(frame: bytes) -> None:
        epoch = max([m.epoch for m in messages()] or [1])
        publish(frame[:len(frame) // 2], epoch)

    def damage(seq: int) -> None:
        stored = messages()
        for index, msg in enumerate(stored):
            for frame in scan(msg.data).frames:
                if frame.first_seq <= seq <= frame.last_seq:
                    data = bytearray(msg.data)
                    data[frame.end - 6] ^= 0x08  # a payload byte: the frame stays complete
                    for later in stored[index:]:  # a stream is append-only: rewrite the tail
                        admin.run(admin.stream.delete(later.stream_seq))
                    publish(bytes(data), msg.epoch)
                    for later in stored[index + 1:]:
                        publish(later.data, later.epoch)
                    return
        raise AssertionError(f"no stored record {seq}")

    def stored_bytes() -> bytes:
        return b"".join([*(m.data for m in messages()), *(admin.snapshots.read(s) for s in admin.snapshots.seqs())])

    backend = Backend(lambda: JetStreamJournal([url], name, lease_s=5, acquire_wait_s=0), break_storage, slow,
                      stored_bytes, heal, tear, damage)
    backend.opened.append(admin)  # closed with the others when the test ends
    return backend


BACKENDS: dict[str, Callable[[Path], Backend]] = {
    "file": file_backend,
    "jetstream": jetstream_backend,
}


@pytest.fixture(params=sorted(BACKENDS))
def journal_factory(request, tmp_path) -> Iterator[Backend]:
    backend = BACKENDS[request.param](tmp_path)
    yield backend
    for journal in backend.opened:
        journal.ownership.release()
        close = getattr(journal, "close", None)  # the JetStream backend's client and thread
        if close is not None:
            close()


# --- helpers --------------------------------------------------------------------------------
class Recorder:
    """A DurabilitySink that remembers what it was told, and on which thread (a call from
    the wrong thread still wakes the loop, so the test fails fast instead of hanging)."""

    def __init__(self) -> None:
        self.durable: list[int] = []
        self.failures: list[BaseException] = []
        self.writable = 0
        self.threads: set[int] = set()
        self._loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()

    def on_durable(self, seq: int) -> None:
        self.durable.append(seq)
        self._told()

    def on_failure(self, exc: BaseException) -> None:
        self.failures.append(exc)
        self._told()

    def on_writable(self) -> None:
        self.writable += 1
        self._told()

    def _told(self) -> None:
        self.threads.add(threading.get_ident())
        self._loop.call_soon_threadsafe(self._changed.set)

    async def until(self, pred: Callable[[], bool]) -> None:
        async with asyncio.timeout(WAIT):
            while not pred():
                self._changed.clear()
                await self._changed.wait()


def product_frames(first: int, sizes: list[int]) -> list[tuple[int, list[tuple[int, C.Command]]]]:
    """Frames of ``CreateProduct`` records, ``sizes[i]`` records in frame i, from ``first``."""
    out = []
    seq = first
    for n in sizes:
        out.append((seq, [(T0 + s, C.CreateProduct(f"p{s}")) for s in range(seq, seq + n)]))
        seq += n
    return out


def read_records(journal: Journal, after: int = 0) -> list[tuple[int, C.Command]]:
    """``(seq, command)`` of every record after ``after``, checking the frames join up."""
    out: list[tuple[int, C.Command]] = []
    for frame in journal.reader.frames(after):
        if out:
            assert frame.first_seq == out[-1][0] + 1, "frames do not join up"
        recs = decode_records(frame.payload)
        assert len(recs) == frame.count
        out += [(frame.first_seq + i, cmd) for i, (_, cmd) in enumerate(recs)]
    return [(s, cmd) for s, cmd in out if s > after]


class _NoConsumers:
    def dispatch(self, items: Any) -> None:
        pass


class _OnTheLoop:
    """Forwards a writer's reports to the sequencer, counting any made off the loop thread
    (and moving those onto it, so the sequencer stays correct and the test fails fast)."""

    def __init__(self, sequencer: Sequencer) -> None:
        self.sequencer = sequencer
        self.loop = asyncio.get_running_loop()
        self.thread = threading.get_ident()
        self.off_loop = 0

    def on_durable(self, seq: int) -> None:
        self._forward(self.sequencer.on_durable, seq)

    def on_failure(self, exc: BaseException) -> None:
        self._forward(self.sequencer.on_failure, exc)

    def _forward(self, method: Callable[[Any], None], value: Any) -> None:
        if threading.get_ident() == self.thread:
            method(value)
        else:
            self.off_loop += 1
            self.loop.call_soon_threadsafe(method, value)


class Driver:
    """Real commands through a real Sequencer into a writer of ``journal``. Snapshots the
    sequencer takes are stored as the node's background writer does:
    ``snapshots.write(seq, encode_snapshot(seq, engine_state(engine)))``."""

    def __init__(self, journal: Journal, engine: Engine, *, snapshot_every: int = 0, seed: int = 1) -> None:
        self.journal = journal
        self.engine = engine
        self.writer = journal.open_writer(engine.seq + 1)
        self.sequencer = Sequencer(engine, self.writer, _NoConsumers(), self, asyncio.get_running_loop(),
                                   snapshot_every=snapshot_every, last_snapshot_seq=engine.seq)
        self.sink = _OnTheLoop(self.sequencer)
        self.writer.start(self.sink)
        self.commands: Iterator[C.Command] = command_stream(engine, seed) if engine.seq == 0 else self._trading(seed)
        self.accepted: list[C.Command] = []

    def _trading(self, seed: int) -> Iterator[C.Command]:
        rng = random.Random(seed)
        while True:
            yield next_trading_command(self.engine, rng)

    def submit(self, items: Any, snapshot: tuple[int, dict[str, Any]] | None) -> None:
        """The sequencer's Background: store the snapshot taken with this batch."""
        if snapshot is not None:
            seq, state = snapshot
            self.journal.snapshots.write(seq, encode_snapshot(seq, state))

    async def run(self, n: int, burst: int = 16) -> None:
        """Submit ``n`` commands in bursts (one batch each); keep the accepted ones."""
        sent = 0
        while sent < n:
            cmds = [next(self.commands) for _ in range(min(burst, n - sent))]
            futs = [self.sequencer.submit(cmd) for cmd in cmds]
            results = await asyncio.wait_for(asyncio.gather(*futs, return_exceptions=True), WAIT)
            self.accepted += [cmd for cmd, r in zip(cmds, results, strict=True) if not isinstance(r, BaseException)]
            sent += len(cmds)
        assert self.sequencer.failed is None
        assert self.sink.off_loop == 0, "the writer reported off the event-loop thread"

    def close(self) -> None:
        self.writer.close()


# --- ownership ------------------------------------------------------------------------------
def test_only_one_owner_at_a_time(journal_factory):
    first, second = journal_factory.open(), journal_factory.open()
    assert not second.ownership.held_elsewhere()  # nobody holds it yet
    epoch = first.ownership.acquire()
    assert epoch >= 1
    assert not first.ownership.held_elsewhere()  # the owner itself is not "elsewhere"
    assert second.ownership.held_elsewhere()
    with pytest.raises(JournalLocked):
        second.ownership.acquire()
    first.ownership.release()
    assert not second.ownership.held_elsewhere()
    assert second.ownership.acquire() >= epoch
    assert first.ownership.held_elsewhere()


# --- writer and reader ----------------------------------------------------------------------
async def test_writer_reports_durable_points_in_order_on_the_loop_thread(journal_factory):
    journal = journal_factory.owned()
    frames = product_frames(1, [1, 3, 2, 4, 1, 1, 5, 2] * 3)
    ends = {first + len(recs) - 1 for first, recs in frames}
    last = max(ends)
    writer = journal.open_writer(1)
    sink = Recorder()
    writer.start(sink)
    for first, recs in frames:
        writer.submit(encode_frame(first, recs), first + len(recs) - 1)
    await sink.until(lambda: bool(sink.durable) and sink.durable[-1] == last)
    writer.close()
    assert sink.durable == sorted(sink.durable)
    assert set(sink.durable) <= ends, "a durable point in the middle of a frame"
    assert sink.threads == {threading.get_ident()}
    assert sink.failures == []
    assert read_records(journal_factory.open()) == [(s, cmd) for first, recs in frames
                                                     for s, (_, cmd) in enumerate(recs, first)]


async def test_close_writes_everything_queued(journal_factory):
    journal = journal_factory.owned()
    frames = product_frames(1, [2] * 40)
    writer = journal.open_writer(1)
    journal_factory.slow_storage(writer)
    writer.start(Recorder())
    for first, recs in frames:
        writer.submit(encode_frame(first, recs), first + 1)
    writer.close()  # at once: nothing was awaited, the slow storage has a backlog
    assert [s for s, _ in read_records(journal_factory.open())] == list(range(1, 81))


async def test_reader_yields_the_frames_holding_records_after_a_seq(journal_factory):
    journal = journal_factory.owned()
    frames = product_frames(1, [3, 1, 4, 2, 5])  # frames 1-3, 4, 5-8, 9-10, 11-15
    writer = journal.open_writer(1)
    sink = Recorder()
    writer.start(sink)
    for first, recs in frames:
        writer.submit(encode_frame(first, recs), first + len(recs) - 1)
    await sink.until(lambda: 15 in sink.durable)
    writer.close()
    journal = journal_factory.open()
    for after in range(16):
        got = list(journal.reader.frames(after))
        assert all(f.last_seq > after for f in got), after  # only frames holding later records
        if after < 15:
            assert got[0].first_seq <= after + 1, after  # the one holding after + 1 is included
        else:
            assert got == []
        assert [s for s, _ in read_records(journal, after)] == list(range(after + 1, 16))
    assert journal.reader.torn_bytes == 0


async def test_a_writer_after_a_restart_appends_after_the_existing_records(journal_factory):
    before = journal_factory.owned()
    first = Driver(before, make_engine())
    await first.run(60)
    first.close()
    before.ownership.release()

    after = journal_factory.owned()
    rec = recover(after, make_engine)
    assert rec.last_seq == first.engine.seq and rec.engine.state_hash() == first.engine.state_hash()
    second = Driver(after, rec.engine, seed=2)
    await second.run(40)
    second.close()

    records = read_records(journal_factory.open())
    assert [s for s, _ in records] == list(range(1, second.engine.seq + 1))
    assert [cmd for _, cmd in records] == first.accepted + second.accepted
    assert recover(journal_factory.open(), make_engine).engine.state_hash() == second.engine.state_hash()


# --- recovery and snapshots through the port ------------------------------------------------
async def drive_with_snapshots(backend: Backend, n: int = 200, every: int = 40) -> Driver:
    driver = Driver(backend.owned(), make_engine(), snapshot_every=every)
    await driver.run(n)
    await driver.run(5, burst=5)  # a few records after the last snapshot
    driver.close()
    return driver


async def test_recovery_reaches_the_writers_state_from_any_starting_point(journal_factory):
    driver = await drive_with_snapshots(journal_factory)
    state, last = driver.engine.state_hash(), driver.engine.seq
    snaps = driver.journal.snapshots.seqs()
    assert len(snaps) >= 3 and snaps[-1] < last

    newest = recover(journal_factory.open(), make_engine)
    assert (newest.snapshot_seq, newest.last_seq, newest.replayed) == (snaps[-1], last, last - snaps[-1])
    assert newest.engine.state_hash() == state and newest.skipped_snapshots == []

    full = recover(journal_factory.open(), make_engine, use_snapshots=False)
    assert (full.snapshot_seq, full.last_seq, full.replayed) == (None, last, last)
    assert full.engine.state_hash() == state

    older = recover(journal_factory.open(), make_engine, max_snapshot_seq=snaps[-1] - 1)
    assert older.snapshot_seq == snaps[-2] and older.replayed == last - snaps[-2]
    assert older.engine.state_hash() == state

    none = recover(journal_factory.open(), make_engine, max_snapshot_seq=snaps[0] - 1)
    assert none.snapshot_seq is None and none.engine.state_hash() == state


async def test_snapshot_store_round_trip_and_pruning(journal_factory):
    store = journal_factory.owned().snapshots
    assert store.seqs() == []
    engine = make_engine()
    blobs = {}
    for seq, cmd in enumerate([C.CreateProduct("a"), C.CreateProduct("b"), C.CreateProduct("c")], 1):
        engine.apply(cmd, seq * 10, T0 + seq)
        blobs[seq * 10] = encode_snapshot(seq * 10, engine_state(engine))
    for seq in (30, 10, 20):  # stored out of order
        store.write(seq, blobs[seq])
    assert store.seqs() == [10, 20, 30]
    assert all(store.read(seq) == blobs[seq] for seq in (10, 20, 30))
    names = {store.name(seq) for seq in (10, 20, 30)}
    assert len(names) == 3 and all(isinstance(n, str) and n for n in names)
    store.prune(0)
    assert store.seqs() == [10, 20, 30]  # 0: keep everything
    store.prune(2)
    assert store.seqs() == [20, 30]
    assert journal_factory.open().snapshots.seqs() == [20, 30]  # seen by another Journal object
    assert store.read(30) == blobs[30]
    store.prune(1)
    assert store.seqs() == [30]


async def test_recovery_after_pruning_starts_from_the_newest_snapshot(journal_factory):
    driver = await drive_with_snapshots(journal_factory)
    state, last = driver.engine.state_hash(), driver.engine.seq
    snaps = driver.journal.snapshots.seqs()
    driver.journal.snapshots.prune(2)
    assert driver.journal.snapshots.seqs() == snaps[-2:]
    rec = recover(journal_factory.open(), make_engine)
    assert rec.snapshot_seq == snaps[-1] and rec.last_seq == last and rec.engine.state_hash() == state
    oldest_kept = recover(journal_factory.open(), make_engine, max_snapshot_seq=snaps[-2])
    assert oldest_kept.snapshot_seq == snaps[-2] and oldest_kept.engine.state_hash() == state


async def test_a_journal_starting_after_the_starting_point_is_a_gap(journal_factory):
    driver = await drive_with_snapshots(journal_factory)
    state = driver.engine.state_hash()
    snaps = driver.journal.snapshots.seqs()
    driver.journal.snapshots.prune(1)  # drops the journal that only older snapshots needed
    first_frame = next(iter(journal_factory.open().reader.frames(0)))
    assert 1 < first_frame.first_seq <= snaps[-1] + 1
    with pytest.raises(JournalGap):
        recover(journal_factory.open(), make_engine, use_snapshots=False)
    with pytest.raises(JournalGap):
        recover(journal_factory.open(), make_engine, max_snapshot_seq=snaps[-1] - 1)
    assert recover(journal_factory.open(), make_engine).engine.state_hash() == state


async def test_a_fully_pruned_journal_is_a_gap_too(journal_factory):
    driver = Driver(journal_factory.owned(), make_engine(), snapshot_every=10)
    await driver.run(12, burst=12)  # one batch, with a snapshot at its last record
    driver.close()
    assert driver.journal.snapshots.seqs() == [12]
    driver.journal.snapshots.prune(1)
    with pytest.raises(JournalGap):
        recover(journal_factory.open(), make_engine, use_snapshots=False)


async def test_a_journal_ending_before_the_newest_snapshot_is_corrupt(journal_factory):
    """Records lost at the end (the journal ends at 12, a snapshot says the state once reached
    20) are reported when that snapshot cannot be used, never replayed as a shorter history."""
    driver = Driver(journal_factory.owned(), make_engine())
    await driver.run(12, burst=4)
    driver.close()
    driver.journal.snapshots.write(20, b"damaged")
    with pytest.raises(JournalCorrupt, match="records end at seq 12"):
        recover(journal_factory.open(), make_engine)


# --- failure --------------------------------------------------------------------------------
async def _one_durable_frame_then_broken_storage(journal_factory):
    """A writer that made frame 1 (of three, seq 1..3) durable, then lost its storage."""
    journal = journal_factory.owned()
    frames = product_frames(1, [1, 1, 1])
    writer = journal.open_writer(1)
    sink = Recorder()
    writer.start(sink)
    writer.submit(encode_frame(*frames[0]), 1)
    await sink.until(lambda: sink.durable == [1])
    journal_factory.break_storage(writer)
    return writer, sink, frames


async def test_a_storage_failure_is_reported_once_and_ends_durability(journal_factory):
    writer, sink, frames = await _one_durable_frame_then_broken_storage(journal_factory)
    writer.submit(encode_frame(*frames[1]), 2)
    await sink.until(lambda: bool(sink.failures))
    writer.submit(encode_frame(*frames[2]), 3)
    await asyncio.sleep(0.1)  # time for any wrong report to arrive
    writer.close()
    await asyncio.sleep(0)
    assert len(sink.failures) == 1 and isinstance(sink.failures[0], Exception)
    assert sink.durable == [1]
    assert sink.threads == {threading.get_ident()}


# --- operations -----------------------------------------------------------------------------
async def test_after_a_failure_resume_waits_for_the_storage_then_writes_from_the_durable_point(journal_factory):
    writer, sink, frames = await _one_durable_frame_then_broken_storage(journal_factory)
    writer.submit(encode_frame(*frames[1]), 2)
    await sink.until(lambda: len(sink.failures) == 1)
    writer.resume()  # still broken: reported again, nothing written
    await sink.until(lambda: len(sink.failures) == 2)
    assert sink.writable == 0
    journal_factory.heal_storage(writer)
    writer.resume()
    await sink.until(lambda: sink.writable == 1)
    writer.submit(encode_frame(*frames[1]), 2)  # seq 2 again: it never became durable
    writer.submit(encode_frame(*frames[2]), 3)
    await sink.until(lambda: sink.durable[-1:] == [3])
    writer.close()
    assert sink.threads == {threading.get_ident()}
    assert read_records(journal_factory.open()) == [(s, cmd) for first, recs in frames
                                                    for s, (_, cmd) in enumerate(recs, first)]


async def test_a_write_cut_short_at_the_end_is_dropped_and_the_writer_appends_after_it(journal_factory):
    driver = Driver(journal_factory.owned(), make_engine())
    await driver.run(20, burst=5)
    driver.close()
    state = driver.engine.state_hash()
    driver.journal.ownership.release()
    journal_factory.tear_last_write(encode_frame(21, [(T0, C.CreateProduct("ghost"))]))
    journal = journal_factory.owned()
    rec = recover(journal, make_engine)
    assert rec.last_seq == 20 and rec.engine.state_hash() == state and "ghost" not in rec.engine.products
    writer = journal.open_writer(21)
    sink = Recorder()
    writer.start(sink)
    writer.submit(encode_frame(21, [(T0, C.CreateProduct("later"))]), 21)
    await sink.until(lambda: sink.durable == [21])
    writer.close()
    assert read_records(journal_factory.open(), 20) == [(21, C.CreateProduct("later"))]


async def test_damage_to_a_complete_record_stops_recovery_until_the_journal_is_cut_back(journal_factory):
    driver = Driver(journal_factory.owned(), make_engine())
    await driver.run(30, burst=5)
    driver.close()
    driver.journal.ownership.release()
    journal_factory.damage_record(18)  # a middle batch: seq 16..20
    journal = journal_factory.owned()
    with pytest.raises(JournalDamaged) as info:
        recover(journal, make_engine)
    assert info.value.after_seq == 15
    with pytest.raises(ValueError):
        journal.truncate_after(17)  # inside the damaged batch
    journal.truncate_after(info.value.after_seq)
    rec = recover(journal, make_engine)
    assert rec.last_seq == 15
    assert read_records(journal) == list(enumerate(driver.accepted[:15], 1))  # exactly the records before it


async def test_stats_and_describe(journal_factory):
    journal = journal_factory.owned()
    assert isinstance(journal.describe(), str) and journal.describe().strip()
    writer = journal.open_writer(1)
    sink = Recorder()
    writer.start(sink)

    def stats() -> dict[str, tuple[str, float]]:
        rows = writer.stats()
        for row in rows:
            assert len(row) == 4
            name, kind, help_, value = row
            assert isinstance(name, str) and name and isinstance(help_, str) and help_
            assert kind in {"counter", "gauge"}
            assert isinstance(value, int | float) and not isinstance(value, bool)
        assert len({r[0] for r in rows}) == len(rows), "duplicate metric names"
        return {name: (kind, value) for name, kind, _, value in rows}

    before = stats()
    assert before
    for first, recs in product_frames(1, [2, 2, 2]):
        writer.submit(encode_frame(first, recs), first + 1)
    await sink.until(lambda: bool(sink.durable) and sink.durable[-1] == 6)
    after = stats()
    writer.close()
    assert after.keys() == before.keys()
    counters = [name for name, (kind, _) in before.items() if kind == "counter"]
    assert all(after[n][1] >= before[n][1] for n in counters), "a counter went down"
    if counters:
        assert any(after[n][1] > before[n][1] for n in counters), "no counter moved after writing"


# --- secrets at rest ------------------------------------------------------------------------
async def test_no_plain_secret_at_rest_after_sealed_keys_and_a_snapshot(journal_factory):
    """Sealed ``CreateKey`` records (as the edge writes them) and snapshots holding the keys
    leave no plain secret anywhere in the backend's storage, revoked keys included; after a
    restart the keys hold the same sealed values, which still open to the secrets."""
    data_keys = DataKeys({1: new_key()}, 1)
    rng = random.Random(7)
    secrets = {f"SEALEDKEY{i:07d}": "".join(rng.choice(string.ascii_letters) for _ in range(32)) for i in range(6)}
    names = list(secrets)
    commands = [C.CreateProduct("sealed"),
                *(C.CreateKey("sealed", k, data_keys.seal(k, s), 3) for k, s in secrets.items()),
                C.RevokeKey(names[0]), C.RevokeKey(names[1])]
    driver = Driver(journal_factory.owned(), make_engine(), snapshot_every=4)
    driver.commands = iter(commands)
    await driver.run(len(commands), burst=3)
    driver.close()
    assert driver.accepted == commands and driver.journal.snapshots.seqs()

    stored = journal_factory.stored_bytes()
    for api_key, secret in secrets.items():
        assert api_key.encode() in stored  # the records are there ...
        assert secret.encode() not in stored, f"{api_key}'s secret is stored in plain text"  # ... sealed
    for use_snapshots in (True, False):
        engine = recover(journal_factory.open(), make_engine, use_snapshots=use_snapshots).engine
        assert engine.state_hash() == driver.engine.state_hash()
        assert {k: data_keys.unseal(k, engine.keys[k].secret).reveal() for k in names} == secrets
        assert [k for k in names if engine.keys[k].revoked] == names[:2]
