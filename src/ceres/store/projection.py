"""The write side both history backends share (a :class:`~ceres.pipeline.history.Projector`):
idempotence by sequence number and what one ``apply`` writes.

``apply`` skips events at or below ``last_seq``, collects the rows of the rest
(:class:`~ceres.store.rows.Rows`) and hands them to the backend's ``_write``, which stores
them and ``meta.last_seq`` in one transaction, or rolls back, drops its connection (the
next attempt starts clean) and raises. Only after it returns does ``last_seq`` move, so a
failed group is written whole by the next attempt and a replayed one changes nothing.
"""

from __future__ import annotations

from ceres.pipeline.history import Batch
from ceres.store import notices
from ceres.store.rows import Rows, TradePruning


class StoreUnavailable(Exception):
    """The history store cannot be reached (a database server down or misaddressed)."""


class Projection:
    def __init__(self, *, skip_products: frozenset[str], trade_retention_ms: int, notice_retention: int) -> None:
        self.skip = skip_products
        self.trade_retention_ms = trade_retention_ms
        self._notices = notices.NoticeLog(notice_retention)
        self._pruning = TradePruning(trade_retention_ms)
        self._last_seq = 0

    def last_seq(self) -> int:
        return self._last_seq

    def apply(self, items: Batch) -> None:
        start = self._last_seq
        fresh = [item for item in items if item[0] > start]
        if not fresh:
            return
        last = fresh[-1][0]
        self._write(Rows.collect(fresh, self.skip), last)
        self._last_seq = last

    def _write(self, rows: Rows, last_seq: int) -> None:
        """Store ``rows`` and ``last_seq`` in one transaction (or raise having written nothing)."""
        raise NotImplementedError

    def reset(self) -> None:
        """Empty every table (``ceres rebuild --from-scratch``)."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError
