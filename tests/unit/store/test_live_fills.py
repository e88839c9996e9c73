"""History of orders at live venues: their order rows and their fills (our side only: a
live fill leaves no public trade or candle behind)."""

from __future__ import annotations

from ceres.domain import commands as C
from ceres.domain.enums import OrderStatus, ReportKind
from ceres.store.sqlite import SqliteProjection, SqliteReader
from engine_helpers import BINANCE_SPOT as BINANCE
from engine_helpers import btc_usdt_harness


def test_live_orders_and_fills_are_in_the_history(tmp_path) -> None:
    h = btc_usdt_harness()
    h.apply(BINANCE)
    oid = h.apply(C.Place("alice", "BINANCE", "BTC/USDT", 1, 1, 3_000_000, 300))
    items = [(h.seq, h.eng.take_events())]
    for cmd in (C.VenueReport("BINANCE", oid, int(ReportKind.ACCEPTED), venue_oid="9"),
                C.VenueReport("BINANCE", oid, int(ReportKind.FILL), venue_tid="t1", lots=100, price=2_999_000, fee=4),
                C.VenueReport("BINANCE", oid, int(ReportKind.FILL), venue_tid="t2", lots=200, price=3_000_000, fee=8)):
        h.apply(cmd)
        items.append((h.seq, h.eng.take_events()))
    projection = SqliteProjection(tmp_path / "p.sqlite")
    projection.apply(items)
    projection.close()
    reader = SqliteReader(tmp_path / "p.sqlite")
    try:
        row = reader.orders_by_ids("alice", [oid])[oid]
        assert (row.status, row.filled, int(row.commission)) == (OrderStatus.FILLED, 300, 12)
        fills = reader.fills("alice", "BINANCE", "BTC/USDT", 10)
        assert sorted((f.oid, f.lots, f.price) for f in fills) == [(oid, 100, 2_999_000), (oid, 200, 3_000_000)]
        assert reader._conn.execute("SELECT count(*) FROM trades").fetchone()[0] == 0  # no public tape
    finally:
        reader.close()
