"""The server on the JetStream journal (issue 12, item 1): ``[journal] backend = "jetstream"``
against nats-server 2.15 on loopback — one node, and a 3-node cluster with the stream on three
replicas. Orders placed are there after a kill -9 of Ceres (the restart waits out the dead
owner's lease, then takes over with a new epoch); ``ceres verify --full`` replays the stream to
the same state; on R3 the stream keeps taking orders with one NATS node killed."""

from __future__ import annotations

import re
import time

import pytest

from tests.integration.api_helpers import demo_rest
from tests.integration.test_cli import ceres
from tests.natsproc import NatsCluster, NatsNode, free_port
from tests.serverproc import ServerProcess


def config(urls: list[str], stream: str, replicas: int = 1) -> str:
    servers = ", ".join(f'"{u}"' for u in urls)
    return (f'[journal]\nbackend = "jetstream"\n[journal.jetstream]\nservers = [{servers}]\nstream = "{stream}"\n'
            f'replicas = {replicas}\nlease_ms = 3000\n')


def place(srv: ServerProcess, price: str) -> str:
    status, reply = demo_rest(srv).call("POST", "trade/input", {
        "exchange": "TEST", "contract": "BTC/USDT", "price_type": "limit", "entrust_bs": "buy",
        "entrust_price": price, "entrust_vol": "0.01"})
    assert status == 200 and reply["code"] == "200", reply
    return str(reply["data"]["system_oid"])


def status_of(srv: ServerProcess, oid: str) -> int:
    return int(demo_rest(srv).call("GET", "trade/order", {"system_oid": oid})[1]["data"][0]["status"])


@pytest.fixture
def node(tmp_path):
    n = NatsNode(tmp_path / "nats", "n1", free_port()).start()
    yield n
    n.stop()


def test_orders_survive_a_kill_9_and_replay_from_the_stream(tmp_path, node):
    srv = ServerProcess(tmp_path / "data", config=config([node.url], "ONE"), extra_args=("--no-simulator",))
    srv.start()
    try:
        oids = [place(srv, f"{20000 + i}") for i in range(20)]
        srv.kill()
        started = time.monotonic()
        srv.start()  # waits for the killed owner's 3 s lease to run out
        assert time.monotonic() - started < 20
        assert [status_of(srv, oid) for oid in oids] == [3] * 20
        later = place(srv, "19000")
        srv.stop()
        verified = ceres("verify", str(srv.data_dir), "--full", "--config", str(srv.config_path)).stdout
        assert re.search(r"full replay hash:\s+[0-9a-f]{64} \(matches\)", verified), verified
        assert "consistency:      ok" in verified
        assert "from the JetStream journal: stream ONE (R1)" in srv.log_path.read_text()
        srv.start()
        assert status_of(srv, later) == 3
    finally:
        srv.stop()


def test_three_replicas_keep_taking_orders_with_a_node_down(tmp_path):
    cluster = NatsCluster(tmp_path / "nats").start()
    srv = ServerProcess(tmp_path / "data", config=config(cluster.urls, "THREE", replicas=3),
                        extra_args=("--no-simulator",))
    try:
        srv.start(timeout=60)
        first = [place(srv, f"{21000 + i}") for i in range(5)]
        cluster.nodes[2].kill()  # one of three: the stream still has a majority
        deadline = time.monotonic() + 30
        after: list[str] = []
        while len(after) < 5 and time.monotonic() < deadline:
            try:
                after.append(place(srv, f"{22000 + len(after)}"))
            except (AssertionError, OSError):  # 50001 (or no answer in time) while the stream re-forms:
                time.sleep(0.5)                 # retried, as a client would
        assert len(after) == 5
        srv.kill()
        srv.start(timeout=60)
        assert [status_of(srv, oid) for oid in first + after] == [3] * 10
    finally:
        srv.stop()
        cluster.stop()


def test_a_frame_over_the_servers_max_payload_is_split_and_read_back_whole(node):
    """nats-server's default max payload is 1 MiB; a batch can be larger: it is stored as several
    frames of consecutive records, each durable point at a piece's end."""
    import asyncio

    from ceres.domain import commands as C
    from ceres.journal.jetstream.journal import JetStreamJournal, split_frame
    from ceres.pipeline.frames import decode_records, encode_frame

    records = [(1_760_000_000_000 + i, C.CreateProduct(f"p{i:06d}" + "x" * 40)) for i in range(40_000)]
    frame = encode_frame(1, records)
    assert len(frame) > 2 << 20
    pieces = split_frame(frame, 40_000, 1 << 20)
    assert len(pieces) > 2 and all(len(p) <= 1 << 20 for p, _ in pieces) and pieces[-1][1] == 40_000
    journal = JetStreamJournal([node.url], "BIG", acquire_wait_s=0)
    journal.ownership.acquire()

    class Sink:
        def __init__(self) -> None:
            self.durable: list[int] = []
            self.failures: list[BaseException] = []
            self.done = asyncio.Event()

        def on_durable(self, seq: int) -> None:
            self.durable.append(seq)
            if seq == 40_000:
                self.done.set()

        def on_failure(self, exc: BaseException) -> None:
            self.failures.append(exc)
            self.done.set()

        def on_writable(self) -> None:
            pass

    async def run() -> Sink:
        sink = Sink()
        writer = journal.open_writer(1)
        writer.start(sink)
        writer.submit(frame, 40_000)
        await asyncio.wait_for(sink.done.wait(), 30)
        writer.close()
        return sink

    try:
        sink = asyncio.run(run())
        assert sink.failures == [] and sink.durable == [last for _, last in pieces]
        read = [cmd for f in journal.reader.frames(0) for _, cmd in decode_records(f.payload)]
        assert read == [cmd for _, cmd in records]
    finally:
        journal.close()
