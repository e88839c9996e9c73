"""The data directory: naming, atomic snapshots, pruning, segment writer, the owner lock."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap

import pytest

from ceres.journal.file.lock import FileOwnership
from ceres.journal.file.segments import DataDir, SegmentWriter
from ceres.pipeline.frames import decode_snapshot, encode_frame, encode_snapshot, scan
from ceres.pipeline.journal import JournalLocked
from journal_helpers import T0


def frame(first: int, n: int = 1) -> bytes:
    from ceres.domain import commands as C

    return encode_frame(first, [(T0 + s, C.CreateProduct(f"p{s}")) for s in range(first, first + n)])


def touch_segments(d: DataDir, firsts: list[int]) -> None:
    for f in firsts:
        d.segment_path(f).write_bytes(b"")


def touch_snapshots(d: DataDir, seqs: list[int]) -> None:
    for s in seqs:
        d.write_snapshot(s, encode_snapshot(s, {"version": 1, "seq": s}))


def names(paths) -> list[str]:
    return sorted(p.name for p in paths)


@pytest.fixture
def d(tmp_path) -> DataDir:
    dd = DataDir(tmp_path / "data")
    dd.create()
    return dd


# --- naming and listing ---------------------------------------------------------------------
def test_layout_and_sorted_numeric_listing(d):
    assert d.segment_path(42).name == "00000000000000000042.wal"
    assert d.segment_path(42).parent == d.root / "journal"
    touch_segments(d, [1000, 7, 200])
    (d.journal / "notes.txt").write_text("x")
    (d.journal / "abc.wal").write_text("x")
    touch_snapshots(d, [300, 20])
    (d.snapshots / "00000000000000000099.tmp").write_text("x")
    assert [s for s, _ in d.segments()] == [7, 200, 1000]
    assert [s for s, _ in d.snapshot_files()] == [20, 300]


def test_listing_a_missing_directory_is_empty(tmp_path):
    d = DataDir(tmp_path / "nothing")
    assert d.segments() == [] and d.snapshot_files() == []


def test_write_snapshot_is_atomic_and_private(d):
    path = d.write_snapshot(12345, encode_snapshot(12345, {"version": 1, "seq": 12345, "x": [1, 2]}))
    assert path.name == "00000000000000012345.snap"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert list(d.snapshots.glob("*.tmp")) == []
    assert decode_snapshot(path.read_bytes()) == (12345, {"version": 1, "seq": 12345, "x": [1, 2]})
    # rewriting the same seq replaces the file whole
    d.write_snapshot(12345, encode_snapshot(12345, {"version": 1, "seq": 12345, "x": []}))
    assert decode_snapshot(path.read_bytes())[1]["x"] == []


# --- pruning ----------------------------------------------------------------------------------
def test_prune_keeps_newest_snapshots_and_deletes_only_covered_segments(d):
    touch_segments(d, [1, 150, 250, 301, 350, 420])
    touch_snapshots(d, [100, 200, 300, 400])
    removed = d.prune(keep_snapshots=2)
    assert [s for s, _ in d.snapshot_files()] == [300, 400]
    # oldest kept snapshot is 300: segment 1 (1..149), 150 (150..249) and 250 (250..300)
    # are covered; 301 (301..349) holds records after 300 and stays, as do the later ones
    assert [s for s, _ in d.segments()] == [301, 350, 420]
    assert names(removed) == names([d.snapshots / f"{s:020d}.snap" for s in (100, 200)]
                                   + [d.segment_path(s) for s in (1, 150, 250)])


def test_prune_keeps_a_segment_reaching_one_past_the_snapshot(d):
    touch_segments(d, [1, 302])  # segment 1 holds 1..301; snapshot 300 does not cover 301
    touch_snapshots(d, [300])
    assert d.prune(1) == []
    assert [s for s, _ in d.segments()] == [1, 302]


def test_prune_never_deletes_the_last_segment(d):
    touch_segments(d, [1, 50])
    touch_snapshots(d, [1000])
    d.prune(1)
    assert [s for s, _ in d.segments()] == [50]


@pytest.mark.parametrize("keep", [0, -1])
def test_prune_with_nothing_to_keep_or_no_snapshots_does_nothing(d, keep):
    touch_segments(d, [1, 10])
    touch_snapshots(d, [20])
    assert d.prune(keep) == []
    assert len(d.segments()) == 2 and len(d.snapshot_files()) == 1
    d.snapshot_files()[0][1].unlink()
    assert d.prune(3) == []
    assert len(d.segments()) == 2


def test_prune_keeping_more_than_exist_keeps_all_and_clears_temp_files(d):
    touch_segments(d, [1, 10, 30])
    touch_snapshots(d, [9, 29])
    (d.snapshots / "00000000000000000050.tmp").write_bytes(b"partial")
    d.prune(5)
    assert [s for s, _ in d.snapshot_files()] == [9, 29]
    assert [s for s, _ in d.segments()] == [10, 30]  # segment 1 is 1..9: covered by 9
    assert list(d.snapshots.glob("*.tmp")) == []


# --- segment writer ------------------------------------------------------------------------------
def test_writer_starts_a_segment_named_by_next_seq(d):
    w = SegmentWriter(d, 17, fsync=True)
    w.write(frame(17, 3))
    w.close()
    [(first, path)] = d.segments()
    assert first == 17 and path.name == "00000000000000000017.wal"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [f.first_seq for f in scan(path.read_bytes()).frames] == [17]


def test_writer_appends_to_the_last_existing_segment(d):
    w = SegmentWriter(d, 1, fsync=False)
    w.write(frame(1, 2))
    w.roll(3)
    w.write(frame(3))
    w.close()
    w2 = SegmentWriter(d, 4, fsync=False)
    assert w2.path == d.segment_path(3) and w2.size == len(frame(3))
    w2.write(frame(4))
    w2.close()
    assert [f.first_seq for f in scan(d.segment_path(3).read_bytes()).frames] == [3, 4]
    assert [s for s, _ in d.segments()] == [1, 3]


def test_roll_names_segments_by_first_seq_and_replaces_an_empty_one(d):
    w = SegmentWriter(d, 1, fsync=False)
    w.write(frame(1, 10))
    w.roll(11)
    assert w.path.name == "00000000000000000011.wal" and w.size == 0
    w.roll(11)  # same name: nothing happens
    assert [s for s, _ in d.segments()] == [1, 11]
    w.roll(12)  # current segment 11 is empty: replaced, never left behind misnamed
    assert [s for s, _ in d.segments()] == [1, 12]
    w.write(frame(12))
    w.close()
    assert scan(d.segment_path(12).read_bytes()).frames[0].first_seq == 12


def test_maybe_roll_only_past_the_size_limit(d):
    one = frame(1)
    w = SegmentWriter(d, 1, fsync=False, segment_bytes=len(one) * 2 + 1)
    seq = 1
    for _ in range(5):
        w.write(frame(seq))
        seq += 1
        w.maybe_roll(seq)
    w.close()
    # rolled after the 3rd write (3 frames > 2 frames + 1 byte): segments start at 1 and 4
    assert [s for s, _ in d.segments()] == [1, 4]
    assert len(scan(d.segment_path(1).read_bytes()).frames) == 3


# --- the owner lock --------------------------------------------------------------------------------
def test_lock_refuses_a_second_owner_in_the_same_process(d):
    owner = FileOwnership(d.root)
    assert owner.acquire() == 1
    try:
        assert FileOwnership(d.root).held_elsewhere()
        assert (d.root / "LOCK").read_text().strip() == str(os.getpid())
        with pytest.raises(JournalLocked, match="in use"):
            FileOwnership(d.root).acquire()
    finally:
        owner.release()
    assert not FileOwnership(d.root).held_elsewhere()
    other = FileOwnership(d.root)
    other.acquire()  # free again
    other.release()


def test_lock_refuses_a_second_owner_in_another_process(d):
    owner = FileOwnership(d.root)
    owner.acquire()
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from ceres.journal.file.lock import FileOwnership
        from ceres.pipeline.journal import JournalLocked
        try:
            FileOwnership(Path({str(d.root)!r})).acquire()
        except JournalLocked:
            sys.exit(7)
        sys.exit(0)
    """)
    try:
        r = subprocess.run([sys.executable, "-c", script], timeout=60)
        assert r.returncode == 7
    finally:
        owner.release()
    r = subprocess.run([sys.executable, "-c", script], timeout=60)
    assert r.returncode == 0


def test_is_locked_without_a_lock_file(tmp_path):
    assert not FileOwnership(tmp_path / "fresh").held_elsewhere()
