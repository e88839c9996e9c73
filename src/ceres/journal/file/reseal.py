"""Replace the API secrets stored in a file journal's segments and snapshots (``ceres keys
seal``: secrets journaled in plain text before sealing existed).

:func:`replace_key_secrets` rewrites every ``CreateKey`` record and every snapshot's key
rows to hold ``secrets[api_key]``, the one value each key gets everywhere, so that a full
replay and a replay from any snapshot still reach the same state. Only frames holding a
record to change are re-encoded (same first sequence number and count); every other
frame, and a torn tail, is copied byte for byte. Each changed file is written to a
temporary file, fsynced, renamed over the old one and its directory fsynced, so a crash
leaves every file either old or new; running it again finishes the job. The caller holds
the journal's ownership (no writer may append meanwhile).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from ceres.domain import commands as C
from ceres.domain.secret import StoredSecret, stored_secret
from ceres.engine.snapshot import READABLE_VERSIONS, STATE_VERSION
from ceres.files import write_replacing
from ceres.journal.file.segments import DataDir
from ceres.pipeline.frames import decode_records, decode_snapshot, encode_frame, encode_snapshot, scan

TMP_SUFFIX = ".reseal"


@dataclass
class ResealReport:
    records: int = 0                                   # CreateKey records changed
    snapshot_rows: int = 0                             # snapshot key rows changed
    files: list[Path] = field(default_factory=list)    # files rewritten


def _wanted(secrets: Mapping[str, StoredSecret], api_key: str, where: str) -> StoredSecret:
    try:
        return secrets[api_key]
    except KeyError:
        raise ValueError(f"{where}: api_key {api_key} is not among the keys to store") from None


def _write_replacing(path: Path, data: bytes) -> None:
    write_replacing(path, path.with_name(path.name + TMP_SUFFIX), data)


def _segment(path: Path, secrets: Mapping[str, StoredSecret], report: ResealReport) -> None:
    data = path.read_bytes()
    result = scan(data, str(path))
    parts: list[bytes] = []
    changed = 0
    for frame in result.frames:
        records = list(decode_records(frame.payload))
        hits = 0
        for i, (time_ms, cmd) in enumerate(records):
            if isinstance(cmd, C.CreateKey):
                want = _wanted(secrets, cmd.api_key, str(path))
                if cmd.secret != want:
                    records[i] = (time_ms, msgspec.structs.replace(cmd, secret=want))
                    hits += 1
        parts.append(encode_frame(frame.first_seq, records) if hits else data[frame.offset:frame.end])
        changed += hits
    if changed:
        parts.append(data[result.valid_end:])
        _write_replacing(path, b"".join(parts))
        report.records += changed
        report.files.append(path)


def _snapshot(path: Path, secrets: Mapping[str, StoredSecret], report: ResealReport) -> None:
    seq, state = decode_snapshot(path.read_bytes(), str(path))
    if state.get("version") not in READABLE_VERSIONS:
        raise ValueError(f"{path}: a snapshot of version {state.get('version')}, which this version neither "
                         "reads nor rewrites (recovery skips it): delete it")
    changed = 0
    for row in state["keys"]:
        want = _wanted(secrets, row[0], str(path))
        if stored_secret(row[1]) != want:
            row[1] = want
            changed += 1
    if changed:
        state["version"] = STATE_VERSION
        _write_replacing(path, encode_snapshot(seq, state))
        report.snapshot_rows += changed
        report.files.append(path)


def replace_key_secrets(root: Path, secrets: Mapping[str, StoredSecret]) -> ResealReport:
    """Make every stored secret of the file journal in ``root`` the one in ``secrets``."""
    data_dir = DataDir(root)
    for directory in (data_dir.journal, data_dir.snapshots):
        if directory.is_dir():
            for stale in directory.glob(f"*{TMP_SUFFIX}"):
                stale.unlink()
    report = ResealReport()
    for _, path in data_dir.segments():
        _segment(path, secrets, report)
    for _, path in data_dir.snapshot_files():
        _snapshot(path, secrets, report)
    return report
