"""Past one machine (issue 12): durable placements through a gateway on a JetStream journal,
beside the single process on the file journal, in one run; failover time over repeated kills;
projector rows into PostgreSQL.

Everything runs on this machine, on loopback: nats-server 2.15 from the pinned wheel
(``sync_interval: always``: an fsync before every ack), one node for R1 and a 3-node cluster for
R3; Ceres processes started as ``ceres serve --role ...`` (simulator off). Placements use the
``ws_orders`` load generator (biz_type 11 over picows, alternating buy/sell at one price so
orders cross): throughput with ``--conns`` connections and ``--window`` in flight each, and ack
latency with one connection and one request in flight.

    python bench/cluster.py [--seconds 5] [--conns 16] [--window 32] [--kills 10] [--skip-pg]

Prints placements/s and the ratio to the single process, ack p50/p99, failover times (last
acknowledged order before a kill -9 of the leading engine to the first after), acknowledged
orders lost (checked through the gateway after all kills), and projector rows/s.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from ws_orders import measure  # noqa: E402


def ws_url(proc, demo: dict) -> str:
    from ceres.client import ws_sign

    key = demo["api_key"]
    return f"ws://127.0.0.1:{proc.info['trade_ws']}/?api_key={key}&sign={ws_sign(key, demo['secret'])}"


def run_load(url: str, args) -> tuple[dict, dict]:
    return measure(url, args.conns, args.window, args.seconds), measure(url, 1, 1, args.seconds)


def single(root: Path, args) -> tuple[dict, dict]:
    from tests.serverproc import ServerProcess

    srv = ServerProcess(root / "single", extra_args=("--no-simulator",), config="[journal]\nsnapshot_every = 0\n")
    srv.start()
    try:
        return run_load(ws_url(srv, srv.demo()), args)
    finally:
        srv.stop()


def clustered(root: Path, urls: list[str], replicas: int, args, stream: str):
    """(throughput, latency) through one gateway with one engine."""
    from tests.cluster.cluster_helpers import Cluster, demo_of, leader_of

    cl = Cluster(root / f"r{replicas}", urls, stream=stream, replicas=replicas)
    try:
        engine = cl.start("engine", "engine")
        leader_of([engine])
        gw = cl.start("gateway", "gateway")
        return run_load(ws_url(gw, demo_of([engine])), args)
    finally:
        cl.stop()


def failovers(root: Path, urls: list[str], kills: int) -> tuple[list[float], int, int, dict]:
    """Kill -9 the leading engine ``kills`` times while orders flow through a gateway (the killed
    engine restarts as a standby each time). Returns failover times, acknowledged orders, lost."""
    from tests.cluster.cluster_helpers import Cluster, OrderFlow, engines_and_gateway, leader_of, orders_by_id

    cl = Cluster(root / "failover", urls, stream="FO", replicas=3)
    times: list[float] = []
    try:
        engines, _, rest = engines_and_gateway(cl)
        with OrderFlow(rest, limit=100_000, seconds=kills * 40.0) as flow:
            flow.wait_acked_after(0, 20)
            for _ in range(kills):
                leader = leader_of(engines)
                leader.kill()
                killed = time.monotonic()
                flow.wait_acked_after(killed, 20, timeout=60)
                before = [t for t, _, _ in flow.acked if t <= killed]
                times.append(flow.acked_after(killed)[0][0] - before[-1])
                leader.start(timeout=60)  # back as a standby
                time.sleep(0.5)
        oids = [oid for _, oid, _ in flow.acked]
        found = orders_by_id(rest, oids)
        return times, len(oids), len(set(oids) - set(found)), flow.refused
    finally:
        cl.stop()


def projector_rate(root: Path, urls: list[str], dsn: str, commands: int) -> tuple[int, float]:
    """Journal ``commands`` placements through a gateway, then start a projector on PostgreSQL
    and time its catch-up. Returns (rows written, seconds)."""
    import uuid

    import psycopg
    from tests.cluster.cluster_helpers import Cluster, demo_of, health, leader_of

    schema = f"ceres_bench_{uuid.uuid4().hex[:8]}"
    store = f'[store]\nbackend = "postgres"\ndsn = "{dsn}"\nschema = "{schema}"\n'
    cl = Cluster(root / "projector", urls, stream="PR")
    try:
        engine = cl.start("engine", "engine")
        leader_of([engine])
        gw = cl.start("gateway", "gateway")
        q: mp.Queue = mp.Queue()
        from ws_orders import _load, payloads

        p = mp.Process(target=_load, args=(ws_url(gw, demo_of([engine])), 16, 32, 60.0, payloads(), q, 1))
        p.start()
        while health(engine)["seq"] < commands:
            time.sleep(0.2)
        p.terminate()
        p.join()
        seq = health(engine)["seq"]
        started = time.monotonic()
        projector = cl.start("projector", "projector", config=store)
        while health(projector)["projected_seq"] < seq:
            time.sleep(0.05)
        elapsed = time.monotonic() - started
        with psycopg.connect(dsn, options=f"-c search_path={schema}") as conn:
            rows = sum(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                       for t in ("orders", "fills", "trades", "candles"))
        return rows, elapsed
    finally:
        cl.stop()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--conns", type=int, default=16)
    ap.add_argument("--window", type=int, default=32)
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--projector-commands", type=int, default=50_000)
    ap.add_argument("--skip-pg", action="store_true")
    ap.add_argument("--dsn", default=os.environ.get("CERES_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test"))
    args = ap.parse_args()
    mp.set_start_method("spawn")

    from tests.natsproc import NatsCluster, NatsNode, free_port

    root = Path(tempfile.mkdtemp(prefix="ceres-bench-cluster-"))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"nats-server 2.15 sync_interval always; {args.conns} conns x {args.window} in flight; "
          f"{args.seconds:.0f} s per run")
    base, base_lat = single(root, args)
    node = NatsNode(root / "nats1", "n1", free_port()).start()
    cluster = NatsCluster(root / "nats3")
    try:
        cluster.start()
        r1, r1_lat = clustered(root, [node.url], 1, args, "B1")
        r3, r3_lat = clustered(root, cluster.urls, 3, args, "B3")
        print(f"{'':28} {'placements/s':>13} {'ratio':>6} {'ack p50 ms':>11} {'ack p99 ms':>11}")
        for name, thr, lat in (("single process, file journal", base, base_lat),
                               ("gateway + engine, R1", r1, r1_lat), ("gateway + engine, R3", r3, r3_lat)):
            print(f"{name:28} {thr['rate']:>13,.0f} {thr['rate'] / base['rate']:>6.0%} {lat['p50']:>11.2f} "
                  f"{lat['p99']:>11.2f}" + (f"   errors {thr['errors']}" if thr["errors"] else ""))
        if args.kills:
            times, acked, lost, refused = failovers(root, cluster.urls, args.kills)
            print(f"failover over {len(times)} kills -9 of the leading engine (R3, lease 2 s): "
                  f"median {statistics.median(times):.2f} s, max {max(times):.2f} s; "
                  f"{acked} orders acknowledged, {lost} lost; refused meanwhile: {refused}")
        if not args.skip_pg:
            rows, elapsed = projector_rate(root, [node.url], args.dsn, args.projector_commands)
            print(f"projector catch-up into PostgreSQL: {rows:,} rows in {elapsed:.2f} s = "
                  f"{rows / elapsed:,.0f} rows/s (start-up included)")
    finally:
        cluster.stop()
        node.stop()


if __name__ == "__main__":
    main()
