"""Contract positions at a live venue as Ceres records them (engine.live_positions): opening
fills build one position per side (entry cost, deal id = the opening order), a close is
refused beyond what the position holds less other close orders, close fills realize PnL and
shrink the position, an emptied position ends, a cancelled close frees its volume; every
change is a POSITION event; the harness checks consistency and a snapshot round trip."""

from __future__ import annotations

import pytest

from ceres.domain import commands as C
from ceres.domain.enums import ReportKind
from ceres.domain.errors import ErrorCode
from ceres.domain.events import PositionEvent

# tick 0.1 USDT, lot 0.001 BTC (contract value 1 BTC); amounts in USDT minor units (8 decimals)
PERP = C.DefineInstrument("BINANCE", "BTC/USDT:USDT", "BTC", "USDT", "0.1", "0.001", "0.1", "0.001", "0.0002",
                          "0.0004", 8, 8, kind=3, contract_value="1", max_lever=100, maint_margin="0.004")
USDT = 100_000_000
BUY, SELL, OPEN, CLOSE = 1, 2, 1, 2


def place(h, side: int, fdir: int, lots: int, price: int, lever: int = 10, deal_id: int = 0) -> int:
    return h.apply(C.Place("alice", "BINANCE", "BTC/USDT:USDT", side, 1, price, lots, future_dir=fdir, lever=lever,
                           deal_id=deal_id))


def fill(h, oid: int, tid: str, lots: int, price: int, fee: int = 0) -> None:
    h.apply(C.VenueReport("BINANCE", oid, int(ReportKind.FILL), venue_tid=tid, lots=lots, price=price, fee=fee))


@pytest.fixture
def perp(h):
    h.apply(PERP)
    h.eng.take_events()
    return h


def position(h, side: int):
    return h.eng.live_positions.get(("alice", "BINANCE", "BTC/USDT:USDT", side))


def test_a_long_opened_in_two_fills_then_closed_in_part(perp) -> None:
    h = perp
    opening = place(h, BUY, OPEN, 10, 300_000)  # 0.01 BTC at 30000, lever 10
    fill(h, opening, "t1", 4, 300_000, fee=4_800_000)  # 0.004 at 30000 (fee 0.048 USDT)
    fill(h, opening, "t2", 6, 301_000)
    pos = position(h, BUY)
    assert (pos.deal_id, pos.vol, pos.cost, pos.lever) == (opening, 10, 120 * USDT + 180_6 * USDT // 10, 10)
    assert pos.margin == pos.cost // 10
    events = [e for e in h.eng.take_events() if isinstance(e, PositionEvent)]
    assert [(e.kind, e.deal_id, e.vol, e.margin) for e in events] == [
        ("POSITION", opening, 4, 12 * USDT), ("POSITION", opening, 10, pos.margin)]

    assert h.reject(C.Place("alice", "BINANCE", "BTC/USDT:USDT", SELL, 1, 310_000, 11, future_dir=CLOSE)).error \
        == ErrorCode.CLOSE_EXCEEDS_POSITION
    closing = place(h, SELL, CLOSE, 5, 310_000)  # half of it at 31000
    assert position(h, BUY).closing == 5
    assert h.reject(C.Place("alice", "BINANCE", "BTC/USDT:USDT", SELL, 1, 310_000, 6, future_dir=CLOSE)).error \
        == ErrorCode.CLOSE_EXCEEDS_POSITION  # 5 already promised to the first close
    cost_before = pos.cost
    fill(h, closing, "t3", 5, 310_000)
    pos = position(h, BUY)
    share = cost_before * 5 // 10
    assert (pos.vol, pos.cost, pos.closing) == (5, cost_before - share, 0)
    assert pos.realized == 155 * USDT - share  # 0.005 x 31000 less the entry share


def test_a_short_closed_whole_ends_and_a_cancelled_close_frees_its_volume(perp) -> None:
    h = perp
    opening = place(h, SELL, OPEN, 3, 300_000, lever=5)
    fill(h, opening, "t1", 3, 300_000)
    first = place(h, BUY, CLOSE, 2, 290_000, deal_id=opening)
    h.apply(C.Cancel("alice", (first,)))
    h.apply(C.VenueReport("BINANCE", first, int(ReportKind.CANCELLED)))
    assert position(h, SELL).closing == 0
    closing = place(h, BUY, CLOSE, 3, 290_000, deal_id=opening)
    fill(h, closing, "t2", 3, 290_000)
    assert position(h, SELL) is None  # closed: the position ended
    assert h.reject(C.Place("alice", "BINANCE", "BTC/USDT:USDT", BUY, 1, 290_000, 1, future_dir=CLOSE)).error == \
        ErrorCode.POSITION_NOT_FOUND


def test_refusals(perp) -> None:
    h = perp
    for cmd, code in [
        (C.Place("alice", "BINANCE", "BTC/USDT:USDT", BUY, 1, 300_000, 1), ErrorCode.INVALID_VALUE),  # no open/close
        (C.Place("alice", "BINANCE", "BTC/USDT:USDT", BUY, 1, 300_000, 1, future_dir=OPEN, lever=101),
         ErrorCode.LEVER_OUT_OF_RANGE),
        (C.Place("alice", "BINANCE", "BTC/USDT:USDT", BUY, 1, 300_000, 1, future_dir=OPEN, profit=310_000),
         ErrorCode.INVALID_VALUE),
        (C.Place("alice", "BINANCE", "BTC/USDT:USDT", SELL, 1, 300_000, 1, future_dir=CLOSE, deal_id=7),
         ErrorCode.POSITION_NOT_FOUND),
    ]:
        assert h.reject(cmd).error == code


def test_snapshot_keeps_positions_and_pending_closes(perp) -> None:
    h = perp
    opening = place(h, BUY, OPEN, 4, 300_000)
    fill(h, opening, "t1", 4, 300_000)
    place(h, SELL, CLOSE, 3, 320_000)
    assert position(h, BUY).closing == 3  # verify() at teardown round-trips it through a snapshot
