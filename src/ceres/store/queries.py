"""The read side both history backends share: every query of the
:class:`~ceres.pipeline.history.HistoryReader` port in SQL that SQLite and PostgreSQL both
speak, and the range rules of public trades and candles (API.md section 5).

A backend subclasses :class:`HistoryQueries` with its placeholder (``mark``) and
``_rows``, which runs one SELECT and returns every row. Orderings are total (ids, or a
time that is unique in its key), so both backends answer row for row alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ceres.pipeline.history import Bar, FillRow, OrderRow, TradeRow
from ceres.store import notices
from ceres.store.rows import FILL_COLS, ORDER_COLS, fill_row, order_row


class HistoryQueries:
    mark = "?"

    def _rows(self, sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def recent_notices(self, retention: int, instruments: notices.Instruments) -> dict[str, list[notices.Notice]]:
        """The newest ``retention`` notices of every product, oldest first (19003 ``since``)."""
        return notices.recent(self._rows, retention, instruments, self.mark)

    def orders_by_ids(self, product: str, ids: list[int]) -> dict[int, OrderRow]:
        if not ids:
            return {}
        m = self.mark
        marks = ",".join([m] * len(ids))
        rows = self._rows(f"SELECT {ORDER_COLS} FROM orders WHERE product={m} AND oid IN ({marks})", (product, *ids))
        return {r[0]: order_row(r) for r in rows}

    def order_owner(self, oid: int) -> str | None:
        rows = self._rows(f"SELECT product FROM orders WHERE oid={self.mark}", (oid,))
        return rows[0][0] if rows else None

    def recent_orders(self, product: str, *, exchange: str | None = None, contract: str | None = None,
                      status: int | None = None, limit: int = 100) -> list[OrderRow]:
        m = self.mark
        sql = f"SELECT {ORDER_COLS} FROM orders WHERE product={m}"
        args: list[Any] = [product]
        for col, val in (("exchange", exchange), ("contract", contract), ("status", status)):
            if val is not None:
                sql += f" AND {col}={m}"
                args.append(val)
        sql += f" ORDER BY oid DESC LIMIT {m}"
        args.append(limit)
        return [order_row(r) for r in self._rows(sql, args)]

    def fills(self, product: str, exchange: str, contract: str, count: int) -> list[FillRow]:
        m = self.mark
        rows = self._rows(f"SELECT {FILL_COLS} FROM fills WHERE product={m} AND exchange={m} AND contract={m} "
                          f"ORDER BY tid DESC, oid DESC LIMIT {m}", (product, exchange, contract, count))
        return [fill_row(r) for r in rows]

    def _ranged(self, select: str, args: list[Any], order: str, begin: int | None, end: int | None,
                size: int) -> list[tuple[Any, ...]]:
        """Rows of ``select`` (filtered by ``args``) in time order (``order``, a column that
        increases with ``time_ms`` and breaks its ties):
        both bounds -> all in range (up to ``size``); ``begin`` -> the first ``size`` from it;
        otherwise the last ``size`` up to ``end`` (API.md section 5)."""
        m = self.mark
        if begin is not None and end is not None:
            return self._rows(select + f" AND time_ms>={m} AND time_ms<={m} ORDER BY {order} LIMIT {m}",
                              (*args, begin, end, size))
        if begin is not None:
            return self._rows(select + f" AND time_ms>={m} ORDER BY {order} LIMIT {m}", (*args, begin, size))
        if end is not None:
            select += f" AND time_ms<={m}"
            args = [*args, end]
        rows = self._rows(select + f" ORDER BY {order} DESC LIMIT {m}", (*args, size))
        rows.reverse()
        return rows

    def trades(self, exchange: str, contract: str, begin: int | None, end: int | None,
               size: int) -> list[TradeRow]:
        """Public trades in time order (range rules of ``_ranged``)."""
        m = self.mark
        rows = self._ranged(f"SELECT tid, time_ms, price, lots, taker_side FROM trades "
                            f"WHERE exchange={m} AND contract={m}", [exchange, contract], "tid", begin, end, size)
        return [TradeRow(*r) for r in rows]

    def candles(self, exchange: str, contract: str, duration: int, begin: int | None, end: int | None,
                size: int) -> list[Bar]:
        """Bars ``(time, open, high, low, close, volume)`` in time order (range rules of
        ``_ranged``)."""
        m = self.mark
        return self._ranged(f"SELECT time_ms, open, high, low, close, volume FROM candles "
                            f"WHERE exchange={m} AND contract={m} AND duration={m}",
                            [exchange, contract, duration], "time_ms", begin, end, size)

    def last_seq(self) -> int:
        rows = self._rows("SELECT value FROM meta WHERE key='last_seq'", ())
        return int(rows[0][0]) if rows else 0

    def close(self) -> None:
        raise NotImplementedError
