"""Damage told apart from a torn write, on a real ``ceres serve`` data directory.

A complete frame that fails its checksum, in the last frame as in the middle, stops
start-up with an error naming the file, the byte offset and the last good sequence
number; nothing is cut. ``ceres verify`` reports the same. ``ceres repair
--truncate-after SEQ`` is the operator's explicit decision: records after SEQ are dropped
(acknowledged ones included), the history store is rebuilt, and the server starts with
exactly the orders up to SEQ. (Torn writes are cut automatically: test_durability.py.)
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from ceres.assembly import engine_factory
from ceres.config import load_config
from ceres.domain import commands as C
from ceres.journal.file import FileJournal
from ceres.journal.file.segments import DataDir
from ceres.pipeline.frames import FRAME_HEADER_SIZE, decode_records, scan
from ceres.pipeline.recovery import recover
from tests.serverproc import ServerProcess

ORDERS = 12


def ceres_cli(*args: str, input_text: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ceres", *args], capture_output=True, text=True, timeout=120,
                          input=input_text)


def place_orders(srv: ServerProcess) -> list[str]:
    """Sequential placements: each is its own frame (one request in flight at a time)."""
    c = srv.rest()
    oids = []
    for i in range(ORDERS):
        r = c.place(exchange="TEST", contract="BTC/USDT", price_type="limit", entrust_bs="buy",
                    entrust_price=f"{20000 + i}", entrust_vol="0.001")
        assert r["code"] == "200", r
        oids.append(r["data"]["system_oid"])
    return oids


def flip(srv: ServerProcess, frame_index: int) -> tuple[str, int, int]:
    """Flip one payload bit of a frame of the last segment; returns (segment, offset of that
    frame, last seq before it)."""
    seg = DataDir(srv.data_dir).segments()[-1][1]
    frames = scan(seg.read_bytes()).frames
    frame = frames[frame_index]
    data = bytearray(seg.read_bytes())
    data[frame.offset + FRAME_HEADER_SIZE + 3] ^= 0x04
    seg.write_bytes(bytes(data))
    return str(seg), frame.offset, frame.first_seq - 1


def placed_upto(srv: ServerProcess, seq: int) -> int:
    """How many Place records the journal holds up to ``seq``."""
    journal = FileJournal(srv.data_dir)
    rec = recover(journal, engine_factory(load_config(srv.config_path)))
    assert rec.last_seq == seq
    count = 0
    for frame in journal.reader.frames(0):
        count += sum(1 for _, cmd in decode_records(frame.payload) if isinstance(cmd, C.Place))
    return count


@pytest.mark.parametrize("where", ["last frame", "middle frame"])
def test_a_damaged_frame_stops_start_up_until_the_operator_repairs(server_factory, where):
    srv = server_factory(where.replace(" ", "-"), config="[journal]\nfsync = true\nsnapshot_every = 0\n")
    srv.start()
    oids = place_orders(srv)
    assert srv.stop() == 0
    index = -1 if where == "last frame" else -5
    seg, offset, after = flip(srv, index)
    damaged = Path(seg).read_bytes()

    with pytest.raises(RuntimeError, match=r"exited with 4"):
        srv.start(timeout=30)
    log = " ".join(srv.logs().split())  # rich wraps long lines
    assert "refusing to start: the journal is damaged" in log, log[-2000:]
    assert re.search(rf"{re.escape(seg)}: frame of seq \d+\.\.\d+ fails its checksum at byte {offset} "
                     rf"\(after seq {after}\)", log), log[-2000:]
    assert f"ceres repair DATA_DIR --truncate-after {after}" in log, log[-2000:]
    assert Path(seg).read_bytes() == damaged, "a refused start must not modify the journal"

    r = ceres_cli("verify", str(srv.data_dir), "--config", str(srv.config_path))
    assert r.returncode == 4, r.stdout + r.stderr
    assert f"(after seq {after})" in " ".join(r.stderr.split()), r.stderr

    # the operator must confirm: answering no changes nothing
    r = ceres_cli("repair", str(srv.data_dir), "--truncate-after", str(after), "--config", str(srv.config_path),
                  input_text="n\n")
    assert r.returncode != 0 and Path(seg).read_bytes() == damaged, r.stdout + r.stderr
    r = ceres_cli("repair", str(srv.data_dir), "--truncate-after", str(after), "--config", str(srv.config_path),
                  "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"journal now ends at seq {after}" in r.stdout, r.stdout

    kept = placed_upto(srv, after)
    dropped = ORDERS - kept
    assert dropped == (1 if where == "last frame" else 5)
    srv.start()
    try:
        c = srv.rest()
        open_now = [o["system_oid"] for o in c.open_orders()["data"]["orderDetailRes"]]
        assert sorted(open_now) == sorted(oids[:kept])  # exactly the orders up to the cut
        for oid in oids[kept:]:  # the dropped ones are gone from the history store too
            assert c.orders(system_oid=oid)["code"] == "40403"
        assert [o["system_oid"] for o in c.orders(system_oid=oids[0])["data"]] == [oids[0]]
    finally:
        assert srv.stop() == 0
    r = ceres_cli("verify", str(srv.data_dir), "--config", str(srv.config_path))
    assert r.returncode == 0, r.stdout + r.stderr
