"""API secrets at rest, on a real ``ceres serve`` (loopback only): sealed in the journal,
snapshots and projection, data files 0600, a master key outside the data directory
that must be the right one, ``ceres keys rotate-master`` and ``ceres keys seal`` (for
data directories written before sealing), and no secret in a log.

Only processes started here are stopped, by PID (``ServerProcess``).
"""

from __future__ import annotations

import base64
import os
import stat
import subprocess
import sys
from pathlib import Path

from ceres.assembly import engine_factory
from ceres.config import load_config
from ceres.domain import commands as C
from ceres.domain.secret import Secret
from ceres.engine.snapshot import engine_state
from ceres.journal.file.segments import DataDir, SegmentWriter
from ceres.pipeline.frames import encode_frame, encode_snapshot
from tests.serverproc import ServerProcess

SNAPSHOTS = "[journal]\nsnapshot_every = 5\n"
KEEP_ALL = "[journal]\nkeep_snapshots = 0\n"  # the whole journal stays: `ceres verify --full` can replay it
T0 = 1_760_000_000_000


def ceres(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ceres", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "COLUMNS": "200", **(env or {})})


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def holders(root: Path, needle: str) -> list[str]:
    """Files under ``root`` whose bytes contain ``needle``."""
    return [str(p.relative_to(root)) for p in files_under(root) if needle.encode() in p.read_bytes()]


def loose_modes(root: Path) -> dict[str, str]:
    """Files under ``root`` that someone other than the owner may read or write."""
    return {str(p.relative_to(root)): oct(stat.S_IMODE(p.stat().st_mode)) for p in files_under(root)
            if stat.S_IMODE(p.stat().st_mode) & 0o077}


def make_keys(srv: ServerProcess, product: str, n: int) -> list[tuple[str, str]]:
    srv.admin("create_product", name=product)
    srv.admin("deposit", product=product, currency="USDT", amount="100")
    return [(r["api_key"], r["secret"]) for r in (srv.admin("create_key", product=product) for _ in range(n))]


def account_code(srv: ServerProcess, api_key: str, secret: str) -> str:
    return srv.rest(api_key, secret).account()["code"]


def start_fails(data: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    out = ceres("serve", "--data-dir", str(data), "--no-simulator", "--http-port", "0", "--trade-ws-port", "0",
                "--notify-ws-port", "0", "--market-ws-port", "0", "--admin-port", "0", env=env,
                timeout=60)  # a refusal takes about a second; a server that starts runs until killed here
    assert out.returncode == 2, out.stdout + out.stderr
    return out


def test_no_secret_in_the_data_directory_files_private_restart_verifies(server_factory, tmp_path):
    srv = server_factory(config=SNAPSHOTS).start()
    data = srv.data_dir
    keys = make_keys(srv, "fund-s", 3)
    revoked_key, revoked_secret = keys[0]
    srv.admin("revoke_key", api_key=revoked_key)
    for api_key, secret in keys[1:]:
        assert account_code(srv, api_key, secret) == "200"
    assert account_code(srv, revoked_key, revoked_secret) == "40104"
    running_modes = loose_modes(data)  # the SQLite -wal and -shm files exist while it runs
    assert (data / "ceres.db-wal").exists()
    assert srv.stop() == 0

    assert running_modes == {} and loose_modes(data) == {}
    assert list((data / "snapshots").glob("*.snap")), "no snapshot was written"
    for api_key, secret in keys:
        assert holders(data, api_key), f"{api_key} is in no file: the grep would prove nothing"
        assert holders(data, secret) == [], f"a secret is readable in {holders(data, secret)}"
    demo = srv.demo()
    assert holders(data, demo["secret"]) == ["demo-credentials.json"]  # the demo's, on purpose
    logs = srv.logs() + srv.out_path.read_text()  # stderr (log lines) and stdout (banner, not a terminal)
    for secret in [s for _, s in keys] + [demo["secret"]]:
        assert secret not in logs

    master = tmp_path / "data.master-key"  # beside the data directory, not in it
    assert stat.S_IMODE(master.stat().st_mode) == 0o600 and str(master) in srv.out_path.read_text()

    srv.start()
    try:
        for api_key, secret in keys[1:]:
            assert account_code(srv, api_key, secret) == "200"
            assert account_code(srv, api_key, "x" * 32) == "40103"
        assert account_code(srv, revoked_key, revoked_secret) == "40104"
    finally:
        srv.stop()


def test_a_missing_or_wrong_master_key_refuses_to_start(server_factory, tmp_path):
    srv = server_factory().start()
    ((api_key, secret),) = make_keys(srv, "fund-m", 1)
    srv.stop()
    master = tmp_path / "data.master-key"
    kept = tmp_path / "elsewhere.key"
    master.rename(kept)

    missing = start_fails(srv.data_dir)
    assert "refusing to start: no master key" in missing.stderr and "CERES_MASTER_KEY" in missing.stderr
    assert not master.exists(), "a second master key was generated for an existing data directory"
    wrong = start_fails(srv.data_dir, env={"CERES_MASTER_KEY": base64.b64encode(os.urandom(32)).decode()})
    assert "does not open" in wrong.stderr and "keyring.json" in wrong.stderr
    malformed = start_fails(srv.data_dir, env={"CERES_MASTER_KEY": "not-a-key"})
    assert "32 bytes" in malformed.stderr
    keyring_file = srv.data_dir / "keyring.json"
    keyring_file.rename(tmp_path / "keyring.json")  # the right key, but the wrapped data key is gone
    lost = start_fails(srv.data_dir, env={"CERES_MASTER_KEY": kept.read_text().strip()})
    assert "keyring.json is missing" in lost.stderr and not keyring_file.exists()
    (tmp_path / "keyring.json").rename(keyring_file)

    srv.env["CERES_MASTER_KEY"] = kept.read_text().strip()  # the right key, from the environment
    srv.start()
    try:
        assert account_code(srv, api_key, secret) == "200"
    finally:
        srv.stop()


def test_rotate_master_then_only_the_new_key_opens(server_factory, tmp_path):
    srv = server_factory().start()
    ((api_key, secret),) = make_keys(srv, "fund-r", 1)
    master = tmp_path / "data.master-key"
    refused = ceres("keys", "rotate-master", "--data-dir", str(srv.data_dir))
    assert refused.returncode == 2 and "stop the server first" in refused.stderr
    srv.stop()
    old = master.read_text().strip()

    rotated = ceres("keys", "rotate-master", "--data-dir", str(srv.data_dir))
    assert rotated.returncode == 0, rotated.stderr
    new = master.read_text().strip()
    assert new != old and stat.S_IMODE(master.stat().st_mode) == 0o600
    assert "does not open" in start_fails(srv.data_dir, env={"CERES_MASTER_KEY": old}).stderr

    srv.start()  # with the key file, now the new key
    try:
        assert account_code(srv, api_key, secret) == "200"
    finally:
        srv.stop()

    # from the environment to a new key file, with a new data key for secrets created from now on
    elsewhere = tmp_path / "next.key"
    moved = ceres("keys", "rotate-master", "--new-data-key", "--new-key-file", str(elsewhere),
                  "--data-dir", str(srv.data_dir), env={"CERES_MASTER_KEY": new})
    assert moved.returncode == 0, moved.stderr
    assert "data keys [1, 2], sealing with 2" in moved.stdout
    assert "does not open" in start_fails(srv.data_dir, env={"CERES_MASTER_KEY": new}).stderr
    srv.env["CERES_SECURITY_MASTER_KEY_FILE"] = str(elsewhere)
    srv.start()
    try:
        ((later_key, later_secret),) = make_keys(srv, "fund-r2", 1)
        assert account_code(srv, api_key, secret) == "200"        # sealed with data key 1
        assert account_code(srv, later_key, later_secret) == "200"  # sealed with data key 2
    finally:
        srv.stop()


def write_legacy_data_dir(root: Path) -> dict[str, str]:
    """A data directory as versions before sealing wrote it: plain secrets in journal
    records and in a (version 3) snapshot. Returns api_key -> secret."""
    secrets = {f"LEGACYKEY{i:07d}": f"legacy-secret-{i}".ljust(32, "s") for i in range(3)}
    keys = list(secrets)
    before = [C.CreateProduct("old-fund"), C.Deposit("old-fund", "USDT", 10**10),
              *(C.CreateKey("old-fund", k, Secret(secrets[k]), 3) for k in keys[:2]), C.RevokeKey(keys[0])]
    after = [C.CreateKey("old-fund", keys[2], Secret(secrets[keys[2]]), 3)]
    engine = engine_factory(load_config(None, env={}))()
    d = DataDir(root)
    d.create()
    writer = SegmentWriter(d, 1)
    seq = 0
    for batch in (before, after):
        records = []
        for cmd in batch:
            seq += 1
            engine.apply(cmd, seq, T0 + seq)
            records.append((T0 + seq, cmd))
        writer.write(encode_frame(seq - len(batch) + 1, records))
        if batch is before:
            state = {**engine_state(engine), "version": 3}
            d.write_snapshot(seq, encode_snapshot(seq, state))
            writer.roll(seq + 1)
    writer.close()
    return secrets


def test_keys_seal_seals_a_data_directory_written_before_sealing(server_factory, tmp_path):
    data = tmp_path / "data"
    secrets = write_legacy_data_dir(data)
    live = [k for k in secrets if k != "LEGACYKEY0000000"]
    assert holders(data, secrets["LEGACYKEY0000000"]), "the legacy directory holds no plain secret"

    srv = server_factory(config=KEEP_ALL).start()  # old data keeps working
    try:
        for k in live:
            assert account_code(srv, k, secrets[k]) == "200"
        assert account_code(srv, "LEGACYKEY0000000", secrets["LEGACYKEY0000000"]) == "40104"
    finally:
        srv.stop()
    assert "ceres keys seal" in srv.logs()

    config = ["--config", str(srv.config_path), "--data-dir", str(data)]
    sealed = ceres("keys", "seal", *config)
    assert sealed.returncode == 0, sealed.stderr
    assert "sealed 3 plain secret(s)" in sealed.stdout
    for k, secret in secrets.items():
        assert holders(data, k) and holders(data, secret) == [], (k, holders(data, secret))
    verify = ceres("verify", str(data), "--full", "--config", str(srv.config_path))
    assert verify.returncode == 0 and "(matches)" in verify.stdout, verify.stdout  # same state both ways
    again = ceres("keys", "seal", *config)
    assert again.returncode == 0 and "sealed 0 plain secret(s)" in again.stdout and "in 0 file(s)" in again.stdout

    logged = len(srv.logs())
    srv.start()
    try:
        for k in live:
            assert account_code(srv, k, secrets[k]) == "200"
        assert account_code(srv, "LEGACYKEY0000000", secrets["LEGACYKEY0000000"]) == "40104"
    finally:
        srv.stop()
    assert "recovered seq" in srv.logs()[logged:] and "ceres keys seal" not in srv.logs()[logged:]
