"""The history store's contract, passed by both backends (SQLite and PostgreSQL) with the same
engine events: every reader answer equals what the events say (a reference computed here
from the events, folded in one go), however the events were grouped into ``apply`` calls;
replaying changes nothing; old trades are pruned while candles stay; ``reset`` empties the
store; amounts past 64 bits come back as ints. PostgreSQL only: a write that fails (its
connection killed while idle, or while it waits inside the transaction) raises, leaves
nothing half-written, and the next attempt writes the group whole on a new connection; the
reader replaces a killed connection.

Events come from a real engine (``contract_helpers.CHarness``): spot BTC/USDT and the
BTCUSDT_PERP contract, limit, market and cancelled orders, a skipped product (the
simulator's role), trades over several minutes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest

from ceres.domain.candles import DURATIONS, fold_trades
from ceres.domain.enums import OrderStatus
from ceres.domain.events import OrderEvent, PositionEvent, TradeEvent
from ceres.pipeline.history import Batch, FillRow, OrderRow, TradeRow
from ceres.store.sqlite import SqliteProjection, SqliteReader
from contract_helpers import TIME, CHarness, perp
from engine_helpers import BTC, USDT, spot
from tests.store_pg.stores import dump_pg, dump_sqlite

SKIP = "sim"
MIN = 60_000
SPOT, PERP = "BTC/USDT", "BTCUSDT_PERP"
GROUPS = (1, 3, 2, 5, 1, 4, 7, 2, 100)  # how items are cut into apply calls


@dataclass
class Backend:
    name: str
    projection: Callable[..., Any]  # (**settings) -> a projection
    reader: Callable[[], Any]
    dump: Callable[[], dict[str, list[tuple[Any, ...]]]]


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request, tmp_path) -> Backend:
    if request.param == "sqlite":
        path = tmp_path / "history.db"
        return Backend("sqlite", lambda **kw: SqliteProjection(path, **kw), lambda: SqliteReader(path),
                       lambda: dump_sqlite(path))
    from ceres.store.postgres import PostgresProjection, PostgresReader

    pg = request.getfixturevalue("pg")
    return Backend("postgres", lambda **kw: PostgresProjection(pg.dsn, pg.schema, **kw),
                   lambda: PostgresReader(pg.dsn, pg.schema), lambda: dump_pg(pg))


# --- the events -----------------------------------------------------------------------------
class Tape:
    """A harness whose every command's events are kept as a durable item ``(seq, events)``."""

    def __init__(self) -> None:
        self.h = CHarness([spot(), perp()], {"BTC": 8, "USDT": 8}, ("alice", "bob", SKIP))
        for name in ("alice", "bob", SKIP):
            self.h.fund(name, "USDT", 10**7 * USDT)
            self.h.fund(name, "BTC", 100 * BTC)
            self.h.fund_c(name, "USDT", 10**6 * USDT)
        self.items: Batch = []

    def __call__(self, result: Any) -> Any:
        self.items.append((self.h.seq, self.h.eng.take_events()))
        return result

    def later(self, ms: int) -> None:
        self.h.now += ms


def trading() -> Tape:
    t = Tape()
    h = t.h
    bids = [t(h.buy("alice", 3_000_000 + i, 1_000 * (i + 1), client_oid=f"a{i}")) for i in range(5)]
    t(h.sell("bob", 3_000_002, 4_000))                 # fills the three best bids
    t(h.cancel("alice", bids[0]))
    t.later(MIN)
    t(h.sell(SKIP, 2_999_000, 1_000))                  # the skipped product's trade is public
    t(h.market_buy("alice", 5 * 10**11))               # budget in quote minor units
    t(h.sell("bob", 3_100_000, 2_000, client_oid="b-rest"))
    t.later(4 * MIN)
    t(h.market_sell("bob", 500))
    t(h.open_long("alice", 300_000, 10, lever=20, profit=310_000, stop=290_000, contract=PERP))
    t(h.open_short("bob", 300_000, 6, lever=5, contract=PERP))
    t.later(MIN)
    t(h.open_short(SKIP, 299_000, 4, contract=PERP))
    t(h.close_long("alice", 299_000, 3, contract=PERP, rule=TIME))  # rests: nothing bids there now
    t(h.open_long("bob", 299_000, 3, contract=PERP))
    t.later(16 * MIN)
    for i in range(6):
        t(h.buy("bob", 3_050_000 - i, 100))
        t(h.sell("alice", 3_050_000 - i, 100))
        t(h.open_long("bob", 299_500 + i, 1, contract=PERP))
        t(h.open_short("alice", 299_500 + i, 1, contract=PERP))
        t.later(7_000 + 60_000 * i)
    return t


def in_groups(items: Batch, sizes: tuple[int, ...] = GROUPS) -> list[Batch]:
    out, i = [], 0
    for n in sizes:
        if i < len(items):
            out.append(items[i:i + n])
            i += n
    return out


def apply_all(projection: Any, items: Batch) -> None:
    for group in in_groups(items):
        projection.apply(group)


# --- the reference: what the events say ----------------------------------------------------
def product_of(ev: OrderEvent | PositionEvent) -> str:
    return ev.product if isinstance(ev, PositionEvent) else ev.spec.product


class Reference:
    def __init__(self, items: Batch) -> None:
        events = [ev for _, evs in items for ev in evs]
        self.orders: dict[int, OrderRow] = {}
        for ev in events:
            if isinstance(ev, OrderEvent) and ev.spec.product != SKIP:
                o = ev.spec
                self.orders[o.oid] = OrderRow(o.oid, o.product, o.inst.exchange, o.inst.contract, o.side, o.ptype,
                                              o.fdir, o.price, o.vol, o.client_oid, o.time, o.lever, o.profit,
                                              o.stop, ev.status, ev.filled, ev.dealt, ev.commission, ev.reason)
        self.trades = [ev for ev in events if isinstance(ev, TradeEvent)]
        self.fills: list[tuple[str, FillRow]] = [
            (o.product, FillRow(ev.tid, o.oid, ev.inst.exchange, ev.inst.contract, o.side, o.ptype, o.fdir,
                                o.client_oid, ev.lots, ev.price, ev.time, fee))
            for ev in self.trades for o, fee in ((ev.maker, ev.maker_fee), (ev.taker, ev.taker_fee))
            if o.product != SKIP]
        self.notices: dict[str, list[OrderEvent | PositionEvent]] = {}
        for ev in events:
            if isinstance(ev, OrderEvent | PositionEvent) and product_of(ev) != SKIP:
                self.notices.setdefault(product_of(ev), []).append(ev)
        self.last_seq = items[-1][0]

    def tape(self, contract: str) -> list[TradeRow]:
        return sorted((TradeRow(ev.tid, ev.time, ev.price, ev.lots, ev.taker_side) for ev in self.trades
                       if ev.inst.contract == contract), key=lambda r: r.tid)

    def bars(self, contract: str, duration: int) -> list[tuple[int, ...]]:
        ticks = [(r.time_ms, r.price, r.lots) for r in self.tape(contract)]
        return [bar.row() for bar in fold_trades(ticks, duration)]


def ranged(rows: list[Any], time_of: Callable[[Any], int], begin: int | None, end: int | None,
           size: int) -> list[Any]:
    """API.md section 5, stated plainly over rows in time order."""
    if begin is not None:
        return [r for r in rows if time_of(r) >= begin and (end is None or time_of(r) <= end)][:size]
    kept = [r for r in rows if end is None or time_of(r) <= end]
    return kept[-size:] if size else []


def ranges(times: list[int]) -> list[tuple[int | None, int | None, int]]:
    """``(begin, end, size)`` cases: no bounds, each bound alone and both, at row times (the
    bounds are inclusive) and between them, with sizes that cut and that do not."""
    times = sorted(times)
    mid, q1, q3 = times[len(times) // 2], times[len(times) // 4], times[3 * len(times) // 4]
    return [(None, None, 3), (None, None, 1000), (q1, None, 2), (q1 + 1, None, 1000), (None, q3, 2),
            (None, q3 - 1, 1000), (q1, q3, 1000), (q1, q3, 1), (mid, mid, 10), (q3 + 10**9, None, 5),
            (None, times[0] - 1, 5), (q1, q3, 0)]


def check_answers(reader: Any, ref: Reference) -> None:
    """Every HistoryReader query against the reference."""
    assert reader.last_seq() == ref.last_seq
    mine = {oid: row for oid, row in ref.orders.items() if row.product == "alice"}
    bob_oid = next(oid for oid, row in ref.orders.items() if row.product == "bob")
    assert reader.orders_by_ids("alice", [*mine, bob_oid, 12345]) == mine
    assert reader.orders_by_ids("alice", []) == {}
    assert reader.order_owner(bob_oid) == "bob"
    assert reader.order_owner(12345) is None
    newest = sorted(mine.values(), key=lambda r: r.oid, reverse=True)
    assert reader.recent_orders("alice") == newest
    assert reader.recent_orders("alice", limit=2) == newest[:2]
    assert reader.recent_orders("alice", contract=PERP) == [r for r in newest if r.contract == PERP]
    assert reader.recent_orders("alice", exchange="TEST", contract=SPOT, status=int(OrderStatus.FILLED)) == [
        r for r in newest if r.contract == SPOT and r.status == OrderStatus.FILLED]
    assert reader.recent_orders("alice", exchange="BINANCE") == []
    assert reader.recent_orders(SKIP) == []
    for product in ("alice", "bob", SKIP):
        for contract in (SPOT, PERP):
            fills = sorted((f for p, f in ref.fills if p == product and f.contract == contract),
                           key=lambda f: (f.tid, f.oid), reverse=True)
            assert reader.fills(product, "TEST", contract, 1000) == fills
            assert reader.fills(product, "TEST", contract, 2) == fills[:2]
    for contract in (SPOT, PERP):
        tape = ref.tape(contract)
        assert len({r.time_ms for r in tape}) > 3
        for begin, end, size in ranges([r.time_ms for r in tape]):
            assert reader.trades("TEST", contract, begin, end, size) == ranged(
                tape, lambda r: r.time_ms, begin, end, size), (contract, begin, end, size)
        for duration in DURATIONS.values():
            bars = ref.bars(contract, duration)
            assert [tuple(b) for b in reader.candles("TEST", contract, duration, None, None, 1000)] == bars
            for begin, end, size in ranges([b[0] for b in bars]):
                assert [tuple(b) for b in reader.candles("TEST", contract, duration, begin, end, size)] == ranged(
                    bars, lambda b: b[0], begin, end, size), (contract, duration, begin, end, size)
    assert reader.trades("TEST", "ETH/USDT", None, None, 10) == []
    instruments = {(i.exchange, i.contract): i for i in (spot(), perp())}
    assert reader.recent_notices(10**6, instruments) == ref.notices
    assert reader.recent_notices(3, instruments) == {p: evs[-3:] for p, evs in ref.notices.items()}


def settings(**kw: Any) -> dict[str, Any]:
    return {"skip_products": frozenset({SKIP}), **kw}


# --- the contract ---------------------------------------------------------------------------
def test_readers_answer_what_the_events_say_and_replay_changes_nothing(backend: Backend) -> None:
    tape = trading()
    ref = Reference(tape.items)
    projection = backend.projection(**settings())
    assert projection.last_seq() == 0
    apply_all(projection, tape.items)
    assert projection.last_seq() == ref.last_seq
    projection.close()
    stored = backend.dump()
    assert len(stored["candles"]) > 2 * len(DURATIONS)  # several bars: groups folded into stored bars
    reader = backend.reader()
    try:
        check_answers(reader, ref)
        again = backend.projection(**settings())  # a restart: last_seq read back from the store
        assert again.last_seq() == ref.last_seq
        again.apply(tape.items)                                     # everything again, in one go
        for group in in_groups(tape.items, (2, 9, 1, 30, 100)):     # and cut otherwise
            again.apply(group)
        again.close()
        assert backend.dump() == stored
        check_answers(reader, ref)
    finally:
        reader.close()


def test_a_group_half_held_is_written_from_where_the_store_stands(backend: Backend) -> None:
    tape = trading()
    half = len(tape.items) // 2
    projection = backend.projection(**settings())
    projection.apply(tape.items[:half])
    projection.apply(tape.items[half - 3:])  # overlaps what the store holds
    projection.close()
    reader = backend.reader()
    try:
        check_answers(reader, Reference(tape.items))
    finally:
        reader.close()


def test_old_trades_are_pruned_and_candles_stay(backend: Backend) -> None:
    tape = trading()
    tape.later(3 * 3_600_000)
    tape(tape.h.buy("bob", 3_000_000, 100))
    tape(tape.h.sell("alice", 3_000_000, 100))
    ref = Reference(tape.items)
    late = ref.tape(SPOT)[-1]
    projection = backend.projection(**settings(trade_retention_ms=3_600_000))
    apply_all(projection, tape.items)
    projection.close()
    reader = backend.reader()
    try:
        assert reader.trades("TEST", SPOT, None, None, 1000) == [late]
        assert reader.trades("TEST", PERP, None, None, 1000) == []
        assert [tuple(b) for b in reader.candles("TEST", SPOT, MIN, None, None, 1000)] == ref.bars(SPOT, MIN)
    finally:
        reader.close()


def test_notices_are_bounded_per_product(backend: Backend) -> None:
    tape = trading()
    ref = Reference(tape.items)
    projection = backend.projection(**settings(notice_retention=6))
    apply_all(projection, tape.items)
    projection.close()
    reader = backend.reader()
    try:
        instruments = {(i.exchange, i.contract): i for i in (spot(), perp())}
        assert reader.recent_notices(6, instruments) == {p: evs[-6:] for p, evs in ref.notices.items()}
    finally:
        reader.close()
    groups = backend.dump()["notice_groups"]
    for product, evs in ref.notices.items():
        kept = sum(len(msgspec.json.decode(data)) for p, _, data in groups if p == product)
        assert 6 <= kept < len(evs), (product, kept)  # pruned, in whole groups


def test_reset_empties_the_store_and_a_replay_fills_it_again(backend: Backend) -> None:
    tape = trading()
    projection = backend.projection(**settings())
    apply_all(projection, tape.items)
    stored = backend.dump()
    projection.reset()
    assert projection.last_seq() == 0
    assert all(rows == [] for rows in backend.dump().values())
    apply_all(projection, tape.items)
    projection.close()
    assert backend.dump() == stored


def test_amounts_past_64_bits_come_back_as_ints(backend: Backend) -> None:
    tape = trading()
    ev = next(e for _, evs in tape.items for e in evs if isinstance(e, OrderEvent) and e.spec.product == "alice")
    big = msgspec.structs.replace(ev, dealt=10**30, commission=-(10**25),
                                  spec=msgspec.structs.replace(ev.spec, vol=2**70), seq=tape.h.seq + 1)
    trade = next(e for _, evs in tape.items for e in evs if isinstance(e, TradeEvent))
    fee = msgspec.structs.replace(trade, maker_fee=-(2**80), taker_fee=3**50, seq=tape.h.seq + 2)
    projection = backend.projection()
    projection.apply([(tape.h.seq + 1, [big]), (tape.h.seq + 2, [fee])])
    projection.close()
    reader = backend.reader()
    try:
        row = reader.orders_by_ids("alice", [ev.spec.oid])[ev.spec.oid]
        assert (row.vol, row.dealt, row.commission) == (2**70, 10**30, -(10**25))
        assert all(type(v) is int for v in (row.vol, row.dealt, row.commission))
        fees = {f.oid: f.fee for f in reader.fills(trade.maker.product, "TEST", trade.inst.contract, 10)
                + reader.fills(trade.taker.product, "TEST", trade.inst.contract, 10)}
        assert fees == {trade.maker.oid: -(2**80), trade.taker.oid: 3**50}
    finally:
        reader.close()


# --- PostgreSQL: failures -------------------------------------------------------------------
def write_the_rest(projection: Any, groups: list[Batch]) -> None:
    """After the first group, a write failed: what the background thread does then, the same
    items again, later."""
    assert projection.last_seq() == groups[0][-1][0]
    for group in groups[1:]:
        projection.apply(group)
    projection.close()


def check_pg(pg: Any, items: Batch) -> None:
    from ceres.store.postgres import PostgresReader

    reader = PostgresReader(pg.dsn, pg.schema)
    try:
        check_answers(reader, Reference(items))
    finally:
        reader.close()


def test_a_write_on_a_killed_connection_raises_and_the_next_one_writes_it_whole(pg) -> None:
    import psycopg

    from ceres.store.postgres import PostgresProjection

    tape = trading()
    groups = in_groups(tape.items)
    projection = PostgresProjection(pg.dsn, pg.schema, **settings())
    projection.apply(groups[0])
    pg.terminate(projection._conn.info.backend_pid)  # the server restarted, say
    with pytest.raises(psycopg.OperationalError):
        projection.apply(groups[1])
    write_the_rest(projection, groups)
    check_pg(pg, tape.items)


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_write_killed_inside_its_transaction_leaves_nothing_behind(pg) -> None:
    import psycopg

    from ceres.store.postgres import PostgresProjection

    tape = trading()
    groups = in_groups(tape.items)
    projection = PostgresProjection(pg.dsn, pg.schema, **settings())
    projection.apply(groups[0])
    before = dump_pg(pg)
    pid = projection._conn.info.backend_pid
    failures: list[BaseException] = []

    def write() -> None:
        try:
            projection.apply(groups[1] + groups[2])
        except BaseException as exc:
            failures.append(exc)

    with psycopg.connect(pg.dsn, options=f"-c search_path={pg.schema}") as blocker:
        blocker.execute("LOCK TABLE meta IN EXCLUSIVE MODE")  # the writer waits at its last statement
        writer = threading.Thread(target=write)
        writer.start()
        wait_until(lambda: pg.admin.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s",
                                            (pid,)).fetchone() == ("Lock",))
        staged = pg.admin.execute(f"SELECT count(*) FROM {pg.schema}.orders").fetchone()[0]
        pg.terminate(pid)
        writer.join(10)
        blocker.rollback()
    assert not writer.is_alive() and len(failures) == 1 and isinstance(failures[0], psycopg.OperationalError)
    assert staged == len(before["orders"])  # not visible while uncommitted, and gone with it
    assert dump_pg(pg) == before
    write_the_rest(projection, groups)
    check_pg(pg, tape.items)


def test_staging_tables_are_left_empty_and_truncated_now_and_then(pg, monkeypatch) -> None:
    from ceres.store import postgres

    monkeypatch.setattr(postgres, "STAGE_TRUNCATE_ROWS", 40)
    tape = trading()
    projection = postgres.PostgresProjection(pg.dsn, pg.schema, **settings())
    files = set()
    for group in in_groups(tape.items):
        projection.apply(group)
        db = projection._conn
        assert [db.execute(f"SELECT count(*) FROM stage_{t}").fetchone()[0] for t in postgres.STAGED] == [0] * 5
        files.add(db.execute("SELECT relfilenode FROM pg_class WHERE oid = 'stage_orders'::regclass").fetchone())
    projection.close()
    assert len(files) > 2  # truncated (a new file) more than once
    check_pg(pg, tape.items)


def test_the_reader_replaces_a_killed_connection(pg) -> None:
    from ceres.store.postgres import PostgresProjection, PostgresReader

    tape = trading()
    projection = PostgresProjection(pg.dsn, pg.schema, **settings())
    apply_all(projection, tape.items)
    projection.close()
    reader = PostgresReader(pg.dsn, pg.schema)
    try:
        first = reader._conn.info.backend_pid
        pg.terminate(first)
        check_answers(reader, Reference(tape.items))
        assert reader._conn.info.backend_pid != first
    finally:
        reader.close()
