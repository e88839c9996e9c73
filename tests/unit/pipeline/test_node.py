"""Node + Sequencer end to end in-process: a real data directory with fsync, snapshots,
pruning, projection, final snapshot, reopen with the same state."""

from __future__ import annotations

import asyncio

import pytest

from ceres.assembly import engine_factory, open_node
from ceres.config import load_config
from ceres.domain import commands as C
from ceres.domain.errors import CeresError
from ceres.journal.file import FileJournal
from ceres.pipeline.frames import JournalGap, scan
from ceres.pipeline.journal import JournalLocked
from ceres.pipeline.node import Node
from ceres.pipeline.recovery import recover
from journal_helpers import command_stream

WAIT = 20.0


def config(**journal):
    j = {"fsync": True, "snapshot_every": 50, "keep_snapshots": 2, "segment_mb": 1, **journal}
    return load_config(env={}, overrides={"journal": j, "demo": {"enabled": False}})


async def drive(node: Node, n: int, seed: int = 3, burst: int = 16) -> int:
    """Submit ``n`` commands in bursts (one batch each); returns how many were accepted."""
    stream = command_stream(node.engine, seed)
    accepted = 0
    sent = 0
    while sent < n:
        futs = [node.sequencer.submit(next(stream)) for _ in range(min(burst, n - sent))]
        sent += len(futs)
        for r in await asyncio.wait_for(asyncio.gather(*futs, return_exceptions=True), WAIT):
            accepted += not isinstance(r, BaseException)
    return accepted


def journal_seqs(node: Node) -> list[int]:
    out = []
    for _, path in node.journal.dir.segments():
        for f in scan(path.read_bytes()).frames:
            out += range(f.first_seq, f.last_seq + 1)
    return out


async def wait_until(pred, timeout: float = WAIT) -> None:
    end = asyncio.get_running_loop().time() + timeout
    while not pred():
        assert asyncio.get_running_loop().time() < end, "timed out"
        await asyncio.sleep(0.005)


async def test_open_submit_close_reopen_same_state(tmp_path):
    cfg = config()
    node, report = open_node(cfg, tmp_path / "data")
    assert report.recovery.last_seq == 0
    accepted = await drive(node, 400)
    assert accepted == node.engine.seq == node.sequencer.durable_seq
    # snapshot_every=50 made snapshots while running; keep_snapshots=2 pruned the rest
    await wait_until(lambda: node.background.snapshots_written >= 6)
    seq_at_close = node.engine.seq
    state = node.engine.state_hash()
    assert node.engine.check() == []
    await node.close()

    snaps = [s for s, _ in node.journal.dir.snapshot_files()]
    assert len(snaps) == 2 and snaps[-1] == seq_at_close  # the final snapshot
    # segments roll after each snapshot, so the covered ones were deleted
    # (but the journal still reaches back to the oldest snapshot kept)
    segs = [s for s, _ in node.journal.dir.segments()]
    assert 1 < segs[0] <= snaps[0] + 1

    again, report = open_node(cfg, tmp_path / "data")
    try:
        rec = report.recovery
        assert rec.snapshot_seq == seq_at_close and rec.replayed == 0
        assert again.engine.state_hash() == state
        assert again.background.projector.last_seq() == seq_at_close
        # and it keeps working from there
        await again.sequencer.submit(C.CreateProduct("carol"))
        assert again.engine.seq == seq_at_close + 1
    finally:
        await again.close()


@pytest.mark.parametrize("keep", [0, 2])
async def test_crash_without_final_snapshot_replays_the_tail(tmp_path, keep):
    """keep_snapshots=0 prunes nothing (the whole journal stays); 2 prunes the journal
    up to the oldest kept snapshot, which is then the earliest replay can start from."""
    cfg = config(snapshot_every=64, keep_snapshots=keep)
    node, _ = open_node(cfg, tmp_path / "data")
    await drive(node, 300, seed=5)
    await wait_until(lambda: node.background.snapshots_written >= 4)
    state, last = node.engine.state_hash(), node.engine.seq
    await node.close(final_snapshot=False)
    snaps = [s for s, _ in node.journal.dir.snapshot_files()]
    assert snaps and snaps[-1] < last
    assert len(snaps) == (4 if keep == 0 else 2)

    with_snap = recover(FileJournal(tmp_path / "data"), engine_factory(cfg))
    assert with_snap.snapshot_seq == snaps[-1] and with_snap.replayed == last - snaps[-1]
    oldest = recover(FileJournal(tmp_path / "data"), engine_factory(cfg), max_snapshot_seq=snaps[0])
    assert oldest.snapshot_seq == snaps[0] and oldest.replayed == last - snaps[0]
    assert with_snap.engine.state_hash() == oldest.engine.state_hash() == state
    if keep == 0:
        full = recover(FileJournal(tmp_path / "data"), engine_factory(cfg), use_snapshots=False)
        assert full.replayed == last and full.engine.state_hash() == state
    else:
        with pytest.raises(JournalGap):
            recover(FileJournal(tmp_path / "data"), engine_factory(cfg), use_snapshots=False)

    again, report = open_node(cfg, tmp_path / "data")
    try:
        assert report.recovery.snapshot_seq == snaps[-1]
        assert again.engine.state_hash() == state
    finally:
        await again.close()


async def test_rejected_commands_are_not_journaled_and_change_nothing(tmp_path):
    node, _ = open_node(config(), tmp_path / "data")
    try:
        await drive(node, 40)
        before, seq = node.engine.state_hash(), node.engine.seq
        bad = [C.Deposit("nobody", "USDT", 1), C.Withdraw("alice", "USDT", 10**30),
               C.Place("alice", "TEST", "NOPE/USDT", 1, 1, 100, 1), C.CreateProduct("alice"),
               C.Place("alice", "TEST", "BTC/USDT", 3, 1, 100, 1)]
        futs = [node.sequencer.submit(cmd) for cmd in bad]
        results = await asyncio.gather(*futs, return_exceptions=True)
        assert all(isinstance(r, CeresError) for r in results)
        await node.sequencer.drain()
        assert node.engine.state_hash() == before and node.engine.seq == seq
        assert journal_seqs(node) == list(range(1, seq + 1))
    finally:
        await node.close()


async def test_second_open_of_the_same_directory_is_refused(tmp_path):
    node, _ = open_node(config(), tmp_path / "data")
    try:
        with pytest.raises(JournalLocked):
            open_node(config(), tmp_path / "data")
    finally:
        await node.close()
    other, _ = open_node(config(), tmp_path / "data")
    await other.close()


async def test_projection_is_brought_up_to_date_on_open(tmp_path):
    cfg = config(snapshot_every=0)
    node, _ = open_node(cfg, tmp_path / "data")
    await drive(node, 120)
    last = node.engine.seq
    await node.sequencer.projection_caught_up()
    assert node.background.projector.last_seq() == last
    await node.close(final_snapshot=False)
    # lose the projection: it is derived, the journal rebuilds it on open
    for p in node.journal.dir.root.glob("ceres.db*"):
        p.unlink()
    again, report = open_node(cfg, tmp_path / "data")
    try:
        assert report.projection_from == 0 and not report.projection_gap
        assert again.background.projector.last_seq() == last
        # the catch-up ran on this thread; the background thread must still be able to
        # write afterwards (sqlite connections are bound to the thread that opened them)
        await drive(again, 30, seed=11)
        await asyncio.wait_for(again.sequencer.projection_caught_up(), WAIT)
        assert again.background.failed is None
        assert again.background.projector.last_seq() == again.engine.seq > last
    finally:
        await again.close()


async def test_segment_size_limit_rolls_without_snapshots(tmp_path):
    cfg = config(snapshot_every=0, segment_mb=1)
    node, _ = open_node(cfg, tmp_path / "data")
    try:
        # ~20 bytes of header per frame plus records: a few thousand commands pass 1 MB
        stream = command_stream(node.engine, 9)
        while node.writer.bytes < (1 << 20) + 4096:
            futs = [node.sequencer.submit(next(stream)) for _ in range(256)]
            await asyncio.wait_for(asyncio.gather(*futs, return_exceptions=True), WAIT)
    finally:
        await node.close(final_snapshot=False)
    segs = node.journal.dir.segments()
    assert len(segs) >= 2
    assert segs[0][1].stat().st_size >= 1 << 20
    assert journal_seqs(node) == list(range(1, node.engine.seq + 1))
