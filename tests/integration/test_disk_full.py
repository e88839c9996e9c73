"""A full disk is survived: a real ``ceres serve`` whose data directory is a small ext4
filesystem (a loop device, created and removed here) filled to the last block.

The batch whose write fails is refused (503, code 50001; none of it acknowledged), the
engine is rewound to the durable journal (no phantom orders), reads, ``/health``
(degraded, with the reason) and ``/metrics`` keep serving, new commands are refused at
once, and once space is freed the server accepts commands again by itself: no exit, no
restart. Every acknowledged order is there afterwards, also after a SIGKILL and restart.
Skipped, saying why, only where mounting a loop filesystem is not permitted.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.serverproc import ServerProcess

CONFIG = """
[journal]
fsync = true
retry_ms = 100
resume_probe_kb = 8192  # more than a failed write or a rolled-back SQLite transaction can free
"""
ORDER = {"exchange": "TEST", "contract": "BTC/USDT", "price_type": "limit", "entrust_bs": "buy",
         "entrust_vol": "0.001"}
DEADLINE = 20.0


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def small_fs(tmp_path):
    """A 24 MB ext4 filesystem mounted at ``tmp_path/data`` (the server's data directory)."""
    image, mount = tmp_path / "fs.img", tmp_path / "data"
    mount.mkdir()
    with open(image, "wb") as f:
        f.truncate(24 << 20)
    made = _run("mkfs.ext4", "-q", "-F", "-m", "0", str(image))
    if made.returncode != 0:
        pytest.skip(f"cannot make an ext4 filesystem here: {made.stderr.strip()}")
    mounted = _run("mount", "-o", "loop", str(image), str(mount))
    if mounted.returncode != 0:
        pytest.skip(f"mounting a loop filesystem is not permitted here: {mounted.stderr.strip()}")
    try:
        yield mount
    finally:
        if _run("umount", str(mount)).returncode != 0:
            _run("umount", "-l", str(mount))
        image.unlink(missing_ok=True)


def fill(directory: Path) -> Path:
    """Write a file until the filesystem has no block left (ENOSPC), to the last byte."""
    filler = directory / "filler"
    chunk = 1 << 20
    with open(filler, "wb", buffering=0) as f:
        while chunk:
            try:
                f.write(b"\xff" * chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
                chunk //= 2
        os.fsync(f.fileno())
    assert os.statvfs(directory).f_bavail == 0
    return filler


def place(srv: ServerProcess, price: int) -> dict:
    return srv.rest().place(**ORDER, entrust_price=str(price))


def get(srv: ServerProcess, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"{srv.http_url}{path}", timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def health(srv: ServerProcess) -> tuple[int, dict]:
    status, body = get(srv, "/health")
    return status, json.loads(body)


def until(pred, what: str) -> None:
    end = time.monotonic() + DEADLINE
    while not pred():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.05)


def open_ids(srv: ServerProcess) -> set[str]:
    reply = srv.rest().open_orders()
    assert reply["code"] == "200", reply
    return {o["system_oid"] for o in reply["data"]["orderDetailRes"]}


def test_a_full_disk_refuses_commands_keeps_reading_and_resumes_when_space_returns(small_fs, tmp_path):
    srv = ServerProcess(small_fs, config=CONFIG, extra_args=("--no-simulator",))
    srv.start()
    try:
        acked = [place(srv, 20000 + i)["data"]["system_oid"] for i in range(5)]
        filler = fill(small_fs)

        # the segment's last block still has room; once a write needs a new block, it fails:
        # that command is refused, and so is every one after it while the disk is full
        refused = [place_until_refused(srv, 21000, acked)] + [place(srv, 23000 + i) for i in range(5)]
        assert all(r["_status"] == 503 and r["code"] == "50001" for r in refused), refused
        assert "No space left on device" in refused[0]["message"], refused[0]
        status, body = health(srv)
        assert status == 503 and body["status"] == "degraded", body
        assert "No space left on device" in body["reason"], body
        assert srv.proc.poll() is None  # still running
        # reads keep serving, and show no phantom order
        assert open_ids(srv) == set(acked)
        account = srv.rest().account()
        assert account["code"] == "200", account
        status, metrics = get(srv, "/metrics")
        assert status == 200 and b"ceres_journal_degraded 1" in metrics, metrics[-1500:]

        # space comes back: commands are accepted again without a restart
        filler.unlink()
        until(lambda: health(srv)[0] == 200, "the server to resume")
        later = place(srv, 22000)
        assert later["code"] == "200", later
        acked.append(later["data"]["system_oid"])
        assert open_ids(srv) == set(acked)
        # the history store, which failed too on the full disk, has caught up by itself
        until(lambda: (lambda b: b["status"] == "ok" and b["projected_seq"] == b["seq"])(health(srv)[1]),
              "the history store to catch up")
        status, metrics = get(srv, "/metrics")
        assert b"ceres_journal_degradations_total 1" in metrics and b"ceres_journal_degraded 0" in metrics
        pid = srv.proc.pid
    finally:
        srv.kill()
    # what was acknowledged survives a crash; nothing refused comes back
    srv.start()
    try:
        assert srv.proc.pid != pid
        assert open_ids(srv) == set(acked)
    finally:
        assert srv.stop() == 0
    verify = subprocess.run([sys.executable, "-m", "ceres", "verify", str(small_fs), "--config",
                             str(srv.config_path)], capture_output=True, text=True, timeout=120)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def place_until_refused(srv: ServerProcess, first_price: int, acked: list[str]) -> dict:
    """Place orders until one is refused (the segment's last block may still take a few)."""
    for i in range(2000):
        reply = place(srv, first_price + i)
        if reply["code"] != "200":
            return reply
        acked.append(reply["data"]["system_oid"])
    raise AssertionError("the full disk never refused a write")


def test_a_server_restarted_on_a_full_disk_starts_and_waits_for_space(small_fs):
    srv = ServerProcess(small_fs, config=CONFIG, extra_args=("--no-simulator",))
    srv.start()
    acked = [place(srv, 20000 + i)["data"]["system_oid"] for i in range(3)]
    filler = fill(small_fs)
    refused = place_until_refused(srv, 21000, acked)
    assert refused["_status"] == 503 and refused["code"] == "50001", refused
    assert srv.stop() == 0  # a clean stop on a full disk (its final snapshot cannot be written)
    try:
        srv.start()  # still full: it starts, serves reads, and refuses commands until there is room
        assert open_ids(srv) == set(acked)
        refused = place_until_refused(srv, 22000, acked)
        assert refused["_status"] == 503 and refused["code"] == "50001", refused
        assert health(srv)[1]["status"] == "degraded"
        time.sleep(0.5)  # several resume attempts, all refused by the full disk
        assert srv.proc.poll() is None
        filler.unlink()
        until(lambda: health(srv)[0] == 200, "the server to resume")
        reply = place(srv, 23000)
        assert reply["code"] == "200", reply
        acked.append(reply["data"]["system_oid"])
        assert open_ids(srv) == set(acked)
    finally:
        assert srv.stop() == 0
