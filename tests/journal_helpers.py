"""Helpers for journal tests: a small engine, a deterministic command stream that always
applies cleanly, and a builder that writes a data directory (segments, frames, snapshots)
by hand while a reference engine records the state hash it must recover to."""

from __future__ import annotations

import asyncio
import os
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ceres.domain import commands as C
from ceres.domain.enums import Kind
from ceres.domain.errors import CeresError
from ceres.domain.instruments import Instrument
from ceres.engine.core import Engine
from ceres.engine.snapshot import engine_state
from ceres.journal.file import FileJournal
from ceres.journal.file.segments import DataDir, SegmentWriter
from ceres.pipeline.frames import decode_records, encode_frame, encode_snapshot, scan

T0 = 1_760_000_000_000
PRODUCTS = ("alice", "bob")
MID = 3_000_000  # 30000.00 USDT in ticks of 0.01


def instruments() -> list[Instrument]:
    return [Instrument("TEST", "BTC/USDT", Kind.SPOT, "BTC", "USDT", "0.01", "0.0001", "0.01",
                       "0.0001", "0.0005", "0.0005", 8, 8)]


CURRENCIES = {"BTC": 8, "USDT": 8}


def make_engine() -> Engine:
    return Engine(instruments(), CURRENCIES)


def setup_commands() -> list[C.Command]:
    """Two funded products with a key each (the key exercises Secret in the journal)."""
    out: list[C.Command] = []
    for i, name in enumerate(PRODUCTS):
        out += [C.CreateProduct(name),
                C.CreateKey(name, f"KEY{i:013d}", f"{'s' * 31}{i}", 3),
                C.Deposit(name, "USDT", 10**16), C.Deposit(name, "BTC", 10**14),
                C.Transfer(name, "USDT", 10**16, 2, 3, "TEST"),
                C.Transfer(name, "BTC", 10**14, 2, 3, "TEST")]
    return out


def next_trading_command(eng: Engine, rng: random.Random) -> C.Command:
    """A place (passive or crossing) or a cancel of one of the product's open orders."""
    who = PRODUCTS[rng.randrange(2)]
    r = rng.random()
    if r < 0.25:
        open_ids = list(eng.products[who].open_orders) if who in eng.products else []
        if open_ids:
            return C.Cancel(who, (open_ids[rng.randrange(len(open_ids))],))
    side = 1 if rng.random() < 0.5 else 2
    if r < 0.7:
        price = MID - rng.randint(1, 50) if side == 1 else MID + rng.randint(1, 50)
    else:
        price = MID + rng.randint(0, 20) if side == 1 else MID - rng.randint(0, 20)
    return C.Place(who, "TEST", "BTC/USDT", side, 1, price, rng.randint(1, 30))


def command_stream(eng: Engine, seed: int = 1) -> Iterator[C.Command]:
    """Endless stream for ``eng``: the setup, then trading commands chosen from its
    current state (so cancels name real orders)."""
    rng = random.Random(seed)
    yield from setup_commands()
    while True:
        yield next_trading_command(eng, rng)


@dataclass
class Built:
    data_dir: DataDir
    last_seq: int
    final_hash: str
    hashes: dict[int, str] = field(default_factory=dict)   # seq -> state hash after it
    records: list[tuple[int, int, C.Command]] = field(default_factory=list)  # (seq, time, cmd)

    @property
    def journal(self) -> FileJournal:
        """The directory as a journal backend (a fresh reader each time)."""
        return FileJournal(self.data_dir.root, fsync=False)


def build_dir(root: Path, n: int = 120, *, batch: int = 7, snapshots: tuple[int, ...] = (),
              rolls: tuple[int, ...] = (), seed: int = 1, fsync: bool = False) -> Built:
    """Write ``n`` records in frames of up to ``batch`` records. A snapshot is written
    right after each seq in ``snapshots``; a new segment starts at each seq in ``rolls``
    (frames never straddle those points)."""
    d = DataDir(root)
    d.create()
    eng = make_engine()
    stream = command_stream(eng, seed)
    writer = SegmentWriter(d, 1, fsync=fsync)
    built = Built(d, 0, "")
    pending: list[tuple[int, C.Command]] = []
    first = 1

    def flush() -> None:
        nonlocal pending
        if pending:
            writer.write(encode_frame(first, pending))
            pending = []

    seq = 0
    while seq < n:
        cmd = next(stream)
        now = T0 + (seq + 1) * 3
        try:
            eng.apply(cmd, seq + 1, now)
        except CeresError:
            continue  # rejected: not journaled (as the sequencer does)
        eng.take_events()
        seq += 1
        if not pending:
            first = seq
        pending.append((now, cmd))
        built.records.append((seq, now, cmd))
        if len(pending) >= batch or seq in snapshots or seq + 1 in rolls:
            flush()
        if seq in snapshots:
            d.write_snapshot(seq, encode_snapshot(seq, engine_state(eng)))
            built.hashes[seq] = eng.state_hash()
        if seq + 1 in rolls:
            writer.roll(seq + 1)
    flush()
    writer.close()
    assert eng.check() == []
    built.last_seq = seq
    built.final_hash = eng.state_hash()
    built.hashes[seq] = built.final_hash
    return built


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


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
        self.partial = False  # when failing: write half the data first (a write cut short)

    def write(self, data: bytes) -> None:
        self.entered.set()
        if not self.gate.wait(WAIT):
            raise TimeoutError("gate never opened")
        if self.fail is not None:
            if self.partial and self.fd is not None:
                os.write(self.fd, data[:len(data) // 2])
            raise self.fail
        self.writes.append(len(data))
        super().write(data)

    def check_space(self, nbytes: int) -> None:
        if self.fail is not None:  # the same disk: it refuses the probe too
            raise self.fail
        super().check_space(nbytes)


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
