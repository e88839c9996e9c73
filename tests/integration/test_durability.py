"""Crash durability of a real ``ceres serve`` process (fsync on, loopback only).

Client threads stream orders and cancels over REST while the server is SIGKILLed at
random (seeded) moments. Every order whose ``code 200`` reply arrived before the kill is
*acknowledged* and must be there after the restart; the killed data directory must
recover to the same state from its newest snapshot as from an older snapshot or a replay
of the whole retained journal (``ceres verify --full``). Also: a torn journal tail is cut
with a warning, damage in the middle of the journal stops the server from starting.

Every loop is bounded in count and time; only processes started here are stopped.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from ceres.assembly import engine_factory
from ceres.config import load_config
from ceres.domain import commands as C
from ceres.domain.enums import OrderStatus
from ceres.engine.core import Engine
from ceres.journal.file import FileJournal
from ceres.journal.file.segments import DataDir
from ceres.pipeline.frames import FRAME_HEADER_SIZE, encode_frame
from ceres.pipeline.recovery import recover
from tests.serverproc import ServerProcess

SEED = 20240611
CHUNK = 15  # ids per trade/order query (the API's limit)
CANCELED = {int(OrderStatus.CANCELED), int(OrderStatus.PART_CANCELED)}

PRUNING = """
[journal]
fsync = true
snapshot_every = 200
keep_snapshots = 3
segment_mb = 1
"""

# keep_snapshots = 0 prunes nothing: the journal reaches back to seq 1 for a full replay
KEEP_ALL = """
[journal]
fsync = true
snapshot_every = 200
keep_snapshots = 0
"""


# --- client side ---------------------------------------------------------------------------------
class OrderStream(threading.Thread):
    """Places limit orders around 30000 (some cross and fill) and cancels earlier ones,
    recording only what was acknowledged (a ``code 200`` reply). Stops at the first
    transport error (the server died), after ``max_orders`` or ``max_seconds``."""

    def __init__(self, srv: ServerProcess, seed: int, max_orders: int = 2000,
                 max_seconds: float = 8.0) -> None:
        super().__init__(daemon=True)
        self.client = srv.rest(timeout=5.0)
        self.rng = random.Random(seed)
        self.max_orders = max_orders
        self.max_seconds = max_seconds
        self.acked: list[str] = []
        self.canceled: set[str] = set()
        self.rejected: list[dict] = []
        self.error: BaseException | None = None
        self.error_at = 0.0
        self.stop = threading.Event()

    def run(self) -> None:
        rng, c = self.rng, self.client
        deadline = time.monotonic() + self.max_seconds
        try:
            while not self.stop.is_set() and len(self.acked) < self.max_orders \
                    and time.monotonic() < deadline:
                if self.acked and rng.random() < 0.2:
                    oid = self.acked[rng.randrange(len(self.acked))]
                    r = c.cancel(oid)
                    if r.get("code") == "200":
                        self.canceled.update(x["system_oid"] for x in r["data"]["SUCCESS"])
                    else:
                        self.rejected.append(r)
                    continue
                side = "buy" if rng.random() < 0.5 else "sell"
                offset = rng.randint(-30, 60)  # mostly passive, some crossing
                price = 30000 - offset if side == "buy" else 30000 + offset
                r = c.place(exchange="TEST", contract="BTC/USDT", price_type="limit",
                            entrust_bs=side, entrust_price=f"{price}.{rng.randint(0, 99):02d}",
                            entrust_vol=f"0.00{rng.randint(1, 9)}")
                if r.get("code") == "200":
                    self.acked.append(r["data"]["system_oid"])
                else:
                    self.rejected.append(r)
        except Exception as exc:  # connection refused / reset: the server is gone
            self.error, self.error_at = exc, time.monotonic()


def run_until_killed(srv: ServerProcess, rng: random.Random, streams: int = 2,
                     max_orders: int = 2000, min_acked: int = 20, kill_after: tuple[float, float] = (0.3, 1.2),
                     max_seconds: float = 8.0) -> list[OrderStream]:
    """Start client streams, SIGKILL the server at a random moment once some orders
    were acknowledged, and return the streams (all joined)."""
    clients = [OrderStream(srv, rng.randrange(1 << 30), max_orders, max_seconds) for _ in range(streams)]
    for cl in clients:
        cl.start()
    deadline = time.monotonic() + 10
    while sum(len(cl.acked) for cl in clients) < min_acked and time.monotonic() < deadline \
            and any(cl.is_alive() for cl in clients):
        time.sleep(0.01)
    time.sleep(rng.uniform(*kill_after))
    killed_at = time.monotonic()
    srv.kill()
    for cl in clients:
        cl.join(15)
        assert not cl.is_alive(), "client thread did not stop"
        assert not cl.rejected, cl.rejected[:3]
        assert cl.error is None or cl.error_at >= killed_at, f"client failed before the kill: {cl.error!r}"
    return clients


def query_by_ids(srv: ServerProcess, ids: list[str]) -> dict[str, dict]:
    c = srv.rest(timeout=10.0)
    found: dict[str, dict] = {}
    for i in range(0, len(ids), CHUNK):
        chunk = ids[i:i + CHUNK]
        r = c.orders(system_oid=",".join(chunk))
        assert r["code"] == "200", r
        found.update((o["system_oid"], o) for o in r["data"])
    return found


def assert_all_present(srv: ServerProcess, acked: list[str], canceled: set[str]) -> None:
    found = query_by_ids(srv, acked)
    missing = [oid for oid in acked if oid not in found]
    assert not missing, f"{len(missing)} acknowledged orders lost, e.g. {missing[:5]}"
    wrong = [oid for oid in canceled if found[oid]["status"] not in CANCELED]
    assert not wrong, f"acknowledged cancels not canceled: {[(o, found[o]['status']) for o in wrong[:5]]}"


# --- data directory side --------------------------------------------------------------------------
def engine_for(srv: ServerProcess) -> Callable[[], Engine]:
    return engine_factory(load_config(srv.config_path))


def check_recovery_agrees(srv: ServerProcess) -> dict:
    """On the stopped server's data directory (read-only): the state recovered from the
    newest snapshot equals the state from the oldest retained snapshot and, when the
    journal reaches back to seq 1, from a replay of all of it."""
    make_engine = engine_for(srv)
    d = DataDir(srv.data_dir)
    newest = recover(FileJournal(srv.data_dir), make_engine)
    assert newest.engine.check() == []
    assert newest.skipped_snapshots == []
    h = newest.engine.state_hash()
    snaps = [s for s, _ in d.snapshot_files()]
    out = {"last_seq": newest.last_seq, "snapshots": snaps, "segments": [s for s, _ in d.segments()],
           "hash": h, "torn": newest.torn_bytes}
    if snaps:
        oldest = recover(FileJournal(srv.data_dir), make_engine, max_snapshot_seq=snaps[0])
        assert oldest.snapshot_seq == snaps[0]
        assert oldest.last_seq == newest.last_seq
        assert oldest.engine.state_hash() == h, "snapshot recovery differs from replay"
    if out["segments"] and out["segments"][0] == 1:
        full = recover(FileJournal(srv.data_dir), make_engine, use_snapshots=False)
        assert full.last_seq == newest.last_seq
        assert full.engine.state_hash() == h, "snapshot recovery differs from a full replay"
    return out


def ceres_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ceres", *args], capture_output=True, text=True,
                          timeout=timeout)


def verify_full(srv: ServerProcess) -> tuple[str, str]:
    """``ceres verify DATA_DIR --full``: must pass and print matching hashes."""
    r = ceres_cli("verify", str(srv.data_dir), "--full", "--config", str(srv.config_path))
    assert r.returncode == 0, r.stdout + r.stderr
    state = re.search(r"state hash:\s+([0-9a-f]{64})", r.stdout)
    full = re.search(r"full replay hash:\s+([0-9a-f]{64}) \(matches\)", r.stdout)
    assert state and full, r.stdout
    assert state.group(1) == full.group(1)
    return state.group(1), r.stdout


# --- the tests -------------------------------------------------------------------------------------
def test_acknowledged_orders_survive_repeated_sigkill_with_snapshots_and_pruning(server_factory):
    """5 kill/restart cycles on one data directory that snapshots every 200 commands and
    keeps 3 snapshots (so snapshot files and covered journal segments are pruned)."""
    rng = random.Random(SEED)
    srv = server_factory("pruned", config=PRUNING)
    acked: list[str] = []
    canceled: set[str] = set()
    history = []
    for _cycle in range(5):
        srv.start()
        if acked:
            assert_all_present(srv, acked, canceled)
        for cl in run_until_killed(srv, rng):
            acked += cl.acked
            canceled |= cl.canceled
        history.append(check_recovery_agrees(srv))
    srv.start()
    try:
        assert_all_present(srv, acked, canceled)
    finally:
        assert srv.stop() == 0
    final = check_recovery_agrees(srv)
    r = ceres_cli("verify", str(srv.data_dir), "--full", "--config", str(srv.config_path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"state hash:       {final['hash']}" in r.stdout, r.stdout
    assert "full replay:      not possible" in r.stdout, r.stdout  # pruned: no seq 1 any more
    assert final["snapshots"][-1] == final["last_seq"]  # SIGTERM wrote a final snapshot
    # snapshots and pruning really happened: bounded snapshot files, journal start moved
    assert len(final["snapshots"]) <= 3
    assert final["segments"][0] > 1, history
    assert final["last_seq"] >= 200 * 3, history
    assert len(acked) >= 5 * 20


def test_verify_full_matches_after_each_sigkill(server_factory):
    """With the whole journal kept, ``ceres verify --full`` (a subprocess) agrees after
    every crash: newest snapshot + tail == replay of every record from seq 1."""
    rng = random.Random(SEED + 1)
    srv = server_factory("kept", config=KEEP_ALL)
    acked: list[str] = []
    canceled: set[str] = set()
    for cycle in range(3):
        srv.start()
        if acked:
            assert_all_present(srv, acked, canceled)
        for cl in run_until_killed(srv, rng, kill_after=(0.4, 1.0)):
            acked += cl.acked
            canceled |= cl.canceled
        state = check_recovery_agrees(srv)
        assert state["segments"][0] == 1
        hash_, out = verify_full(srv)
        assert hash_ == state["hash"]
        if cycle == 2:
            assert state["snapshots"], "no snapshot was taken: the comparison proved nothing"
            assert re.search(r"snapshot used:\s+\S+\.snap", out), out
    srv.start()
    try:
        assert_all_present(srv, acked, canceled)
    finally:
        srv.stop()


def test_projection_catches_up_after_sigkill(server_factory):
    """The history query with no filter (newest 100 from SQLite) returns every
    acknowledged order after a crash: the projection is replayed up to date on start,
    also when it lost everything, and keeps being written afterwards."""
    rng = random.Random(SEED + 2)
    srv = server_factory("projection", config=PRUNING)
    acked: list[str] = []
    canceled: set[str] = set()

    def check_history() -> None:
        r = srv.rest().orders()
        assert r["code"] == "200", r
        rows = {o["system_oid"]: o for o in r["data"]}
        missing = [oid for oid in acked if oid not in rows]
        assert not missing, f"history lacks acknowledged orders {missing[:5]}"
        assert all(rows[oid]["status"] in CANCELED for oid in canceled)
        ids = [int(o["system_oid"]) for o in r["data"]]
        assert ids == sorted(ids, reverse=True)  # newest first

    for _cycle in range(2):
        srv.start()
        if acked:
            check_history()
        clients = run_until_killed(srv, rng, streams=1, max_orders=40, min_acked=10,
                                   kill_after=(0.0, 0.05))
        acked += clients[0].acked
        canceled |= clients[0].canceled
    assert 10 <= len(acked) < 100
    srv.start()
    check_history()
    srv.kill()
    # a projection that lags all the way: it is derived, the journal rebuilds it on start
    for path in srv.data_dir.glob("ceres.db*"):
        path.unlink()
    srv.start()
    try:
        check_history()
        # and it keeps being written after a catch-up on start
        c = srv.rest()
        new = c.place(exchange="TEST", contract="BTC/USDT", price_type="limit", entrust_bs="buy",
                      entrust_price="100", entrust_vol="0.001")
        assert new["code"] == "200", new
        oid = new["data"]["system_oid"]
        assert c.cancel(oid)["data"]["SUCCESS"] == [{"system_oid": oid}]
        assert c.orders(system_oid=oid)["data"][0]["status"] in CANCELED  # from the projection
        assert c.orders()["data"][0]["system_oid"] == oid
    finally:
        srv.stop()


def _tails(next_seq: int) -> dict[str, bytes]:
    """What a crash can leave at the end (a complete frame with a bad checksum is damage, not
    a torn write: ``test_journal_damage.py``)."""
    ghost = encode_frame(next_seq, [(1_800_000_000_000, C.CreateProduct("ghost"))])
    return {
        "frame cut mid-payload": ghost[:len(ghost) - 5],
        "frame cut mid-header": ghost[:FRAME_HEADER_SIZE - 7],
        "frame cut before its checksum": ghost[:-3],
        "zero-filled blocks": b"\0" * 8192,
    }


def test_torn_tail_is_cut_with_a_warning_and_nothing_acknowledged_is_lost(server_factory):
    rng = random.Random(SEED + 3)
    srv = server_factory("torn", config=PRUNING)
    acked: list[str] = []
    canceled: set[str] = set()
    srv.start()
    for kind in list(_tails(1)):
        for cl in run_until_killed(srv, rng, streams=1, max_orders=60, min_acked=5,
                                   kill_after=(0.05, 0.2)):
            acked += cl.acked
            canceled |= cl.canceled
        d = DataDir(srv.data_dir)
        rec = recover(FileJournal(srv.data_dir), engine_for(srv))
        last_seg = d.segments()[-1][1]
        tail = _tails(rec.last_seq + 1)[kind]
        with open(last_seg, "ab") as f:
            f.write(tail)
        size_with_tail = last_seg.stat().st_size
        log_before = len(srv.logs())
        srv.start()
        new_log = srv.logs()[log_before:]
        assert "torn journal tail" in new_log, (kind, new_log[-2000:])
        assert last_seg.stat().st_size == size_with_tail - len(tail) - rec.torn_bytes, kind
        assert_all_present(srv, acked, canceled)
        products = {p["product"] for p in srv.admin("list_products")}
        assert "ghost" not in products, kind  # the torn frame was never acknowledged
    try:
        assert_all_present(srv, acked, canceled)
    finally:
        assert srv.stop() == 0
    check_recovery_agrees(srv)
