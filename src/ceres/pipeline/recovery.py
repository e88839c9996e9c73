"""Restart: newest valid snapshot, then replay of the journal after it (through the
journal port, so any backend recovers the same way).

``recover`` rebuilds the engine from a journal and reports what it used:

1. snapshots are tried newest first; a damaged one is skipped (and reported);
2. the journal's frames after the snapshot are applied through the same
   ``Engine.apply`` as live commands, with their journaled seq and time;
3. a torn tail (a final write cut short by a crash) is skipped and reported (the writer
   removes it before appending); damage anywhere else, a gap in sequence numbers, or a
   journal that starts after the snapshot, or ends before the newest stored snapshot, raises
   :class:`~ceres.pipeline.frames.JournalCorrupt` (:class:`~ceres.pipeline.frames.JournalGap`
   for the last), naming where, and the server refuses to start.

Rejected commands are not journaled, so every replayed record must apply cleanly; one
that raises means the journal and the code disagree, which is also reported as corrupt.

``recover_with_history`` does the same while feeding a projector every event it lacks,
which is how a server (and ``ceres rebuild``) brings its history store up to date.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ceres.domain.errors import CeresError
from ceres.domain.events import Event
from ceres.engine.core import Engine
from ceres.engine.snapshot import restore_engine
from ceres.pipeline.frames import JournalCorrupt, JournalGap, decode_records, decode_snapshot
from ceres.pipeline.history import Batch, Projector
from ceres.pipeline.journal import Journal, Progress

REPLAY_CHUNK = 2000


@dataclass
class Recovery:
    engine: Engine
    last_seq: int
    snapshot_seq: int | None
    snapshot_name: str | None
    replayed: int
    torn_bytes: int = 0
    skipped_snapshots: list[str] = field(default_factory=list)


EventSink = Callable[[int, list[Event]], None]


def recover(journal: Journal, make_engine: Callable[[], Engine], *, on_events: EventSink | None = None,
            use_snapshots: bool = True, max_snapshot_seq: int | None = None,
            progress: Progress | None = None, upto: int | None = None) -> Recovery:
    """Rebuild the engine. ``on_events(seq, events)`` receives the events of every replayed
    record (for projections); ``progress(done, total)`` is the reader's; ``max_snapshot_seq``
    ignores newer snapshots (to replay events a projection lacks); ``upto`` stops at that
    seq (the durable point, when the sequencer rewinds after a failed write). Raises
    JournalGap when the journal starts after the chosen starting point."""
    if upto is not None:
        max_snapshot_seq = upto if max_snapshot_seq is None else min(max_snapshot_seq, upto)
    engine = make_engine()
    snap_seq: int | None = None
    snap_name: str | None = None
    skipped: list[str] = []
    store = journal.snapshots
    if use_snapshots:
        for seq in reversed(store.seqs()):
            if max_snapshot_seq is not None and seq > max_snapshot_seq:
                continue
            name = store.name(seq)
            try:
                file_seq, state = decode_snapshot(store.read(seq), name)
                if file_seq != seq:
                    raise JournalCorrupt(f"{name}: holds seq {file_seq}")
                restore_engine(engine, state)
            except (JournalCorrupt, OSError, ValueError, KeyError, CeresError) as exc:
                skipped.append(f"{name}: {exc}")
                engine = make_engine()
                continue
            snap_seq, snap_name = seq, name
            break
    last = snap_seq or 0
    replayed = 0
    reader = journal.reader
    for frame in reader.frames(last, progress):
        if frame.last_seq <= last:
            continue
        if frame.first_seq > last + 1:
            gap = JournalGap if replayed == 0 else JournalCorrupt
            raise gap(f"{journal.describe()}: records jump from seq {last} to {frame.first_seq}")
        if upto is not None and frame.first_seq > upto:
            break
        for i, (now, cmd) in enumerate(decode_records(frame.payload)):
            seq = frame.first_seq + i
            if seq <= last:
                continue
            if upto is not None and seq > upto:
                break
            try:
                engine.apply(cmd, seq, now)
            except CeresError as exc:
                raise JournalCorrupt(f"{journal.describe()}: record seq {seq} no longer applies: "
                                     f"{exc}") from None
            events = engine.take_events()
            if on_events is not None:
                on_events(seq, events)
            last = seq
            replayed += 1
    engine.take_events()
    newest = max((s for s in store.seqs() if upto is None or s <= upto), default=0)
    if last < newest:  # a snapshot proves the records once reached ``newest``
        gap = JournalGap if replayed == 0 else JournalCorrupt
        raise gap(f"{journal.describe()}: records end at seq {last}, but {store.name(newest)} "
                  f"holds the state after seq {newest}")
    return Recovery(engine, last, snap_seq, snap_name, replayed, reader.torn_bytes, skipped)


@dataclass
class HistoryReport:
    recovery: Recovery
    projection_from: int
    projection_gap: bool


def recover_with_history(journal: Journal, make_engine: Callable[[], Engine], projector: Projector, *,
                         progress: Progress | None = None) -> HistoryReport:
    """Recover the engine while feeding ``projector`` every event it lacks. Starts from a
    snapshot no newer than what the projector holds; if the journal no longer reaches back
    that far, recovers normally and reports the gap (history between is missing)."""
    start = projector.last_seq()
    pending: Batch = []

    def sink(seq: int, events: list[Event]) -> None:
        if seq > start:
            pending.append((seq, events))
            if len(pending) >= REPLAY_CHUNK:
                projector.apply(pending)
                pending.clear()

    gap = False
    try:
        rec = recover(journal, make_engine, on_events=sink, max_snapshot_seq=start, progress=progress)
    except JournalGap:
        gap = True
        pending.clear()
        rec = recover(journal, make_engine, on_events=sink, progress=progress)
    if pending:
        projector.apply(pending)
    return HistoryReport(rec, start, gap)
