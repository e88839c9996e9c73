"""Paper mode in the engine (issue 11, item 10): a live venue's orders with Ceres' money. The
venue's spot accounts take transfers only in paper mode; a placement freezes what it can pay
or is refused; each fill (never worse than the limit) pays from the freeze, receives less the
fee at the taker rate in what it receives, and books the other side to the outside market so
the money audit balances; the end releases the rest; leaving paper mode cancels open paper
orders; snapshots carry it all (the harness checks consistency and a snapshot round trip)."""

from __future__ import annotations

from ceres.domain import commands as C
from ceres.domain.enums import AccountType, OrderStatus, ReportKind
from ceres.domain.errors import ErrorCode
from ceres.domain.events import FillEvent, OrderEvent
from ceres.engine.audit import audit
from engine_helpers import SETTLEMENT, SPOT, USDT


def place(h, side: int = 1, vol: int = 1000, price: int = 3_000_000) -> int:
    """``vol`` lots of 0.00001 BTC at ``price`` ticks of 0.01 USDT (default 0.01 BTC at 30000)."""
    return h.apply(C.Place("alice", "BINANCE", "BTC/USDT", side, 1, price, vol))


def fill(h, oid: int, tid: str, lots: int, price: int) -> None:
    h.apply(C.VenueReport("BINANCE", oid, int(ReportKind.FILL), venue_tid=tid, lots=lots, price=price))


def test_transfers_to_a_venue_only_in_paper_mode(h) -> None:
    h.apply(C.Deposit("alice", "USDT", 5_000_000))
    assert h.reject(C.Transfer("alice", "USDT", 1, SETTLEMENT, SPOT, "BINANCE")).error == ErrorCode.UNKNOWN_EXCHANGE
    h.apply(C.SetPaperVenue("BINANCE", True))
    h.apply(C.Transfer("alice", "USDT", 5_000_000, SETTLEMENT, SPOT, "BINANCE"))
    assert h.bal("alice", "USDT", exchange="BINANCE") == (5_000_000, 0)
    assert h.reject(C.Transfer("alice", "USDT", 1, SETTLEMENT, AccountType.CONTRACT, "BINANCE")).error == \
        ErrorCode.UNKNOWN_EXCHANGE  # spot accounts only
    assert h.reject(C.SetPaperVenue("TEST", True)).error == ErrorCode.INVALID_VALUE


def test_a_buy_freezes_pays_its_fills_and_releases_the_rest(paper) -> None:
    h = paper
    oid = place(h)  # 0.01 BTC at 30000: 300 USDT frozen
    assert h.bal("alice", "USDT", exchange="BINANCE") == (600 * USDT, 300 * USDT)
    h.apply(C.VenueReport("BINANCE", oid, int(ReportKind.ACCEPTED), venue_oid="paper-1"))
    fill(h, oid, "p1", 400, 2_990_000)  # 0.004 BTC at 29900 (better than the limit)
    # paid 119.6; keeps 0.006 x 30000 = 180 frozen; the 0.4 of price improvement is free again
    assert h.bal("alice", "USDT", exchange="BINANCE") == (60_000_000_000 - 11_960_000_000, 180 * USDT)
    assert h.bal("alice", "BTC", exchange="BINANCE") == (400_000 - 400, 0)  # 0.004 BTC less 0.1%
    assert h.fees("BTC", exchange="BINANCE") == 400
    order = h.eng.live_orders[oid]
    assert (order.status, order.commission) == (OrderStatus.PART_FILLED, 400)
    h.apply(C.Cancel("alice", (oid,)))
    h.apply(C.VenueReport("BINANCE", oid, int(ReportKind.CANCELLED)))
    assert h.bal("alice", "USDT", exchange="BINANCE") == (60_000_000_000 - 11_960_000_000, 0)
    assert h.final_status(oid) == OrderStatus.PART_CANCELED
    a = audit(h.eng)
    assert a["USDT"].ok and a["BTC"].ok and (a["USDT"].outside, a["BTC"].outside) == (-11_960_000_000, 400_000)


def test_a_sell_pays_base_and_receives_quote_less_the_fee(paper) -> None:
    h = paper
    h.apply(C.Deposit("alice", "BTC", 1_000_000))
    h.apply(C.Transfer("alice", "BTC", 1_000_000, SETTLEMENT, SPOT, "BINANCE"))
    oid = place(h, side=2, vol=1000, price=3_000_000)
    assert h.bal("alice", "BTC", exchange="BINANCE") == (1_000_000, 1_000_000)
    events = []
    fill(h, oid, "p1", 1000, 3_010_000)  # all of it at 30100
    events += h.eng.take_events()
    assert h.bal("alice", "BTC", exchange="BINANCE") == (0, 0)
    assert h.bal("alice", "USDT", exchange="BINANCE") == (600 * USDT + 301 * USDT - 30_100_000, 0)
    assert [f.fee for f in events if isinstance(f, FillEvent)] == [30_100_000]
    assert [ev.status for ev in events if isinstance(ev, OrderEvent)][-1] == OrderStatus.FILLED
    assert oid not in h.eng.live_orders and all(a.ok for a in audit(h.eng).values())


def test_refusals_change_nothing(paper) -> None:
    h = paper
    assert h.reject(C.Place("alice", "BINANCE", "BTC/USDT", 1, 1, 3_000_000, 3000)).error == \
        ErrorCode.INSUFFICIENT_BALANCE  # 900 USDT > 600 available
    assert h.reject(C.Place("alice", "BINANCE", "BTC/USDT", 2, 1, 3_000_000, 1)).error == \
        ErrorCode.INSUFFICIENT_BALANCE  # no BTC there
    oid = place(h)
    worse = C.VenueReport("BINANCE", oid, int(ReportKind.FILL), venue_tid="p1", lots=100, price=3_000_001)
    assert h.reject(worse).error == ErrorCode.INVALID_VALUE  # above a buy's limit
    charged = C.VenueReport("BINANCE", oid, int(ReportKind.FILL), venue_tid="p1", lots=100, price=3_000_000, fee=5)
    assert h.reject(charged).error == ErrorCode.INVALID_VALUE  # the fee is Ceres' to charge
    assert h.bal("alice", "USDT", exchange="BINANCE") == (600 * USDT, 300 * USDT)


def test_leaving_paper_mode_cancels_open_paper_orders(paper) -> None:
    h = paper
    oid = place(h)
    h.apply(C.SetPaperVenue("BINANCE", False))
    assert oid not in h.eng.live_orders and h.final_status(oid) == OrderStatus.CANCELED
    assert h.bal("alice", "USDT", exchange="BINANCE") == (600 * USDT, 0)  # kept in the ledger


def test_snapshot_keeps_paper_orders_and_their_freeze(paper) -> None:
    h = paper
    oid = place(h)
    fill(h, oid, "p1", 250, 3_000_000)
    # the harness's verify() (at teardown) round-trips a snapshot: state hash and check() equal
    assert h.eng.live_orders[oid].reserved == 225 * USDT
