"""Group commit and the sequencer's journal-before-reply rule, driven in-process with a
journal writer that can be held (a slow fsync) or made to fail (a dying disk)."""

from __future__ import annotations

import asyncio
import threading

import pytest
from journal_helpers import T0, make_engine, setup_commands

from ceres.domain import commands as C
from ceres.domain.errors import CeresError, ErrorCode
from ceres.journal.file import FileJournal
from ceres.journal.file.group_commit import GroupCommitter
from ceres.journal.file.segments import DataDir, SegmentWriter
from ceres.pipeline.frames import decode_records, encode_frame, scan
from ceres.pipeline.recovery import recover
from ceres.pipeline.sequencer import Sequencer

WAIT = 10.0


class HeldWriter(SegmentWriter):
    """A SegmentWriter whose writes wait for ``gate`` (a slow disk) and can fail."""

    def __init__(self, *args, **kw) -> None:
        super().__init__(*args, **kw)
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.writes: list[int] = []
        self.fail: BaseException | None = None

    def write(self, data: bytes) -> None:
        self.entered.set()
        if not self.gate.wait(WAIT):
            raise TimeoutError("gate never opened")
        if self.fail is not None:
            raise self.fail
        self.writes.append(len(data))
        super().write(data)


def frame(seq: int) -> bytes:
    return encode_frame(seq, [(T0 + seq, C.CreateProduct(f"p{seq}"))])


def records_in(d: DataDir) -> list[tuple[int, C.Command]]:
    out = []
    for _, path in d.segments():
        for f in scan(path.read_bytes()).frames:
            out += [(f.first_seq + i, cmd) for i, (_, cmd) in enumerate(decode_records(f.payload))]
    return out


async def wait_for(pred, timeout: float = WAIT) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not pred():
        if loop.time() > end:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.002)


@pytest.fixture
def d(tmp_path) -> DataDir:
    dd = DataDir(tmp_path / "data")
    dd.create()
    return dd


# --- GroupCommitter ---------------------------------------------------------------------------
class Recorder:
    """A DurabilitySink that remembers what it was told."""

    def __init__(self) -> None:
        self.durable: list[int] = []
        self.failures: list[BaseException] = []

    def on_durable(self, seq: int) -> None:
        self.durable.append(seq)

    def on_failure(self, exc: BaseException) -> None:
        self.failures.append(exc)


def committer(d: DataDir, writer: SegmentWriter | None = None) -> tuple[GroupCommitter, HeldWriter, Recorder]:
    w = writer or HeldWriter(d, 1, fsync=True)
    rec = Recorder()
    gc = GroupCommitter(w)
    gc.start(rec)
    return gc, w, rec


async def test_frames_queued_during_a_write_go_out_as_one_group(d):
    gc, w, rec = committer(d)
    w.gate.clear()
    gc.submit(frame(1), 1)
    assert w.entered.wait(WAIT)  # the journal thread is inside the first write
    for seq in (2, 3, 4, 5):
        gc.submit(frame(seq), seq)
    w.gate.set()
    await wait_for(lambda: rec.durable and rec.durable[-1] == 5)
    assert rec.durable == [1, 5]
    assert w.writes == [len(frame(1)), sum(len(frame(s)) for s in (2, 3, 4, 5))]
    assert (gc.groups, gc.frames, gc.last_group_frames) == (2, 5, 4)
    assert gc.max_fsync_s >= gc.last_fsync_s > 0
    gc.close()
    assert [s for s, _ in records_in(d)] == [1, 2, 3, 4, 5]


async def test_roll_flag_starts_a_new_segment_after_its_group(d):
    gc, _w, rec = committer(d)
    gc.submit(frame(1), 1)
    gc.submit(frame(2), 2, True)  # e.g. a snapshot was taken at seq 2
    await wait_for(lambda: rec.durable and rec.durable[-1] == 2)
    gc.submit(frame(3), 3)
    await wait_for(lambda: rec.durable[-1] == 3)
    gc.close()
    assert [s for s, _ in d.segments()] == [1, 3]
    assert [f.first_seq for f in scan(d.segment_path(3).read_bytes()).frames] == [3]


async def test_stop_writes_everything_queued(d):
    gc, w, _rec = committer(d)
    w.gate.clear()
    for seq in range(1, 21):
        gc.submit(frame(seq), seq)
    threading.Timer(0.05, w.gate.set).start()
    gc.close()
    assert [s for s, _ in records_in(d)] == list(range(1, 21))
    assert not gc._thread.is_alive()


async def test_a_failed_write_reports_and_stops_the_thread(d):
    gc, w, rec = committer(d)
    w.fail = OSError(28, "No space left on device")
    gc.submit(frame(1), 1)
    await wait_for(lambda: rec.failures)
    assert rec.failures == [w.fail] and rec.durable == []
    gc._thread.join(WAIT)
    assert not gc._thread.is_alive()
    gc.close()


# --- Sequencer + GroupCommitter ---------------------------------------------------------------
class Rig:
    def __init__(self, d: DataDir, snapshot_every: int = 0) -> None:
        self.d = d
        self.engine = make_engine()
        ticks = iter(range(T0, T0 + 10**9))
        self.writer = HeldWriter(d, 1, fsync=True)
        self.fatal: list[BaseException] = []
        self.committer = GroupCommitter(self.writer)
        self.delivered: list[int] = []
        self.seq = Sequencer(self.engine, self.committer, self, None, asyncio.get_running_loop(),
                             snapshot_every=snapshot_every, clock=lambda: next(ticks), on_fatal=self.fatal.append)
        self.committer.start(self.seq)

    def dispatch(self, items) -> None:
        """The sequencer's batch sink: record which commands were released."""
        self.delivered.extend(s for s, _ in items)

    async def setup(self) -> None:
        for cmd in setup_commands():
            await self.seq.submit(cmd)

    def close(self) -> None:
        self.writer.gate.set()
        self.committer.close()


@pytest.fixture
async def rig(d):
    r = Rig(d)
    yield r
    r.close()


async def test_reply_waits_for_durability(rig):
    rig.writer.gate.clear()
    fut = rig.seq.submit(C.CreateProduct("alice"))
    await asyncio.sleep(0.05)
    assert "alice" in rig.engine.products  # applied at once, inline ...
    assert not fut.done()  # ... but not released before it is on disk
    assert rig.seq.durable_seq == 0 and rig.delivered == []
    assert records_in(rig.d) == []
    rig.writer.gate.set()
    assert await asyncio.wait_for(fut, WAIT) is None
    assert rig.seq.durable_seq == 1 and rig.delivered == [1]
    assert records_in(rig.d) == [(1, C.CreateProduct("alice"))]


async def test_commands_of_one_loop_iteration_form_one_frame(rig):
    futs = [rig.seq.submit(C.CreateProduct(f"p{i}")) for i in range(50)]
    await asyncio.wait_for(asyncio.gather(*futs), WAIT)
    [(_, seg)] = rig.d.segments()
    frames = scan(seg.read_bytes()).frames
    assert [(f.first_seq, f.count) for f in frames] == [(1, 50)]
    assert rig.seq.batches == 1 and rig.seq.commands == 50
    assert rig.delivered == list(range(1, 51))


async def test_rejected_command_with_nothing_pending_answers_at_once(rig):
    await rig.setup()
    before, seq_before, writes = rig.engine.state_hash(), rig.seq.seq, len(rig.writer.writes)
    fut = rig.seq.submit(C.Deposit("nobody", "USDT", 5))
    assert fut.done()
    with pytest.raises(CeresError) as info:
        fut.result()
    assert info.value.error is ErrorCode.UNKNOWN_PRODUCT
    await asyncio.sleep(0.02)
    assert rig.engine.state_hash() == before
    assert rig.seq.seq == rig.engine.seq == seq_before
    assert len(rig.writer.writes) == writes
    assert rig.seq.rejects == {ErrorCode.UNKNOWN_PRODUCT.code: 1}


async def test_rejected_command_is_not_journaled_and_waits_for_earlier_batches(rig):
    await rig.setup()
    base = rig.seq.seq
    rig.writer.gate.clear()
    ok1 = rig.seq.submit(C.Deposit("alice", "USDT", 7))
    bad = rig.seq.submit(C.Withdraw("alice", "ETH", 1))  # unknown currency
    ok2 = rig.seq.submit(C.Deposit("bob", "USDT", 9))
    await asyncio.sleep(0.05)
    assert not bad.done(), "a reject must not overtake the durable acks before it"
    rig.writer.gate.set()
    await asyncio.wait_for(asyncio.gather(ok1, ok2), WAIT)
    with pytest.raises(CeresError):
        await bad
    journaled = records_in(rig.d)
    assert [s for s, _ in journaled] == list(range(1, base + 3))  # no hole for the reject
    assert journaled[-2:] == [(base + 1, C.Deposit("alice", "USDT", 7)),
                              (base + 2, C.Deposit("bob", "USDT", 9))]
    rec = recover(FileJournal(rig.d.root), make_engine)
    assert rec.engine.state_hash() == rig.engine.state_hash()


async def test_a_reject_alone_waits_for_a_batch_in_flight(rig):
    await rig.setup()
    rig.writer.gate.clear()
    ok = rig.seq.submit(C.Deposit("alice", "USDT", 7))
    await asyncio.sleep(0)  # the batch is flushed and in flight
    await asyncio.sleep(0.01)
    bad = rig.seq.submit(C.Deposit("nobody", "USDT", 7))
    await asyncio.sleep(0.05)
    assert not ok.done() and not bad.done()
    rig.writer.gate.set()
    await asyncio.wait_for(ok, WAIT)
    with pytest.raises(CeresError):
        await asyncio.wait_for(bad, WAIT)


async def test_journal_failure_fails_pending_and_later_commands(rig):
    await rig.setup()
    before = rig.engine.seq
    rig.writer.fail = OSError(5, "Input/output error")
    fut = rig.seq.submit(C.Deposit("alice", "USDT", 1))
    with pytest.raises(CeresError) as info:
        await asyncio.wait_for(fut, WAIT)
    assert info.value.error is ErrorCode.JOURNAL_FAILURE
    assert rig.fatal and rig.seq.failed is rig.fatal[0]
    later = rig.seq.submit(C.Deposit("alice", "USDT", 1))
    assert later.done() and later.exception().error is ErrorCode.JOURNAL_FAILURE
    assert rig.engine.seq == before + 1  # applied in memory, never acknowledged
    assert recover(FileJournal(rig.d.root), make_engine).last_seq == before


async def test_drain_waits_until_everything_is_durable(rig):
    rig.writer.gate.clear()
    futs = [rig.seq.submit(C.CreateProduct(f"p{i}")) for i in range(5)]
    threading.Timer(0.05, rig.writer.gate.set).start()
    await rig.seq.drain()
    assert rig.seq.durable_seq == 5
    await asyncio.sleep(0)
    assert all(f.done() for f in futs)


async def test_a_batch_that_cannot_be_encoded_stops_the_sequencer(rig, monkeypatch):
    """Applied in memory but impossible to journal: nothing may be acknowledged after
    it (a later durable batch would otherwise release it, leaving a hole in the journal)."""
    import ceres.pipeline.sequencer as sequencer_module

    real = sequencer_module.encode_frame

    def encode(first, records):
        if any(cmd == C.CreateProduct("boom") for _, cmd in records):
            raise OverflowError("can't serialize ints > 2**64 - 1")
        return real(first, records)

    monkeypatch.setattr(sequencer_module, "encode_frame", encode)
    await rig.setup()
    before = rig.engine.seq
    bad = rig.seq.submit(C.CreateProduct("boom"))
    with pytest.raises(CeresError) as info:
        await asyncio.wait_for(bad, WAIT)
    assert info.value.error is ErrorCode.JOURNAL_FAILURE
    assert rig.fatal and isinstance(rig.seq.failed, OverflowError)
    later = rig.seq.submit(C.CreateProduct("fine"))
    assert later.done() and later.exception().error is ErrorCode.JOURNAL_FAILURE
    rec = recover(FileJournal(rig.d.root), make_engine)
    assert rec.last_seq == before and "boom" not in rec.engine.products
