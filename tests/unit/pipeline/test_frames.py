"""Frame and snapshot codecs: round trips, torn tails versus corruption, sequence gaps."""

from __future__ import annotations

import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ceres.domain import commands as C
from ceres.domain.secret import Secret
from ceres.pipeline.frames import (
    FRAME_HEADER_SIZE,
    FRAME_MAGIC,
    SNAP_HEADER_SIZE,
    JournalCorrupt,
    JournalDamaged,
    decode_records,
    decode_snapshot,
    encode_frame,
    encode_snapshot,
    scan,
)

T0 = 1_760_000_000_000


def place(i: int) -> C.Place:
    return C.Place("alice", "TEST", "BTC/USDT", 1 + i % 2, 1, 3_000_000 + i, 1 + i)


def frames_of(sizes: list[int], first: int = 1) -> tuple[bytes, list[tuple[int, int, int]]]:
    """Consecutive frames holding ``sizes`` records; returns the bytes and, per frame,
    (start offset, end offset, first seq)."""
    out, spans, pos, seq = [], [], 0, first
    for n in sizes:
        frame = encode_frame(seq, [(T0 + seq, place(seq)) for seq in range(seq, seq + n)])
        spans.append((pos, pos + len(frame), seq))
        out.append(frame)
        pos += len(frame)
        seq += n
    return b"".join(out), spans


# --- round trip -------------------------------------------------------------------------------
def test_frame_round_trip_every_command_type():
    records = [
        (T0, C.CreateProduct("alice")),
        (T0 + 1, C.CreateKey("alice", "A" * 16, Secret("s" * 32), 3)),
        (T0 + 2, C.Deposit("alice", "USDT", 10**12)),
        (T0 + 3, C.Transfer("alice", "USDT", 10**12, 2, 3, "TEST")),
        (T0 + 4, C.Place("alice", "TEST", "BTC/USDT", 1, 1, 3_000_000, 5, client_oid="c-1")),
        (T0 + 5, C.Cancel("alice", (11, 12))),
        (T0 + 6, C.Withdraw("alice", "BTC", 1)),
        (T0 + 7, C.RevokeKey("A" * 16)),
    ]
    data = encode_frame(41, records)
    result = scan(data)
    assert not result.torn and result.valid_end == len(data)
    [frame] = result.frames
    assert (frame.offset, frame.end, frame.first_seq, frame.count, frame.last_seq) == (0, len(data), 41, 8, 48)
    decoded = decode_records(frame.payload)
    assert decoded == records
    key_cmd = decoded[1][1]
    assert isinstance(key_cmd.secret, Secret) and key_cmd.secret.reveal() == "s" * 32


def test_frame_layout_matches_the_documented_header():
    data = encode_frame(7, [(T0, place(7))])
    magic, length, first, count = struct.unpack_from("<4sIQI", data)
    (hcrc,) = struct.unpack_from("<I", data, 20)
    assert (magic, first, count) == (FRAME_MAGIC, 7, 1)
    assert hcrc == zlib.crc32(data[:20])
    assert len(data) == FRAME_HEADER_SIZE + length + 4
    (pcrc,) = struct.unpack_from("<I", data, len(data) - 4)
    assert pcrc == zlib.crc32(data[FRAME_HEADER_SIZE:-4])


def test_scan_many_frames_and_empty_input():
    data, spans = frames_of([1, 3, 2, 5])
    result = scan(data)
    assert [(f.offset, f.end, f.first_seq) for f in result.frames] == spans
    assert [f.last_seq for f in result.frames] == [1, 4, 6, 11]
    assert not result.torn
    empty = scan(b"")
    assert empty.frames == [] and empty.valid_end == 0 and not empty.torn


# --- torn tails: what a crash leaves at the end is cut and reported -----------------------------
def _torn_tails() -> dict[str, bytes]:
    nxt = encode_frame(12, [(T0, place(12)), (T0, place(13))])
    return {
        "truncated header": nxt[:FRAME_HEADER_SIZE - 5],
        "magic only": FRAME_MAGIC,
        "truncated payload": nxt[:FRAME_HEADER_SIZE + 4],
        "missing payload crc": nxt[:-2],
        "zero-filled tail": b"\0" * 4096,
        "zero-filled header-sized": b"\0" * FRAME_HEADER_SIZE,
    }


@pytest.mark.parametrize("kind", list(_torn_tails()))
def test_torn_tail_is_cut_and_reported(kind):
    intact, spans = frames_of([2, 4, 5])
    data = intact + _torn_tails()[kind]
    result = scan(data, "seg")
    assert result.torn
    assert result.valid_end == len(intact)
    assert [f.first_seq for f in result.frames] == [s[2] for s in spans]


def test_torn_first_and_only_frame():
    frame = encode_frame(1, [(T0, place(1))])
    result = scan(frame[:-1])
    assert result.torn and result.frames == [] and result.valid_end == 0


# --- damage: a complete frame that fails its checks stops everything, wherever it is ------------
def _damaged_tails() -> dict[str, tuple[bytes, str]]:
    nxt = encode_frame(12, [(T0, place(12)), (T0, place(13))])
    bad_payload = bytearray(nxt)
    bad_payload[FRAME_HEADER_SIZE + 3] ^= 0x01
    bad_pcrc = bytearray(nxt)
    bad_pcrc[-1] ^= 0x80
    bad_header = bytearray(nxt)
    bad_header[9] ^= 0x01  # first-seq byte: header checksum fails
    return {
        "bad payload on the final frame": (bytes(bad_payload), "seq 12..13 fails its checksum"),
        "bad payload crc on the final frame": (bytes(bad_pcrc), "seq 12..13 fails its checksum"),
        "bad header on the final frame": (bytes(bad_header), "damaged frame header"),
        "garbage": (bytes(range(7, 200)), "damaged frame header"),
    }


@pytest.mark.parametrize("kind", list(_damaged_tails()))
def test_a_damaged_final_frame_is_damage_not_a_torn_write(kind):
    intact, _ = frames_of([2, 4, 5])
    tail, what = _damaged_tails()[kind]
    with pytest.raises(JournalDamaged, match=what) as info:
        scan(intact + tail, "seg-9")
    assert (info.value.name, info.value.offset, info.value.after_seq) == ("seg-9", len(intact), 11)
    assert str(info.value).startswith("seg-9: ")
    assert f"at byte {len(intact)} (after seq 11)" in str(info.value)


@pytest.mark.parametrize("where", ["magic", "length", "first seq", "header crc", "payload", "payload crc"])
def test_damage_in_a_middle_frame_names_file_byte_and_seq(where):
    data, spans = frames_of([3, 3, 3, 3])
    start, end, _ = spans[1]
    offset = {"magic": start, "length": start + 5, "first seq": start + 8,
              "header crc": start + 21, "payload": start + FRAME_HEADER_SIZE + 2,
              "payload crc": end - 2}[where]
    damaged = bytearray(data)
    damaged[offset] ^= 0x10
    with pytest.raises(JournalDamaged) as info:
        scan(bytes(damaged), "seg-7")
    assert (info.value.name, info.value.offset, info.value.after_seq) == ("seg-7", start, 3)
    assert str(info.value).startswith("seg-7: ") and f"at byte {start} (after seq 3)" in str(info.value)


def test_after_seq_names_records_of_earlier_segments():
    data, _ = frames_of([2, 2], first=41)
    damaged = bytearray(data)
    damaged[-1] ^= 0x01
    with pytest.raises(JournalDamaged, match=r"after seq 42\)"):
        scan(bytes(damaged), "seg", after_seq=40)


def test_garbage_between_frames_raises():
    data, spans = frames_of([2, 2])
    cut = spans[0][1]
    with pytest.raises(JournalCorrupt):
        scan(data[:cut] + b"\0" * 64 + data[cut:])


def test_sequence_gap_inside_a_segment_raises():
    a = encode_frame(1, [(T0, place(1)), (T0, place(2))])
    b = encode_frame(4, [(T0, place(4))])  # seq 3 is missing
    with pytest.raises(JournalCorrupt, match="sequence gap"):
        scan(a + b)
    c = encode_frame(2, [(T0, place(2))])  # overlap (2 again) is a gap too
    with pytest.raises(JournalCorrupt, match="sequence gap"):
        scan(a + c)


# --- properties -------------------------------------------------------------------------------
SIZES = st.lists(st.integers(1, 6), min_size=1, max_size=8)


@settings(max_examples=150, deadline=None)
@given(sizes=SIZES, data=st.data())
def test_any_cut_keeps_exactly_the_whole_frames(sizes, data):
    blob, spans = frames_of(sizes)
    cut = data.draw(st.integers(0, len(blob)))
    result = scan(blob[:cut])
    whole = [s for s in spans if s[1] <= cut]
    assert [f.first_seq for f in result.frames] == [s[2] for s in whole]
    assert result.valid_end == (whole[-1][1] if whole else 0)
    assert result.torn == (cut != result.valid_end)


@settings(max_examples=150, deadline=None)
@given(sizes=SIZES, data=st.data())
def test_any_flipped_bit_in_any_frame_is_damage_at_that_frame(sizes, data):
    blob, spans = frames_of(sizes)
    offset = data.draw(st.integers(0, len(blob) - 1))
    bit = data.draw(st.integers(0, 7))
    damaged = bytearray(blob)
    damaged[offset] ^= 1 << bit
    index = next(i for i, s in enumerate(spans) if s[0] <= offset < s[1])
    with pytest.raises(JournalDamaged) as info:
        scan(bytes(damaged))
    assert info.value.offset == spans[index][0]
    assert info.value.after_seq == spans[index][2] - 1


# --- snapshots ---------------------------------------------------------------------------------
STATE = {"version": 1, "seq": 500, "now": T0, "last_id": 99, "keys": [["K", Secret("x" * 32)]],
         "products": [["alice", T0, [["TEST", 3, "USDT", 10, 2]]]], "books": []}


def test_snapshot_round_trip():
    data = encode_snapshot(500, STATE)
    seq, state = decode_snapshot(data)
    assert seq == 500
    assert state["keys"] == [["K", "x" * 32]]  # secrets are stored as plain text
    assert state["products"] == STATE["products"]


@pytest.mark.parametrize("damage", ["empty", "too short", "header byte", "seq byte", "length",
                                    "payload byte", "payload crc", "truncated", "extra byte", "magic"])
def test_snapshot_codec_rejects_damage(damage):
    data = bytearray(encode_snapshot(500, STATE))
    if damage == "empty":
        data = bytearray()
    elif damage == "too short":
        data = data[:SNAP_HEADER_SIZE + 3]
    elif damage == "header byte":
        data[1] ^= 0x01
    elif damage == "seq byte":
        data[5] ^= 0x01
    elif damage == "length":
        data[13] ^= 0x01
    elif damage == "payload byte":
        data[SNAP_HEADER_SIZE + 5] ^= 0x01
    elif damage == "payload crc":
        data[-1] ^= 0x01
    elif damage == "truncated":
        data = data[:-10]
    elif damage == "extra byte":
        data += b"\0"
    elif damage == "magic":
        data[0:4] = b"CRJ1"
        data[SNAP_HEADER_SIZE - 4:SNAP_HEADER_SIZE] = struct.pack("<I", zlib.crc32(bytes(data[:16])))
    with pytest.raises(JournalCorrupt) as info:
        decode_snapshot(bytes(data), "snap-file")
    assert "snap-file" in str(info.value)
