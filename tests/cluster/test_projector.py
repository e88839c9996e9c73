"""The projector role and PostgreSQL history in a cluster (issue 12, items 2, 4 and 5): an
engine, a gateway keeping its own SQLite history, a projector writing PostgreSQL as the
journal grows, and a gateway reading its history from PostgreSQL. After spot and contract
business through the first gateway, both gateways answer the same orders and fills, and the
PostgreSQL history equals the SQLite history row for row (the same journal, projected twice)."""

from __future__ import annotations

import shutil
import time

from tests.cluster.cluster_helpers import Cluster, demo_of, health, leader_of
from tests.integration.api_helpers import demo_rest
from tests.integration.test_cli import ceres
from tests.natsproc import NatsNode, free_port
from tests.store_pg.conftest import pg  # noqa: F401  (the fixture: a schema of its own)
from tests.store_pg.stores import PgSchema, dump_pg, dump_sqlite
from tests.store_pg.test_server_history import COMPARED, trade


def test_the_projector_writes_postgres_as_the_journal_grows_and_it_equals_sqlite(tmp_path, pg: PgSchema) -> None:  # noqa: F811
    node = NatsNode(tmp_path / "nats", "n1", free_port()).start()
    cl = Cluster(tmp_path, [node.url], stream="PJ")
    try:
        engine = cl.start("engine", "engine")
        leader_of([engine])
        local = cl.start("gw-sqlite", "gateway")
        projector = cl.start("projector", "projector", config=pg.config())
        shared = cl.start("gw-pg", "gateway", config=pg.config())
        for gw in (local, shared):  # the demo credentials the first leader wrote, for the test's clients
            shutil.copy(engine.data_dir / "demo-credentials.json", gw.data_dir)
        assert demo_of([engine])
        _, oids = trade(local)
        seq = health(engine)["seq"]
        deadline = time.monotonic() + 20
        while health(projector)["projected_seq"] < seq:
            assert time.monotonic() < deadline, health(projector)
            time.sleep(0.05)
        ids = ",".join(oids[:15])
        mine, theirs = demo_rest(local), demo_rest(shared)
        assert theirs.call("GET", "trade/order", {"system_oid": ids}) == mine.call("GET", "trade/order",
                                                                                   {"system_oid": ids})
        fills = {"exchange": "TEST", "contract": "BTC/USDT", "count": "50"}
        assert theirs.call("GET", "trade/trans", fills) == mine.call("GET", "trade/trans", fills)
        local.stop()  # its SQLite store, complete, to compare with
        sqlite_rows, pg_rows = dump_sqlite(local.data_dir / "ceres.db", COMPARED), dump_pg(pg, COMPARED)
        assert all(sqlite_rows[t] for t in COMPARED), sqlite_rows
        for table in COMPARED:
            assert pg_rows[table] == sqlite_rows[table], table
        # rebuilt from scratch while the engine still leads (the projector stopped): the same rows
        projector.stop()
        ceres("rebuild", str(projector.data_dir), "--config", str(projector.config_path), "--from-scratch")
        assert dump_pg(pg, COMPARED) == pg_rows
    finally:
        cl.stop()
        node.stop()
