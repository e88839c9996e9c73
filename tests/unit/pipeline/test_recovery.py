"""Recovery: newest valid snapshot, journal tail replay, torn tails, corruption, gaps."""

from __future__ import annotations

from pathlib import Path

import pytest

from ceres.domain import commands as C
from ceres.engine.snapshot import engine_state
from ceres.journal.file import FileJournal
from ceres.pipeline.frames import JournalCorrupt, JournalDamaged, JournalGap, encode_frame, encode_snapshot, scan
from ceres.pipeline.recovery import recover
from journal_helpers import T0, build_dir, flip_byte, make_engine


def test_empty_data_dir_gives_a_fresh_engine(tmp_path):
    rec = recover(FileJournal(tmp_path / "data"), make_engine)
    assert rec.last_seq == 0 and rec.replayed == 0 and rec.snapshot_seq is None
    assert rec.engine.state_hash() == make_engine().state_hash()


def test_journal_only_replays_everything(tmp_path):
    b = build_dir(tmp_path / "data", n=150, batch=4)
    rec = recover(b.journal, make_engine)
    assert (rec.last_seq, rec.replayed, rec.snapshot_seq, rec.torn_bytes) == (150, 150, None, 0)
    assert rec.engine.state_hash() == b.final_hash
    assert rec.engine.check() == []
    assert rec.engine.events == []


def test_newest_snapshot_is_used_and_only_the_tail_replayed(tmp_path):
    b = build_dir(tmp_path / "data", n=200, snapshots=(50, 120, 180), rolls=(51, 121))
    rec = recover(b.journal, make_engine)
    assert rec.snapshot_seq == 180 and Path(rec.snapshot_name).name == f"{180:020d}.snap"
    assert rec.replayed == 20 and rec.last_seq == 200
    assert rec.engine.state_hash() == b.final_hash
    assert rec.skipped_snapshots == []


def test_snapshot_and_full_replay_agree(tmp_path):
    b = build_dir(tmp_path / "data", n=300, batch=9, snapshots=(100, 200))
    with_snap = recover(b.journal, make_engine)
    without = recover(b.journal, make_engine, use_snapshots=False)
    assert without.replayed == 300 and with_snap.replayed == 100
    assert with_snap.engine.state_hash() == without.engine.state_hash() == b.final_hash


def test_damaged_newest_snapshot_is_skipped_for_an_older_one(tmp_path):
    b = build_dir(tmp_path / "data", n=200, snapshots=(60, 140))
    newest = b.data_dir.snapshot_files()[-1][1]
    flip_byte(newest, newest.stat().st_size // 2)
    rec = recover(b.journal, make_engine)
    assert rec.snapshot_seq == 60 and rec.replayed == 140
    assert len(rec.skipped_snapshots) == 1 and newest.name in rec.skipped_snapshots[0]
    assert rec.engine.state_hash() == b.final_hash


@pytest.mark.parametrize("damage", ["truncate", "empty", "renamed"])
def test_every_damaged_snapshot_skipped_falls_back_to_full_replay(tmp_path, damage):
    b = build_dir(tmp_path / "data", n=120, snapshots=(40, 80))
    for _, path in b.data_dir.snapshot_files():
        if damage == "truncate":
            path.write_bytes(path.read_bytes()[:-7])
        elif damage == "empty":
            path.write_bytes(b"")
        else:  # a valid snapshot under the wrong name: it holds another seq
            path.rename(path.with_name(f"{int(path.stem) + 1:020d}.snap"))
    rec = recover(b.journal, make_engine)
    assert rec.snapshot_seq is None and rec.replayed == 120
    assert len(rec.skipped_snapshots) == 2
    assert rec.engine.state_hash() == b.final_hash


def test_max_snapshot_seq_ignores_newer_snapshots_and_events_are_delivered(tmp_path):
    b = build_dir(tmp_path / "data", n=100, snapshots=(30, 70))
    seen: list[int] = []
    rec = recover(b.journal, make_engine, max_snapshot_seq=69,
                  on_events=lambda seq, events: seen.append(seq))
    assert rec.snapshot_seq == 30
    assert seen == list(range(31, 101))
    assert rec.engine.state_hash() == b.final_hash


def test_progress_is_reported_per_segment(tmp_path):
    b = build_dir(tmp_path / "data", n=90, rolls=(31, 61))
    calls: list[tuple[int, int]] = []
    recover(b.journal, make_engine, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 3), (2, 3), (3, 3)]


# --- torn tails -------------------------------------------------------------------------------
def _append(path, data: bytes) -> None:
    with open(path, "ab") as f:
        f.write(data)


@pytest.mark.parametrize("tail", ["half frame", "zeros", "header only"])
def test_torn_tail_is_reported_by_recovery_and_cut_by_the_writer(tmp_path, tail):
    b = build_dir(tmp_path / "data", n=80, snapshots=(40,), rolls=(41,))
    last = b.data_dir.segments()[-1][1]
    good_size = last.stat().st_size
    nxt = encode_frame(81, [(T0 + 999, C.CreateProduct("late"))])
    junk = {"half frame": nxt[: len(nxt) // 2], "zeros": b"\0" * 512, "header only": nxt[:24]}[tail]
    _append(last, junk)

    journal = b.journal
    rec = recover(journal, make_engine)
    assert rec.torn_bytes == len(junk) and rec.last_seq == 80
    assert last.stat().st_size == good_size + len(junk)  # reading never changes the journal
    assert rec.engine.state_hash() == b.final_hash

    journal.open_writer(rec.last_seq + 1).writer.close()  # what a server does after recovery
    assert last.stat().st_size == good_size
    rec = recover(b.journal, make_engine)
    assert rec.torn_bytes == 0
    assert rec.engine.state_hash() == b.final_hash


def test_a_damaged_final_frame_refuses_to_start_and_cuts_nothing(tmp_path):
    """A complete last frame with a bad checksum is not a torn write: it may hold
    acknowledged records, so recovery stops and names it (the operator may repair)."""
    b = build_dir(tmp_path / "data", n=50, batch=5)
    last = b.data_dir.segments()[-1][1]
    size = last.stat().st_size
    flip_byte(last, size - 10)  # inside the last frame's payload
    with pytest.raises(JournalDamaged, match=r"seq 46\.\.50 fails its checksum at byte \d+ \(after seq 45\)") as info:
        recover(b.journal, make_engine)
    assert str(last) in str(info.value) and info.value.after_seq == 45
    with pytest.raises(JournalDamaged):
        b.journal.open_writer(46)  # the writer never cuts damage either
    assert last.stat().st_size == size


def test_repair_truncates_after_the_last_good_record_and_recovery_resumes(tmp_path):
    b = build_dir(tmp_path / "data", n=50, batch=5, snapshots=(20, 48), rolls=(31,))
    seg = b.data_dir.segments()[0][1]
    frames = scan(seg.read_bytes()).frames
    flip_byte(seg, frames[3].offset + 30)  # seq 16..20 damaged
    with pytest.raises(JournalDamaged) as info:
        recover(b.journal, make_engine, use_snapshots=False)
    assert info.value.after_seq == 15
    with pytest.raises(ValueError, match=r"inside a batch of seq 11\.\.15"):
        b.journal.truncate_after(12)
    with pytest.raises(ValueError, match="intact records only up to seq 15"):
        b.journal.truncate_after(20)
    removed = b.journal.truncate_after(15)
    assert any("00000000000000000031.wal" in line for line in removed)
    assert any(".snap" in line for line in removed)  # the snapshots at 20 and 48 go too
    assert b.journal.snapshots.seqs() == []
    rec = recover(b.journal, make_engine)
    assert rec.last_seq == 15
    assert rec.engine.state_hash() == _replayed(b, 15).state_hash()


def test_repair_never_removes_the_only_starting_point(tmp_path):
    b = build_dir(tmp_path / "data", n=60, snapshots=(30,), rolls=(31,))
    b.data_dir.segments()[0][1].unlink()  # pruned: the journal holds the records after 30
    with pytest.raises(ValueError, match="no snapshot between 30 and 29"):
        b.journal.truncate_after(29)
    b.journal.truncate_after(30)  # back to the snapshot itself: allowed
    assert recover(b.journal, make_engine).last_seq == 30


def _replayed(b, upto: int):
    expected = make_engine()
    for seq, now, cmd in b.records[:upto]:
        expected.apply(cmd, seq, now)
    expected.take_events()
    return expected


def test_writer_appends_cleanly_after_a_repaired_tail(tmp_path):
    b = build_dir(tmp_path / "data", n=30)
    last = b.data_dir.segments()[-1][1]
    _append(last, b"\0" * 100)
    journal = b.journal
    rec = recover(journal, make_engine)
    w = journal.open_writer(rec.last_seq + 1).writer
    w.write(encode_frame(31, [(T0 + 1000, C.CreateProduct("carol"))]))
    w.close()
    rec2 = recover(b.journal, make_engine)
    assert rec2.last_seq == 31 and rec2.torn_bytes == 0
    assert "carol" in rec2.engine.products


def test_torn_data_in_a_segment_that_is_not_the_last_is_damage(tmp_path):
    b = build_dir(tmp_path / "data", n=60, rolls=(31,))
    first = b.data_dir.segments()[0][1]
    _append(first, b"\0" * 64)
    with pytest.raises(JournalDamaged, match=r"not the last at byte \d+ \(after seq 30\)"):
        recover(b.journal, make_engine)


# --- corruption and gaps ----------------------------------------------------------------------
def test_damage_in_an_early_frame_refuses_to_start(tmp_path):
    b = build_dir(tmp_path / "data", n=60, batch=5, snapshots=(50,))
    seg = b.data_dir.segments()[0][1]
    frames = scan(seg.read_bytes()).frames
    size_before = seg.stat().st_size
    flip_byte(seg, frames[1].offset + 30)
    with pytest.raises(JournalDamaged, match=r"seq 6\.\.10 fails its checksum") as info:
        recover(b.journal, make_engine)  # even though the snapshot covers that frame
    assert str(seg) in str(info.value)
    assert seg.stat().st_size == size_before  # nothing was cut


def test_journal_starting_after_the_start_point_is_a_gap(tmp_path):
    b = build_dir(tmp_path / "data", n=90, snapshots=(30, 60), rolls=(31, 61))
    b.data_dir.segments()[0][1].unlink()  # pruned: the journal now starts at 31
    assert recover(b.journal, make_engine).engine.state_hash() == b.final_hash
    with pytest.raises(JournalGap, match="from seq 0 to 31"):
        recover(b.journal, make_engine, use_snapshots=False)


def test_missing_middle_segment_is_corruption_not_a_gap(tmp_path):
    b = build_dir(tmp_path / "data", n=90, rolls=(31, 61))
    b.data_dir.segments()[1][1].unlink()
    with pytest.raises(JournalCorrupt, match="from seq 30 to 61") as info:
        recover(b.journal, make_engine)
    assert not isinstance(info.value, JournalGap)


def test_a_record_that_no_longer_applies_is_corruption(tmp_path):
    journal = FileJournal(tmp_path / "data", fsync=False)
    w = journal.open_writer(1).writer
    w.write(encode_frame(1, [(T0, C.CreateProduct("alice")),
                             (T0, C.Deposit("nobody", "USDT", 5))]))
    w.close()
    with pytest.raises(JournalCorrupt, match="seq 2 no longer applies"):
        recover(journal, make_engine)


def test_snapshot_inside_a_frame_replays_only_the_records_after_it(tmp_path):
    b = build_dir(tmp_path / "data", n=40, batch=4)  # frames 1-4, 5-8, ..., 21-24, ...
    eng = make_engine()
    for seq, now, cmd in b.records[:22]:
        eng.apply(cmd, seq, now)
    eng.take_events()
    b.data_dir.write_snapshot(22, encode_snapshot(22, engine_state(eng)))
    seen: list[int] = []
    rec = recover(b.journal, make_engine, on_events=lambda seq, ev: seen.append(seq))
    assert rec.snapshot_seq == 22 and rec.replayed == 18 and seen[0] == 23
    assert rec.engine.state_hash() == b.final_hash
