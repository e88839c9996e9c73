"""Issue 12, items 2, 3 and 5: two engines (a leader and a hot standby) and a gateway as real
processes on a 3-node NATS cluster (R3, ``sync_interval: always``), all on loopback. Orders
flow through the gateway from a thread while the leading engine is killed -9, while the
JetStream stream leader node is killed -9, and while the leader is paused past its lease
(SIGSTOP/SIGCONT): the standby leads within 10 s, every acknowledged order is there exactly
once, and a deposed leader that comes back writes nothing and stops."""

from __future__ import annotations

import asyncio
import re
import signal
import time
from types import SimpleNamespace

import nats
import pytest

from tests.cluster.cluster_helpers import Cluster, OrderFlow, demo_of, health, leader_of, open_orders, orders_by_id
from tests.integration.api_helpers import Rest
from tests.integration.test_cli import ceres
from tests.natsproc import NatsCluster


@pytest.fixture
def setup(tmp_path):
    nats_cluster = NatsCluster(tmp_path / "nats").start()
    cl = Cluster(tmp_path, nats_cluster.urls, replicas=3)
    try:
        a = cl.start("engine-a", "engine")
        leader_of([a])
        b = cl.start("engine-b", "engine")
        gw = cl.start("gateway", "gateway")
        d = demo_of([a, b])
        yield SimpleNamespace(cluster=cl, nats=nats_cluster, engines=[a, b], gateway=gw,
                              rest=Rest(gw.http_url, d["api_key"], d["secret"]))
    finally:
        cl.stop()
        nats_cluster.stop()


def check_all_there(rest: Rest, flow: OrderFlow) -> None:
    oids = [oid for _, oid, _ in flow.acked]
    assert len(set(oids)) == len(oids)
    found = orders_by_id(rest, oids)
    assert sorted(found) == sorted(oids), f"{len(set(oids) - set(found))} acknowledged orders missing"
    by_client = [found[oid]["client_oid"] for oid in oids]
    assert by_client == [c for _, _, c in flow.acked]
    # every open order is one the flow placed, once: acknowledged, or with an outcome it was told is unknown
    placed = [o["client_oid"] for o in open_orders(rest)]
    assert len(set(placed)) == len(placed)
    assert set(by_client) <= set(placed) <= set(by_client) | set(flow.unknown)


def test_the_standby_leads_within_10_s_of_a_kill_9_and_nothing_acknowledged_is_lost(setup):
    cl, engines, rest = setup.cluster, setup.engines, setup.rest
    first = leader_of(engines)
    standby = next(e for e in engines if e is not first)
    assert health(standby)["leading"] is False
    with OrderFlow(rest) as flow:
        flow.wait_acked_after(0, 50)
        first.kill()
        killed = time.monotonic()
        flow.wait_acked_after(killed, 50)
    assert leader_of(engines) is standby
    before = [t for t, _, _ in flow.acked if t <= killed]
    after = flow.acked_after(killed)
    failover = after[0][0] - before[-1]
    assert failover < 10, f"failover took {failover:.2f} s"
    assert set(flow.refused) <= {"50004"}, flow.refused
    check_all_there(rest, flow)
    # the gateway's answers and the new leader agree with a replay of the whole stream
    cl.procs.remove(first)
    standby.stop()
    out = ceres("verify", str(standby.data_dir), "--full", "--config", str(standby.config_path)).stdout
    assert re.search(r"full replay hash:\s+[0-9a-f]{64} \(matches\)", out), out


def stream_leader(urls: list[str], stream: str) -> str:
    async def ask() -> str:
        nc = await nats.connect(servers=urls)
        try:
            info = await nc.jetstream().stream_info(stream)
            return str(info.cluster.leader)
        finally:
            await nc.close()
    return asyncio.run(ask())


def test_killing_the_stream_leader_node_loses_no_acknowledged_order(setup):
    nats_cluster, rest = setup.nats, setup.rest
    name = stream_leader(nats_cluster.urls, "CL")
    node = next(n for n in nats_cluster.nodes if n.name == name)
    with OrderFlow(rest) as flow:
        flow.wait_acked_after(0, 50)
        node.kill()
        killed = time.monotonic()
        flow.wait_acked_after(killed, 50, timeout=60)
    after = flow.acked_after(killed)
    before = [t for t, _, _ in flow.acked if t <= killed]
    assert after[0][0] - before[-1] < 20
    assert set(flow.refused) <= {"50004", "50001"}, flow.refused
    check_all_there(rest, flow)


def test_a_paused_leader_cannot_write_once_a_standby_took_over(setup):
    engines, rest = setup.engines, setup.rest
    first = leader_of(engines)
    standby = next(e for e in engines if e is not first)
    with OrderFlow(rest) as flow:
        flow.wait_acked_after(0, 30)
        first.proc.send_signal(signal.SIGSTOP)
        paused = time.monotonic()
        try:
            flow.wait_acked_after(paused, 30)  # the standby took the lease and leads
            assert leader_of([standby], timeout=5) is standby
        finally:
            first.proc.send_signal(signal.SIGCONT)
        # the deposed leader finds its lease taken and stops without writing
        assert first.proc.wait(30) == 3
        resumed = time.monotonic()
        flow.wait_acked_after(resumed, 30)
    assert "lost the lease" in first.logs()
    check_all_there(rest, flow)
