"""The history store in PostgreSQL with the real server (issue 12, item 4):

* PostgreSQL history equals SQLite history for the same journal: a server on the file
  journal and SQLite takes spot and contract orders (fills, partial fills, cancels, market
  orders) over REST; stopped, its journal is rebuilt into PostgreSQL by ``ceres rebuild``,
  and every row of orders, fills, trades and candles, the last sequence number and every
  notice are the same in both stores;
* a server started with ``[store] backend = "postgres"`` answers the history queries (orders
  by id and the newest, fills, public trades, candles) over its sockets from PostgreSQL, also
  after a restart, when nothing is left in memory but the engine's state.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from typing import Any

from ceres.config import load_config
from ceres.store.sqlite import SqliteReader
from tests.integration.api_helpers import Rest, add_key, demo_rest, make_product
from tests.integration.test_cli import ceres
from tests.integration.test_contracts_api import contract_product, order
from tests.serverproc import ServerProcess
from tests.store_pg.stores import PgSchema, dump_pg, dump_sqlite

X, SPOT, PERP = "TEST", "BTC/USDT", "BTCUSDT_PERP"
COMPARED = {"orders": "oid", "fills": "tid, oid", "trades": "tid", "candles": "exchange, contract, duration, time_ms",
            "meta": "key"}  # notice groups are cut by the writer's grouping: their notices are compared instead


def spot(side: str, price: str | None, vol: str, **extra: Any) -> dict[str, Any]:
    body = {"exchange": X, "contract": SPOT, "price_type": "limit" if price else "market", "entrust_bs": side,
            "entrust_vol": vol, **extra}
    if price:
        body["entrust_price"] = price
    return body


def trade(srv: ServerProcess) -> tuple[Rest, list[str]]:
    """Spot and contract business between the demo product and two others; returns the demo
    client and its order ids."""
    demo = demo_rest(srv)
    cp = make_product(srv, "cp", {"BTC": "10", "USDT": "100000"})
    fut = contract_product(srv, "fut", {"USDT": "100000"})
    oids = [demo.place(**spot("buy", f"{30000 + i}", "0.01", client_oid=f"d{i}"))["system_oid"] for i in range(4)]
    cp.place(**spot("sell", "30001", "0.025"))          # fills 30003 and 30002, half of 30001
    demo.cancel(f"{oids[0]},{oids[1]}")                 # cancelled; part-filled then cancelled
    cp.place(**spot("buy", "29000", "0.5"))
    cp.place(**spot("sell", "30500", "0.01"))
    oids.append(demo.place(**spot("sell", None, "0.001"))["system_oid"])        # market sell: cp's bid
    oids.append(demo.place(**spot("sell", "29000", "0.002"))["system_oid"])
    oids.append(demo.place(**spot("buy", None, "100"))["system_oid"])           # market buy, 100 USDT: cp's ask
    fut.place(**order(PERP, "sell", "30000", "6", "open", lever="5"))
    oids.append(demo.place(**order(PERP, "buy", "30000", "6", "open", lever="10", client_oid="L1"))["system_oid"])
    oids.append(demo.place(**order(PERP, "buy", "29950", "3", "open", lever="10"))["system_oid"])
    demo.cancel(oids[-1])
    oids.append(demo.place(**order(PERP, "sell", "30000", "4", "close", close_rule="time"))["system_oid"])
    fut.place(**order(PERP, "buy", "30000", "4", "open", lever="5"))  # takes the close
    return demo, oids


def notices(reader: Any) -> dict[str, list[Any]]:
    instruments = {(i.exchange, i.contract): i for i in load_config(env={}).build_instruments()}
    try:
        return reader.recent_notices(10**6, instruments)
    finally:
        reader.close()


def test_postgres_history_equals_sqlite_history_for_the_same_journal(tmp_path, pg: PgSchema) -> None:
    from ceres.store.postgres import PostgresReader

    data = tmp_path / "data"
    srv = ServerProcess(data, extra_args=("--no-simulator",)).start()
    try:
        trade(srv)
    finally:
        assert srv.stop() == 0
    config = tmp_path / "pg.toml"
    config.write_text(pg.config())
    out = ceres("rebuild", str(data), "--config", str(config), "--from-scratch").stdout
    assert "(was 0)" in out and "not in the journal" not in out, out
    sqlite_rows, pg_rows = dump_sqlite(data / "ceres.db", COMPARED), dump_pg(pg, COMPARED)
    assert {t: len(rows) for t, rows in pg_rows.items()} == {t: len(rows) for t, rows in sqlite_rows.items()}
    assert all(sqlite_rows[t] for t in COMPARED), sqlite_rows  # something of everything
    for table in COMPARED:
        assert pg_rows[table] == sqlite_rows[table], table
    stored = notices(SqliteReader(data / "ceres.db"))
    assert set(stored) == {"demo", "cp", "fut"} and sum(map(len, stored.values())) > 30
    assert notices(PostgresReader(pg.dsn, pg.schema)) == stored
    # rebuilding again (not from scratch) finds nothing to add
    ceres("rebuild", str(data), "--config", str(config))
    assert dump_pg(pg, COMPARED) == pg_rows


def market(srv: ServerProcess, name: str, **params: Any) -> Any:
    url = f"{srv.http_url}/api/v1/market/{name}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def history_answers(srv: ServerProcess, oids: list[str]) -> dict[str, Any]:
    demo = demo_rest(srv)
    return {"by_id": demo.orders(system_oid=",".join(oids)), "newest": demo.orders(),
            "spot_fills": demo.fills(X, SPOT, 50), "perp_fills": demo.fills(X, PERP, 50),
            "trades": market(srv, "trade", exchange=X, contract=SPOT, size=100)["detail"],
            "candles": market(srv, "candle", exchange=X, contract=PERP, duration="1m", size=10)}


def test_a_server_on_postgres_answers_history_queries_from_it(tmp_path, pg: PgSchema) -> None:
    srv = ServerProcess(tmp_path / "data", config=pg.config(), extra_args=("--no-simulator",)).start()
    try:
        _, oids = trade(srv)
        answers = history_answers(srv, oids)
    finally:
        assert srv.stop() == 0
    assert not (tmp_path / "data" / "ceres.db").exists()
    stored = dump_pg(pg)
    demo_orders = [r for r in stored["orders"] if r[1] == "demo"]
    assert sorted(o["system_oid"] for o in answers["by_id"]) == sorted(oids)
    assert {o["system_oid"] for o in answers["newest"]} == {str(r[0]) for r in demo_orders}
    statuses = {o["system_oid"]: o["status"] for o in answers["by_id"]}
    assert [statuses[oid] for oid in oids[:4]] == [15, 14, 5, 5]  # cancelled, part-filled and cancelled, filled
    assert all(statuses[oid] == 5 for oid in oids[4:7]), statuses
    assert len(answers["spot_fills"]) == sum(1 for r in stored["fills"] if r[2] == "demo" and r[4] == SPOT) > 3
    assert len(answers["perp_fills"]) == sum(1 for r in stored["fills"] if r[2] == "demo" and r[4] == PERP) > 1
    assert [(t["time"], t["side"]) for t in answers["trades"]] == [
        (str(r[3]), "b" if r[6] == 1 else "s") for r in stored["trades"] if r[2] == SPOT]
    assert answers["candles"]["detail"], answers["candles"]
    # restarted: orders, fills and the tape come from PostgreSQL alone
    srv = ServerProcess(tmp_path / "data", config=pg.config(), extra_args=("--no-simulator",)).start()
    try:
        assert history_answers(srv, oids) == answers
        # its connections killed (a database restart, say): the writer retries, the reader reconnects
        cp, demo = add_key(srv, "cp", "read,trade"), demo_rest(srv)
        cp.place(**spot("sell", "30000", "0.003"))  # the writer connects (lazily) to store it
        deadline = time.monotonic() + 10
        while pg.connections() < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert pg.terminate_all() == 2
        late = demo.place(**spot("buy", "30000", "0.003"))["system_oid"]
        deadline = time.monotonic() + 15
        fills = {"exchange": X, "contract": SPOT, "count": 50}
        while (got := demo.call("GET", "trade/trans", fills)[1])["code"] != "200":
            assert got["code"] == "50002" and time.monotonic() < deadline, got  # history behind: retried
            time.sleep(0.2)
        assert len(got["data"]) == len(answers["spot_fills"]) + 1 and got["data"][0]["system_oid"] == late
        assert demo.order(late)["status"] == 5
        assert "history store write failed" in srv.logs() and "history store writes again" in srv.logs()
    finally:
        assert srv.stop() == 0


def test_an_unreachable_store_is_named_and_nothing_starts(tmp_path) -> None:
    config = tmp_path / "down.toml"
    config.write_text('[store]\nbackend = "postgres"\ndsn = "postgresql://ceres:s3cret@127.0.0.1:1/ceres"\n')
    data = tmp_path / "data"
    for args in (("serve", "--data-dir", str(data), "--no-simulator", "--http-port", "0", "--trade-ws-port", "0",
                  "--notify-ws-port", "0", "--market-ws-port", "0", "--admin-port", "0"),
                 ("rebuild", str(data)), ("repair", str(data), "--truncate-after", "0", "--yes")):
        run = ceres(*args, "--config", str(config), check=False)
        assert run.returncode == 2, (args, run.stdout, run.stderr)
        assert "history store: cannot connect to PostgreSQL" in run.stderr and "port 1 failed" in run.stderr, args
        assert "s3cret" not in run.stdout + run.stderr and "Traceback" not in run.stderr
