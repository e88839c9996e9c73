"""The journal port: what the pipeline needs from a durable, ordered log of commands.

A backend (``ceres.journal.file`` today; a replicated log later) implements four small
protocols and bundles them as a :class:`Journal`:

* :class:`Ownership` — the right to write: only one process appends at a time (the file
  backend's flock; a lease and an epoch on a replicated log);
* :class:`JournalWriter` — appends frames (``pipeline.frames``: CRC-checked batches of
  ``[time, command]`` records) in sequence order and reports, on the event loop, the
  highest durable sequence number (``DurabilitySink.on_durable``), or a failure
  (``on_failure``), after which it writes nothing until ``resume`` has cut storage back
  to the last durable record and found it writable again (``on_writable``);
* :class:`JournalReader` — yields the frames holding the records after a sequence
  number, in order, and says how many bytes of a torn final write it skipped;
* :class:`SnapshotStore` — engine snapshots (``pipeline.frames`` CRS1 bytes) by sequence
  number, newest retained, older ones (and the journal only they needed) pruned.

Recovery (``pipeline.recovery``), the sequencer and ``ceres verify``/``rebuild`` use only
these. Every backend passes the same contract suite (``tests/contract``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

from ceres.pipeline.frames import Frame

Progress = Callable[[int, int], None]
"""``progress(done, total)`` in backend units (segments, messages) while reading."""


class JournalLocked(Exception):
    """Another process owns the journal (a running server, or an offline tool)."""


class DurabilitySink(Protocol):
    """Where a writer reports; all are called on the event-loop thread."""

    def on_durable(self, seq: int) -> None: ...

    def on_failure(self, exc: BaseException) -> None:
        """A write or sync failed (or, after ``resume``, still fails)."""

    def on_writable(self) -> None:
        """After ``resume``: the writer can take frames again."""


class Ownership(Protocol):
    def acquire(self) -> int:
        """Take the right to write, or raise :class:`JournalLocked`. Returns the epoch
        (a number that grows with every change of owner; 1 for the file backend)."""

    def release(self) -> None: ...

    def held_elsewhere(self) -> bool:
        """Whether another process holds it now (the CLI then talks to that server)."""


class JournalWriter(Protocol):
    def start(self, sink: DurabilitySink) -> None:
        """Begin writing; durable points and failures go to ``sink``."""

    def submit(self, frame: bytes, last_seq: int, snapshot: bool = False) -> None:
        """Queue ``frame`` (records up to ``last_seq``, in order after the previous one).
        ``snapshot``: a snapshot was taken at ``last_seq`` (a file backend starts a new
        segment after it, so older ones become prunable)."""

    def resume(self) -> None:
        """After ``on_failure``: drop whatever is not durable from storage, check that
        writing works again, and report ``on_writable`` (or ``on_failure``). Frames
        submitted after a failure and before ``on_writable`` are discarded."""

    def close(self, timeout: float = 10.0) -> None:
        """Write everything queued, then stop."""

    def stats(self) -> list[tuple[str, str, str, float]]:
        """``(name, kind, help, value)`` for ``/metrics`` (kind: counter or gauge)."""


class JournalReader(Protocol):
    def frames(self, after_seq: int, progress: Progress | None = None) -> Iterator[Frame]:
        """The frames holding records after ``after_seq``, in order (a frame may start
        at or before it). Damage anywhere but a torn final write raises
        :class:`~ceres.pipeline.frames.JournalCorrupt`."""

    @property
    def torn_bytes(self) -> int:
        """Bytes of a final write cut short by a crash that the last ``frames`` call
        skipped (the writer removes them before appending)."""


class SnapshotStore(Protocol):
    def seqs(self) -> list[int]:
        """Sequence numbers of the stored snapshots, ascending."""

    def read(self, seq: int) -> bytes: ...

    def write(self, seq: int, data: bytes) -> None:
        """Store atomically: a crash leaves the old set or the new one."""

    def name(self, seq: int) -> str:
        """Where a snapshot is, for reports."""

    def prune(self, keep: int) -> None:
        """Keep the newest ``keep`` snapshots (0: keep everything) and drop the journal
        that only older ones needed."""


class Journal(Protocol):
    """A journal backend."""

    ownership: Ownership
    reader: JournalReader
    snapshots: SnapshotStore

    def open_writer(self, next_seq: int) -> JournalWriter:
        """A writer whose first record will be ``next_seq`` (after recovery, with
        ownership held)."""

    def describe(self) -> str:
        """One line for logs and the banner (backend and location)."""

    def truncate_after(self, seq: int) -> list[str]:
        """The operator's repair (``ceres repair``, ownership held): drop every record
        after ``seq`` and every snapshot after it. ``seq`` must end a frame (a batch is
        kept or dropped whole) and lie in the retained journal, before any damage; else
        ValueError saying which seqs are possible. Returns what was removed, one line each."""
