"""Following the JetStream journal while another process writes it, and the new owner's claim
(issue 12, items 2-3): a follower continues exactly where its recovery stopped and gets every
frame once, in order; a claim is refused while the stream holds frames the claimant has not
read; after a claim, frames of the older epoch are skipped by followers and recoveries alike."""

from __future__ import annotations

import asyncio
import json

import pytest

from ceres.journal.jetstream.journal import JetStreamJournal
from ceres.journal.jetstream.publisher import EPOCH, EXPECTED_LAST
from tests.journal_helpers import frame, wait_for
from tests.natsproc import NatsNode, free_port


@pytest.fixture
def node(tmp_path):
    n = NatsNode(tmp_path, "n1", free_port()).start()
    yield n
    n.stop()


def raw_write(journal: JetStreamJournal, data: bytes, epoch: int, after: int) -> dict:
    """A frame published as a writer of ``epoch`` would, expecting stream seq ``after`` last."""
    async def send() -> dict:
        s = journal.stream
        msg = await s.nc.request(s.subject, data, timeout=5, headers={EXPECTED_LAST: str(after), EPOCH: str(epoch)})
        return dict(json.loads(msg.data))
    return dict(journal.run(send()))


def seqs(frames) -> list[int]:
    return [f.first_seq for f in frames]


async def test_a_follower_goes_on_where_recovery_stopped_and_skips_older_epochs_after_a_claim(node):
    writer = JetStreamJournal([node.url], "TAIL", lease_s=2)
    follower = JetStreamJournal([node.url], "TAIL", lease_s=2)
    try:
        assert writer.ownership.acquire() == 1
        for seq in (1, 2, 3):
            assert raw_write(writer, frame(seq), 1, seq - 1)["seq"] == seq
        assert seqs(follower.reader.frames(0)) == [1, 2, 3]
        assert follower.reader.position.stream_seq == 3 and follower.reader.position.epoch == 1
        got: list[tuple[list[int], int]] = []
        errors: list[BaseException] = []
        tail = follower.follow(lambda frames, stream_seq: got.append((seqs(frames), stream_seq)), errors.append)
        try:
            assert raw_write(writer, frame(4), 1, 3)["seq"] == 4
            await wait_for(lambda: len(got) == 1)
            assert got == [([4], 4)]
            # a new owner (epoch 2) cannot claim behind a frame it has not read ...
            writer.ownership.release()
            assert follower.ownership.acquire() == 2
            assert follower.claim(3) is None
            # ... and claims right after the tail it has read
            assert follower.claim(4) == 5
            await wait_for(lambda: len(got) == 2)
            assert got[1] == ([], 5)  # the claim marker: read, no records
            # the old owner's next frame still matches the stream's tail, and is stored, but is
            # not part of the journal: followers skip it, as recovery does
            assert raw_write(writer, frame(5), 1, 5)["seq"] == 6
            await wait_for(lambda: len(got) == 3)
            assert got[2] == ([], 6)
            assert raw_write(writer, frame(5), 2, 6)["seq"] == 7
            await wait_for(lambda: len(got) == 4)
            assert got[3] == ([5], 7)
            assert errors == []
        finally:
            tail.stop()
        reader = JetStreamJournal([node.url], "TAIL")
        try:
            assert seqs(reader.reader.frames(0)) == [1, 2, 3, 4, 5]
        finally:
            reader.close()
    finally:
        writer.close()
        follower.close()


async def test_a_follower_sees_frames_written_while_it_resubscribes(node):
    """The tail's watchdog recreates the consumer from its position when the stream holds more
    than was delivered (here: the subscription removed under it)."""
    writer = JetStreamJournal([node.url], "TAIL2")
    follower = JetStreamJournal([node.url], "TAIL2")
    try:
        writer.ownership.acquire()
        list(follower.reader.frames(0))
        got: list[int] = []
        tail = follower.follow(lambda frames, _: got.extend(seqs(frames)), lambda exc: None)
        try:
            follower.run(tail._sub.unsubscribe())
            for seq in (1, 2, 3):
                raw_write(writer, frame(seq), 1, seq - 1)
            await wait_for(lambda: got == [1, 2, 3], timeout=15)
        finally:
            tail.stop()
    finally:
        writer.close()
        follower.close()


async def test_a_deposed_owner_learns_it_lost_the_lease(node):
    first = JetStreamJournal([node.url], "LEASE", lease_s=1.5)
    second = JetStreamJournal([node.url], "LEASE", lease_s=1.5)
    lost: list[str] = []
    try:
        first.ownership.acquire()
        first.ownership.on_lost = lost.append
        # the first owner's renewals are held up (as by a long pause) until its lease has run out
        first.run(_pause_renewals(first))
        assert second.ownership.acquire(wait_s=3) == 2
        first.run(_resume_renewals(first))
        await wait_for(lambda: lost, timeout=5)
        assert "another process took the lease" in lost[0]
    finally:
        first.close()
        second.close()


async def _pause_renewals(journal: JetStreamJournal) -> None:
    task = journal.ownership._renewer
    assert task is not None
    task.cancel()
    await asyncio.sleep(0)


async def _resume_renewals(journal: JetStreamJournal) -> None:
    journal.ownership._renewer = asyncio.ensure_future(journal.ownership._renew())
