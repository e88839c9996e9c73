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

The header CRC lets a reader tell a damaged length field (damage) from a frame that was
cut short by a crash (a torn tail); see ``scan``.
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


class JournalDamaged(JournalCorrupt):
    """A complete frame fails its checks: bit rot or a bad disk, not a crash. ``offset``
    is the frame's first byte; ``after_seq`` the last record before it (the point an
    operator may cut the journal back to with ``ceres repair --truncate-after``)."""

    def __init__(self, name: str, offset: int, after_seq: int, what: str) -> None:
        super().__init__(f"{name}: {what} at byte {offset} (after seq {after_seq})")
        self.name = name
        self.offset = offset
        self.after_seq = after_seq


def scan(data: bytes, name: str = "journal", after_seq: int = 0) -> ScanResult:
    """Split a segment's bytes into frames (``after_seq``: the last record before them).

    A *torn* final write is what a crash leaves at the end: a header cut short, a frame
    whose header is intact but whose bytes end before its length says, or zeros to the
    end (a file extended but never written). Those bytes are reported (``torn``) so they
    can be cut. Anything else that fails its checks is damage, wherever it is, and raises
    :class:`JournalDamaged` naming the file, the byte and the sequence number: a complete
    frame with a bad checksum may hold acknowledged records, so only the operator decides.
    """
    view = memoryview(data)
    size = len(data)
    frames: list[Frame] = []
    pos = 0
    last = after_seq
    while pos < size:
        if size - pos < FRAME_HEADER_SIZE:
            return ScanResult(frames, pos, True)
        head = view[pos:pos + _FRAME_HEAD.size]
        (hcrc,) = _CRC.unpack_from(view, pos + _FRAME_HEAD.size)
        if zlib.crc32(head) != hcrc:
            if data.count(0, pos) == size - pos:
                return ScanResult(frames, pos, True)
            raise JournalDamaged(name, pos, last, "damaged frame header")
        magic, length, first, count = _FRAME_HEAD.unpack(head)
        if magic != FRAME_MAGIC or length > MAX_FRAME_PAYLOAD:
            raise JournalDamaged(name, pos, last, "not a frame (magic or length)")
        start = pos + FRAME_HEADER_SIZE
        end = start + length + 4
        if end > size:
            return ScanResult(frames, pos, True)
        payload = view[start:start + length]
        (pcrc,) = _CRC.unpack_from(view, start + length)
        if zlib.crc32(payload) != pcrc:
            raise JournalDamaged(name, pos, last, f"frame of seq {first}..{first + count - 1} fails its checksum")
        if frames and first != last + 1:
            raise JournalCorrupt(f"{name}: sequence gap at byte {pos}: {last} then {first}")
        frames.append(Frame(pos, end, first, count, payload))
        last = first + count - 1
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
