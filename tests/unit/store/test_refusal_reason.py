"""Why a live venue refused an order (status 6) survives everywhere the order is shown: the
19003 notice (``errorCode``/``errorMessage``), the notice log a reconnecting client replays,
and the history store (``error_code``/``error_message`` on the order object) — including a
store created before the column existed. Orders that were not refused carry none of it."""

from __future__ import annotations

import sqlite3
from datetime import UTC

from ceres.domain import commands as C
from ceres.domain.enums import ReportKind
from ceres.domain.events import OrderEvent
from ceres.gateway.notices import order_notice
from ceres.gateway.views import order_fields
from ceres.store import notices
from ceres.store.sqlite import SqliteProjection, SqliteReader
from engine_helpers import BINANCE_SPOT as BINANCE
from engine_helpers import btc_usdt_harness

REASON = "41001 insufficient balance (InsufficientFunds)"


def refused_and_accepted(h) -> tuple[list, int, int]:
    h.apply(BINANCE)
    refused = h.apply(C.Place("alice", "BINANCE", "BTC/USDT", 1, 1, 3_000_000, 100))
    accepted = h.apply(C.Place("alice", "BINANCE", "BTC/USDT", 1, 1, 3_000_000, 100))
    h.apply(C.VenueReport("BINANCE", refused, int(ReportKind.REJECTED), reason=REASON))
    h.apply(C.VenueReport("BINANCE", accepted, int(ReportKind.ACCEPTED), venue_oid="7"))
    return [(h.seq, h.eng.take_events())], refused, accepted


def test_the_notice_and_the_notice_log_carry_the_reason() -> None:
    h = btc_usdt_harness()
    items, refused, accepted = refused_and_accepted(h)
    events = {ev.spec.oid: ev for _, evs in items for ev in evs if isinstance(ev, OrderEvent)}
    n = order_notice(events[refused], UTC)
    assert (n["entrustStatus"], n["errorCode"], n["errorMessage"]) == (
        "FAILURE", "41001", "insufficient balance (InsufficientFunds)")
    assert "errorCode" not in order_notice(events[accepted], UTC)
    back = notices.decode(notices.encode(events[refused]), h.eng.live_instruments)
    assert back == events[refused] and back.reason == REASON
    plain = notices.encode(events[accepted])
    assert notices.decode(plain, h.eng.live_instruments) == events[accepted]
    rows = notices.NoticeLog.rows([events[accepted], events[refused]], frozenset())
    assert rows[0][1] == events[refused].nseq  # the group's newest nseq, not the reason after it


def test_the_history_store_keeps_the_reason_also_when_created_before_it(tmp_path) -> None:
    path = tmp_path / "p.sqlite"
    old = sqlite3.connect(path)  # the orders table as a store from before the column had it
    old.execute("CREATE TABLE orders (oid INTEGER PRIMARY KEY, product TEXT NOT NULL, exchange TEXT NOT NULL, "
                "contract TEXT NOT NULL, side INTEGER NOT NULL, ptype INTEGER NOT NULL, fdir INTEGER NOT NULL, "
                "price INTEGER NOT NULL, vol TEXT NOT NULL, client_oid TEXT NOT NULL, time_ms INTEGER NOT NULL, "
                "lever INTEGER NOT NULL, profit INTEGER NOT NULL, stop INTEGER NOT NULL, status INTEGER NOT NULL, "
                "filled INTEGER NOT NULL, dealt TEXT NOT NULL, commission TEXT NOT NULL, seq INTEGER NOT NULL)")
    old.commit()
    old.close()
    h = btc_usdt_harness()
    items, refused, accepted = refused_and_accepted(h)
    projection = SqliteProjection(path)
    projection.apply(items)
    projection.close()
    reader = SqliteReader(path)
    try:
        rows = reader.orders_by_ids("alice", [refused, accepted])
    finally:
        reader.close()
    assert (rows[refused].status, rows[refused].reason) == (6, REASON)
    assert rows[accepted].reason == ""
    inst = h.eng.live_instruments[("BINANCE", "BTC/USDT")]
    r = rows[refused]
    shown = order_fields(inst, r.oid, r.client_oid, r.side, r.ptype, r.fdir, r.price, r.vol, r.time_ms, r.lever,
                         r.profit, r.stop, r.status, r.filled, r.dealt, r.commission, UTC, r.reason)
    assert (shown["status"], shown["error_code"], shown["error_message"]) == (
        6, "41001", "insufficient balance (InsufficientFunds)")
