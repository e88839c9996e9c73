"""The file backend's group commit: frames queued while a write is under way go out as one
group (one fsync), a roll after a snapshot starts a new segment, close writes everything
queued, a failed write is reported once. Driven with a writer that can be held (a slow
fsync) or made to fail (a dying disk)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from ceres.journal.file.group_commit import GroupCommitter
from ceres.journal.file.segments import DataDir, SegmentWriter
from ceres.pipeline.frames import scan
from journal_helpers import WAIT, HeldWriter, frame, records_in, wait_for


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
        self.writable = 0

    def on_durable(self, seq: int) -> None:
        self.durable.append(seq)

    def on_failure(self, exc: BaseException) -> None:
        self.failures.append(exc)

    def on_writable(self) -> None:
        self.writable += 1


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


async def test_a_failed_write_is_reported_once_and_nothing_after_it_is_written(d):
    gc, w, rec = committer(d)
    gc.submit(frame(1), 1)
    await wait_for(lambda: rec.durable == [1])
    w.fail = OSError(28, "No space left on device")
    w.partial = True  # half of the frame reaches the file
    gc.submit(frame(2), 2)
    await wait_for(lambda: rec.failures)
    w.fail = None
    gc.submit(frame(3), 3)  # queued after the failure: would leave a hole, so it is dropped
    await asyncio.sleep(0.05)
    assert len(rec.failures) == 1 and rec.failures[0].errno == 28
    assert rec.durable == [1] and rec.writable == 0
    gc.close()
    assert [s for s, _ in records_in(d)] == [1]


async def test_resume_cuts_back_to_the_durable_point_and_writes_again(d):
    gc, w, rec = committer(d)
    gc.submit(frame(1), 1)
    await wait_for(lambda: rec.durable == [1])
    seg = d.segments()[-1][1]
    durable_size = seg.stat().st_size
    w.fail, w.partial = OSError(28, "No space left on device"), True
    gc.submit(frame(2), 2)
    await wait_for(lambda: rec.failures)
    assert seg.stat().st_size > durable_size  # the cut-short write is on disk
    gc.resume()  # the disk still refuses: reported again, nothing written
    await wait_for(lambda: len(rec.failures) == 2)
    w.fail = None
    gc.resume()
    await wait_for(lambda: rec.writable == 1)
    assert seg.stat().st_size == durable_size  # cut back to the last durable write
    assert not (d.journal / ".probe").exists()
    gc.submit(frame(2), 2)  # seq 2 again: it was never durable
    await wait_for(lambda: rec.durable == [1, 2])
    gc.close()
    assert [s for s, _ in records_in(d)] == [1, 2]
