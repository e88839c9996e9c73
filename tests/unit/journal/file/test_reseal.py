"""Rewriting the secrets stored in a file journal (``ceres keys seal``): every CreateKey
record and snapshot row gets its key's one new value, other frames stay byte for byte,
replays from any starting point agree, a second run changes nothing."""

from __future__ import annotations

import pytest

from ceres.crypto.sealing import DataKeys, new_key
from ceres.domain.secret import SealedSecret, Secret
from ceres.journal.file.reseal import replace_key_secrets
from ceres.pipeline.frames import scan
from ceres.pipeline.recovery import recover
from journal_helpers import build_dir, make_engine


def test_plain_secrets_are_replaced_everywhere_and_replays_agree(tmp_path):
    built = build_dir(tmp_path / "data", n=60, batch=5, snapshots=(20, 40), rolls=(30,))
    journal = built.journal
    before = recover(journal, make_engine).engine
    plain = {k: key.secret for k, key in before.keys.items()}
    assert plain and all(isinstance(s, Secret) for s in plain.values())
    segments = {p: p.read_bytes() for _, p in built.data_dir.segments()}
    assert any(s.reveal().encode() in data for s in plain.values() for data in segments.values())

    keys = DataKeys({1: new_key()}, 1)
    wanted = {k: keys.seal(k, s.reveal()) for k, s in plain.items()}
    report = replace_key_secrets(built.data_dir.root, wanted)
    assert report.records == len(plain) and report.snapshot_rows == 2 * len(plain)

    everything = b"".join(p.read_bytes() for p in sorted(built.data_dir.root.rglob("*")) if p.is_file())
    assert not any(s.reveal().encode() in everything for s in plain.values())
    untouched = [p for p in segments if p not in report.files]
    assert untouched and all(p.read_bytes() == segments[p] for p in untouched)
    # in a rewritten segment, the frames without a CreateKey are the old bytes
    for path in report.files:
        if path.suffix == ".wal":
            old = {bytes(f.payload) for f in scan(segments[path]).frames}
            new = [bytes(f.payload) for f in scan(path.read_bytes()).frames]
            assert len(new) == len(scan(segments[path]).frames) and sum(p not in old for p in new) >= 1

    hashes = set()
    for kwargs in ({}, {"use_snapshots": False}, {"max_snapshot_seq": 39}):
        engine = recover(built.journal, make_engine, **kwargs).engine
        assert {k: key.secret for k, key in engine.keys.items()} == wanted
        hashes.add(engine.state_hash())
    assert len(hashes) == 1

    assert replace_key_secrets(built.data_dir.root, wanted).files == []  # done: a second run changes nothing


def test_a_key_missing_from_the_new_values_is_refused_and_its_file_left_as_it_was(tmp_path):
    built = build_dir(tmp_path / "data", n=30, batch=5)
    keys = DataKeys({1: new_key()}, 1)
    engine = recover(built.journal, make_engine).engine
    first = sorted(engine.keys)[0]
    partial: dict[str, SealedSecret] = {first: keys.seal(first, engine.keys[first].secret.reveal())}
    segments = {p: p.read_bytes() for _, p in built.data_dir.segments()}
    with pytest.raises(ValueError, match="is not among the keys"):
        replace_key_secrets(built.data_dir.root, partial)
    assert all(p.read_bytes() == data for p, data in segments.items())
