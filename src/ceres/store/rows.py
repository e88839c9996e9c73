"""What every history backend writes and reads back, independent of the database: the rows
one ``apply`` collects from engine events, the candles folded from its trades, and the
decoding of stored rows into the port's integer rows.

Row tuples are in the column order of the tables (``docs/history-store.md``); amounts that
can pass 64 bits (order ``vol``, ``dealt``, ``commission``, fill ``fee``) travel as decimal
integer text, which SQLite keeps as text and PostgreSQL parses into NUMERIC; both read back
as Python ints through :func:`order_row` and :func:`fill_row`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from ceres.domain.candles import DURATIONS, fold_trades
from ceres.domain.events import FillEvent, OrderEvent, PositionEvent, TradeEvent
from ceres.pipeline.dispatch import Dispatcher
from ceres.pipeline.history import Batch, FillRow, OrderRow
from ceres.store import notices

INT, BIG, TEXT, BLOB = "int", "big", "text", "blob"  # BIG: an integer that may pass 64 bits


class Table(NamedTuple):
    """A table of the store: ``(name, kind)`` columns in row order, the primary key, a
    secondary index ``(name, columns)``, and column defaults (for columns added to older
    stores)."""

    name: str
    columns: tuple[tuple[str, str], ...]
    key: str
    secondary: tuple[str, str] | None = None
    defaults: tuple[tuple[str, str], ...] = ()


TABLES = (
    Table("meta", (("key", TEXT), ("value", INT)), "key"),
    Table("orders", (("oid", INT), ("product", TEXT), ("exchange", TEXT), ("contract", TEXT), ("side", INT),
                     ("ptype", INT), ("fdir", INT), ("price", INT), ("vol", BIG), ("client_oid", TEXT),
                     ("time_ms", INT), ("lever", INT), ("profit", INT), ("stop", INT), ("status", INT),
                     ("filled", INT), ("dealt", BIG), ("commission", BIG), ("seq", INT), ("reason", TEXT)),
          "oid", ("orders_product", "product, oid DESC"), (("reason", "''"),)),
    Table("fills", (("tid", INT), ("oid", INT), ("product", TEXT), ("exchange", TEXT), ("contract", TEXT),
                    ("side", INT), ("ptype", INT), ("fdir", INT), ("client_oid", TEXT), ("lots", INT),
                    ("price", INT), ("time_ms", INT), ("fee", BIG), ("seq", INT)),
          "tid, oid", ("fills_product", "product, exchange, contract, tid DESC")),
    Table("trades", (("tid", INT), ("exchange", TEXT), ("contract", TEXT), ("time_ms", INT), ("price", INT),
                     ("lots", INT), ("taker_side", INT), ("seq", INT)),
          "tid", ("trades_time", "exchange, contract, time_ms")),
    Table("candles", (("exchange", TEXT), ("contract", TEXT), ("duration", INT), ("time_ms", INT), ("open", INT),
                      ("high", INT), ("low", INT), ("close", INT), ("volume", INT)),
          "exchange, contract, duration, time_ms"),
    Table("notice_groups", (("product", TEXT), ("last_nseq", INT), ("data", BLOB)), "product, last_nseq"),
)
"""Every table both backends keep, in both the same."""


def create_sql(types: Mapping[str, str], options: Mapping[str, str] | None = None) -> str:
    """The tables and indexes (``IF NOT EXISTS``) in a backend's column ``types`` per kind;
    ``options`` follow a table's definition (SQLite's ``WITHOUT ROWID``)."""
    out = []
    for t in TABLES:
        defaults = dict(t.defaults)
        cols = ",\n    ".join(f"{c} {types[kind]} NOT NULL" + (f" DEFAULT {defaults[c]}" if c in defaults else "")
                              for c, kind in t.columns)
        out.append(f"CREATE TABLE IF NOT EXISTS {t.name} (\n    {cols},\n    PRIMARY KEY ({t.key})\n)"
                   f"{(options or {}).get(t.name, '')};")
        if t.secondary is not None:
            out.append(f"CREATE INDEX IF NOT EXISTS {t.secondary[0]} ON {t.name} ({t.secondary[1]});")
    return "\n".join(out)


ORDER_COLS = ("oid, product, exchange, contract, side, ptype, fdir, price, vol, client_oid, time_ms, "
              "lever, profit, stop, status, filled, dealt, commission, reason")
FILL_COLS = "tid, oid, exchange, contract, side, ptype, fdir, client_oid, lots, price, time_ms, fee"
ORDER_UPDATES = """status = excluded.status, filled = excluded.filled, dealt = excluded.dealt,
    commission = excluded.commission, seq = excluded.seq, reason = excluded.reason,
    price = excluded.price, vol = excluded.vol"""
"""What a later event of a stored order changes (its spec only when amended)."""


class Rows:
    """The rows one ``apply`` writes, collected from its events (the simulator's orders
    and fills, ``skip``, are left out; its trades are public and kept). ``orders`` holds
    one row per order (its newest event); ``tape`` the trades per market, for candles."""

    def __init__(self, skip: frozenset[str]) -> None:
        self.skip = skip
        self.orders: dict[int, tuple[Any, ...]] = {}
        self.fills: list[tuple[Any, ...]] = []
        self.trades: list[tuple[Any, ...]] = []
        self.tape: dict[tuple[str, str], list[tuple[int, int, int]]] = {}
        self.notices: list[tuple[str, int, bytes]] = []

    @classmethod
    def collect(cls, items: Batch, skip: frozenset[str]) -> Rows:
        rows = cls(skip)
        Dispatcher([((OrderEvent,), rows.on_orders),
                    ((TradeEvent,), rows.on_trades),
                    ((FillEvent,), rows.on_fills),
                    ((OrderEvent, PositionEvent), rows.on_notices)]).dispatch(items)
        return rows

    def on_notices(self, events: list[notices.Notice]) -> None:
        self.notices = notices.NoticeLog.rows(events, self.skip)

    def on_orders(self, events: list[OrderEvent]) -> None:
        skip, orders = self.skip, self.orders
        for ev in events:
            o = ev.spec
            if skip and o.product in skip:
                continue
            inst = o.inst
            orders[o.oid] = (o.oid, o.product, inst.exchange, inst.contract, o.side, o.ptype, o.fdir, o.price,
                             str(o.vol), o.client_oid, o.time, o.lever, o.profit, o.stop, ev.status, ev.filled,
                             str(ev.dealt), str(ev.commission), ev.seq, ev.reason)

    def on_trades(self, events: list[TradeEvent]) -> None:
        skip = self.skip
        for ev in events:
            inst = ev.inst
            for o, fee in ((ev.maker, ev.maker_fee), (ev.taker, ev.taker_fee)):
                if skip and o.product in skip:
                    continue
                self.fills.append((ev.tid, o.oid, o.product, inst.exchange, inst.contract, o.side, o.ptype,
                                   o.fdir, o.client_oid, ev.lots, ev.price, ev.time, str(fee), ev.seq))
            self.trades.append((ev.tid, inst.exchange, inst.contract, ev.time, ev.price, ev.lots, ev.taker_side,
                                ev.seq))
            self.tape.setdefault((inst.exchange, inst.contract), []).append((ev.time, ev.price, ev.lots))

    def on_fills(self, events: list[FillEvent]) -> None:
        """Fills at live venues: our side only (nothing on the public tape)."""
        for ev in events:
            o, inst = ev.spec, ev.spec.inst
            self.fills.append((ev.tid, o.oid, o.product, inst.exchange, inst.contract, o.side, o.ptype, o.fdir,
                               o.client_oid, ev.lots, ev.price, ev.time, str(ev.fee), ev.seq))

    def candles(self) -> list[tuple[Any, ...]]:
        """``(exchange, contract, duration, time, open, high, low, close, volume)`` of every
        duration, folded from this group's trades: at most one row per key (the sequencer's
        time never goes back), to be upserted: open kept, high/low widened, close replaced,
        volume added."""
        return [(exchange, contract, duration, *bar.row())
                for (exchange, contract), ticks in self.tape.items()
                for duration in DURATIONS.values()
                for bar in fold_trades(ticks, duration)]


class TradePruning:
    """When to drop public trades older than ``retention_ms`` before the newest one: at most
    once a simulated hour, so a server left running keeps a bounded store."""

    def __init__(self, retention_ms: int) -> None:
        self.retention_ms = retention_ms
        self._pruned_at = 0

    def cutoff(self, newest_ms: int) -> int | None:
        """Trades with ``time_ms`` below the returned time are to be deleted now (None: not yet)."""
        if newest_ms - self._pruned_at < 3_600_000:
            return None
        self._pruned_at = newest_ms
        return newest_ms - self.retention_ms


def order_row(r: tuple[Any, ...]) -> OrderRow:
    """A stored order (columns of ``ORDER_COLS``): ``vol``, ``dealt`` and ``commission`` are
    integer text or NUMERIC (they may pass 64 bits)."""
    return OrderRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], int(r[8]), r[9], r[10], r[11], r[12], r[13],
                    r[14], r[15], int(r[16]), int(r[17]), r[18])


def fill_row(r: tuple[Any, ...]) -> FillRow:
    """A stored fill (columns of ``FILL_COLS``)."""
    return FillRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], int(r[11]))
