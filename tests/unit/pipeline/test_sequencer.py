"""The sequencer's journal-before-reply rule over the file journal: a reply waits until its
command is durable, one loop iteration is one frame, rejects are not journaled but keep
their place in line, a journal failure fails everything pending and later. Driven with a
writer that can be held (a slow fsync) or made to fail (a dying disk)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from ceres.domain import commands as C
from ceres.domain.errors import CeresError, ErrorCode
from ceres.journal.file import FileJournal
from ceres.journal.file.group_commit import GroupCommitter
from ceres.journal.file.segments import DataDir
from ceres.pipeline.frames import scan
from ceres.pipeline.recovery import recover
from ceres.pipeline.sequencer import Sequencer
from journal_helpers import T0, WAIT, HeldWriter, make_engine, records_in, setup_commands, wait_for


@pytest.fixture
def d(tmp_path) -> DataDir:
    dd = DataDir(tmp_path / "data")
    dd.create()
    return dd


# --- Sequencer + GroupCommitter ---------------------------------------------------------------
class Rig:
    def __init__(self, d: DataDir, snapshot_every: int = 0, *, rewind: bool = False) -> None:
        self.d = d
        self.engine = make_engine()
        ticks = iter(range(T0, T0 + 10**9))
        self.writer = HeldWriter(d, 1, fsync=True)
        self.fatal: list[BaseException] = []
        self.committer = GroupCommitter(self.writer, probe_bytes=4096)
        self.delivered: list[int] = []
        self.seq = Sequencer(self.engine, self.committer, self, None, asyncio.get_running_loop(),
                             snapshot_every=snapshot_every, clock=lambda: next(ticks), on_fatal=self.fatal.append,
                             rewind=self.rewind if rewind else None, retry_s=0.02)
        self.committer.start(self.seq)

    def rewind(self, seq: int) -> None:
        """What ``Node.rewind`` does: recover to ``seq`` and adopt that state."""
        self.engine.adopt(recover(FileJournal(self.d.root), make_engine, upto=seq).engine)

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


# --- a failed write is survived: refuse, rewind, resume ---------------------------------------
@pytest.fixture
async def rewinding(d):
    r = Rig(d, rewind=True)
    yield r
    r.close()


@pytest.mark.parametrize("partial", [False, True], ids=["nothing written", "write cut short"])
async def test_a_failed_write_refuses_its_batch_rewinds_and_resumes_when_the_disk_writes(rewinding, partial):
    rig = rewinding
    await rig.setup()
    durable = rig.seq.durable_seq
    rig.writer.partial = partial
    rig.writer.fail = OSError(28, "No space left on device")
    ghosts = [rig.seq.submit(C.CreateProduct(f"ghost{i}")) for i in range(3)]
    for fut in ghosts:
        with pytest.raises(CeresError) as info:
            await asyncio.wait_for(fut, WAIT)
        assert info.value.error is ErrorCode.JOURNAL_FAILURE and "No space left" in str(info.value.message)
    # nothing a refused command did is left in memory, and the server did not stop
    assert not any(p.startswith("ghost") for p in rig.engine.products)
    assert rig.seq.seq == rig.engine.seq == durable and rig.fatal == []
    assert rig.seq.degraded is not None
    # while the disk refuses: commands are refused at once, without being applied
    await asyncio.sleep(0.1)  # a few resume attempts fail
    refused = rig.seq.submit(C.CreateProduct("during"))
    assert refused.done() and refused.exception().error is ErrorCode.JOURNAL_FAILURE
    assert "during" not in rig.engine.products and rig.seq.degraded is not None
    # the disk writes again: the next attempt resumes, commands are accepted again
    rig.writer.fail = None
    await wait_for(lambda: rig.seq.degraded is None)
    assert await asyncio.wait_for(rig.seq.submit(C.CreateProduct("after")), WAIT) is None
    assert rig.seq.durable_seq == durable + 1  # the refused seqs were never journaled
    journaled = records_in(rig.d)
    assert journaled[-1] == (durable + 1, C.CreateProduct("after"))
    assert [s for s, _ in journaled] == list(range(1, durable + 2))  # no gap, no ghost, no cut-short bytes
    assert recover(FileJournal(rig.d.root), make_engine).engine.state_hash() == rig.engine.state_hash()


async def test_a_read_waiting_for_durability_is_refused_when_the_write_fails(rewinding):
    rig = rewinding
    await rig.setup()
    rig.writer.gate.clear()
    rig.seq.submit(C.CreateProduct("pending"))
    read = asyncio.ensure_future(rig.seq.durable_caught_up())
    await asyncio.sleep(0.02)
    assert not read.done()  # the state it would show is not durable yet
    rig.writer.fail = OSError(5, "Input/output error")
    rig.writer.gate.set()
    with pytest.raises(CeresError) as info:
        await asyncio.wait_for(read, WAIT)
    assert info.value.error is ErrorCode.JOURNAL_FAILURE
    assert "pending" not in rig.engine.products


async def test_a_read_is_released_once_what_it_shows_is_durable(rewinding):
    rig = rewinding
    await rig.setup()
    rig.writer.gate.clear()
    placed = rig.seq.submit(C.CreateProduct("carol"))
    read = asyncio.ensure_future(rig.seq.durable_caught_up())
    await asyncio.sleep(0.02)
    assert not read.done()
    rig.writer.gate.set()
    await asyncio.wait_for(read, WAIT)
    assert rig.seq.durable_seq >= rig.seq.seq and placed.done()
