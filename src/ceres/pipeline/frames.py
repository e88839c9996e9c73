"""Frame layout of journal segments and snapshot files (pure: bytes in, bytes out).

Journal frame (one per batch, little-endian)::

    magic   4  b"CRJ1"
    length  4  payload bytes
    first   8  sequence number of the first record
    count   4  records in the payload
    hcrc    4  CRC-32 of the 20 bytes above
    payload    MessagePack array of records ``[time_ms, command]``;
               record i has sequence number ``first + i``
    pcrc    4  CRC-32 of the payload

Snapshot file::

    magic   4  b"CRS1"
    seq     8  last sequence number the state includes
    length  4
    hcrc    4  CRC-32 of the 16 bytes above
    payload    MessagePack of ``engine.snapshot.engine_state``
    pcrc    4

The header CRC lets a reader tell a damaged length field (corruption) from a frame that
was cut short by a crash (a torn tail); see ``scan``.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from ceres.domain.commands import ANY_COMMAND, Command
from ceres.domain.secret import secret_dec_hook, secret_enc_hook

FRAME_MAGIC = b"CRJ1"
SNAP_MAGIC = b"CRS1"
_FRAME_HEAD = struct.Struct("<4sIQI")
_SNAP_HEAD = struct.Struct("<4sQI")
_CRC = struct.Struct("<I")
FRAME_HEADER_SIZE = _FRAME_HEAD.size + 4
SNAP_HEADER_SIZE = _SNAP_HEAD.size + 4
MAX_FRAME_PAYLOAD = 1 << 30

_encoder = msgspec.msgpack.Encoder(enc_hook=secret_enc_hook)
_record_decoder = msgspec.msgpack.Decoder(list[tuple[int, ANY_COMMAND]], dec_hook=secret_dec_hook)
_state_decoder = msgspec.msgpack.Decoder(dec_hook=secret_dec_hook)


class JournalCorrupt(Exception):
    """The journal is damaged somewhere other than a torn final frame."""


class JournalGap(JournalCorrupt):
    """The journal does not reach back to the state replay must start from."""


def encode_frame(first_seq: int, records: list[tuple[int, Command]]) -> bytes:
    payload = _encoder.encode(records)
    head = _FRAME_HEAD.pack(FRAME_MAGIC, len(payload), first_seq, len(records))
    return b"".join((head, _CRC.pack(zlib.crc32(head)), payload, _CRC.pack(zlib.crc32(payload))))


def decode_records(payload: bytes | memoryview) -> Sequence[tuple[int, Command]]:
    records: Sequence[tuple[int, Command]] = _record_decoder.decode(payload)
    return records


@dataclass(frozen=True, slots=True)
class Frame:
    offset: int
    end: int
    first_seq: int
    count: int
    payload: memoryview

    @property
    def last_seq(self) -> int:
        return self.first_seq + self.count - 1


@dataclass(slots=True)
class ScanResult:
    frames: list[Frame]
    valid_end: int          # bytes up to here are whole, valid frames
    torn: bool              # bytes after valid_end are a frame cut short by a crash


def _valid_header_after(view: memoryview, start: int) -> int | None:
    """Offset of the first intact frame header at or after ``start``, if any."""
    data = view.obj if isinstance(view.obj, bytes) else bytes(view)
    pos = data.find(FRAME_MAGIC, start)
    while pos != -1 and pos + FRAME_HEADER_SIZE <= len(data):
        (hcrc,) = _CRC.unpack_from(data, pos + _FRAME_HEAD.size)
        if zlib.crc32(data[pos:pos + _FRAME_HEAD.size]) == hcrc:
            return pos
        pos = data.find(FRAME_MAGIC, pos + 1)
    return None


def scan(data: bytes, name: str = "journal") -> ScanResult:
    """Split a segment's bytes into frames.

    Damage at some offset is a *torn tail* (a final write cut short by a crash) when no
    intact frame header follows it: then everything from the damage on is dropped. When
    an intact header does follow, acknowledged data lies beyond the damage, and
    :class:`JournalCorrupt` is raised instead: the operator must decide, Ceres won't.
    """
    view = memoryview(data)
    size = len(data)
    frames: list[Frame] = []
    pos = 0

    def damaged(why: str) -> ScanResult:
        after = _valid_header_after(view, pos + 1)
        if after is not None:
            raise JournalCorrupt(f"{name}: {why} at byte {pos}, with intact frames after it "
                                 f"(byte {after}); refusing to guess")
        return ScanResult(frames, pos, True)

    while pos < size:
        if size - pos < FRAME_HEADER_SIZE:
            return damaged("incomplete frame header")
        head = view[pos:pos + _FRAME_HEAD.size]
        (hcrc,) = _CRC.unpack_from(view, pos + _FRAME_HEAD.size)
        if zlib.crc32(head) != hcrc:
            return damaged("bad frame header checksum")
        magic, length, first, count = _FRAME_HEAD.unpack(head)
        if magic != FRAME_MAGIC or length > MAX_FRAME_PAYLOAD:
            return damaged("bad frame magic or length")
        start = pos + FRAME_HEADER_SIZE
        end = start + length + 4
        if end > size:
            return damaged("frame longer than the file")
        payload = view[start:start + length]
        (pcrc,) = _CRC.unpack_from(view, start + length)
        if zlib.crc32(payload) != pcrc:
            return damaged(f"bad payload checksum (seq {first})")
        if frames and first != frames[-1].last_seq + 1:
            raise JournalCorrupt(f"{name}: sequence gap at byte {pos}: "
                                 f"{frames[-1].last_seq} then {first}")
        frames.append(Frame(pos, end, first, count, payload))
        pos = end
    return ScanResult(frames, pos, False)


def encode_snapshot(seq: int, state: dict[str, Any]) -> bytes:
    payload = _encoder.encode(state)
    head = _SNAP_HEAD.pack(SNAP_MAGIC, seq, len(payload))
    return b"".join((head, _CRC.pack(zlib.crc32(head)), payload, _CRC.pack(zlib.crc32(payload))))


def decode_snapshot(data: bytes, name: str = "snapshot") -> tuple[int, dict[str, Any]]:
    """Return ``(seq, state)``; raises JournalCorrupt if the file is damaged."""
    if len(data) < SNAP_HEADER_SIZE + 4:
        raise JournalCorrupt(f"{name}: too short")
    head = data[:_SNAP_HEAD.size]
    (hcrc,) = _CRC.unpack_from(data, _SNAP_HEAD.size)
    if zlib.crc32(head) != hcrc:
        raise JournalCorrupt(f"{name}: bad header checksum")
    magic, seq, length = _SNAP_HEAD.unpack(head)
    if magic != SNAP_MAGIC or SNAP_HEADER_SIZE + length + 4 != len(data):
        raise JournalCorrupt(f"{name}: bad magic or length")
    payload = memoryview(data)[SNAP_HEADER_SIZE:SNAP_HEADER_SIZE + length]
    (pcrc,) = _CRC.unpack_from(data, SNAP_HEADER_SIZE + length)
    if zlib.crc32(payload) != pcrc:
        raise JournalCorrupt(f"{name}: bad payload checksum")
    return seq, _state_decoder.decode(payload)
