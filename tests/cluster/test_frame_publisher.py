"""The JetStream journal's writer (issue 12, first step): frames published to a real
nats-server 2.15 (``sync_interval: always``) on loopback, one node and a 3-node cluster (R3).
Durable points are reported in order, each after the stream stored its frame; a second writer
— or a deposed one — is refused by the stream at its first frame (``Nats-Expected-Last-Sequence``)
and nothing of it after that is reported; a frame the stream got twice is stored once."""

from __future__ import annotations

import asyncio
import json

import nats
import pytest
from nats.js.api import StorageType, StreamConfig

from ceres.journal.jetstream.fence import EpochFence
from ceres.journal.jetstream.publisher import EPOCH, Fenced, FramePublisher, PublishFailed
from tests.natsproc import NatsCluster, NatsNode, free_port

SUBJECT = "ceres.journal.test"
DEADLINE_S = 30


@pytest.fixture
def node(tmp_path):
    n = NatsNode(tmp_path, "n1", free_port()).start()
    yield n
    n.stop()


@pytest.fixture
def cluster(tmp_path):
    c = NatsCluster(tmp_path).start()
    yield c
    c.stop()


async def stream(urls: list[str], replicas: int = 1):
    nc = await nats.connect(servers=urls, connect_timeout=5, max_reconnect_attempts=10)
    js = nc.jetstream()
    for attempt in range(100):  # a fresh cluster elects its meta leader first
        try:
            await js.add_stream(StreamConfig(name="TEST", subjects=[SUBJECT], num_replicas=replicas,
                                             storage=StorageType.FILE))
            break
        except Exception:
            if attempt == 99:
                raise
            await asyncio.sleep(0.2)
    return nc, js


class Sink:
    def __init__(self) -> None:
        self.durable: list[int] = []
        self.failures: list[BaseException] = []

    def publisher(self, nc, epoch: int, last_stream_seq: int, **kw) -> FramePublisher:
        return FramePublisher(nc, SUBJECT, epoch=epoch, last_stream_seq=last_stream_seq,
                              on_durable=self.durable.append, on_failure=self.failures.append, **kw)


async def stored(js) -> list[tuple[int, bytes, str]]:
    """(stream seq, data, epoch header) of every message in the stream."""
    info = await js.stream_info("TEST")
    out = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await js.get_msg("TEST", seq)
        out.append((msg.seq, msg.data, (msg.headers or {}).get(EPOCH, "")))
    return out


def test_frames_are_durable_in_order_and_stored_once_each(node):
    async def run() -> None:
        nc, js = await stream([node.url])
        sink = Sink()
        pub = sink.publisher(nc, epoch=1, last_stream_seq=0, window=8)
        for i in range(1, 201):
            pub.submit(f"frame {i}".encode(), last_seq=i * 10)
        await pub.drain()
        assert sink.failures == [] and sink.durable == [i * 10 for i in range(1, 201)]
        assert [(s, d) for s, d, _ in await stored(js)] == [(i, f"frame {i}".encode()) for i in range(1, 201)]
        assert {e for _, _, e in await stored(js)} == {"1"}
        # the same frame again (a retried publish: same Nats-Msg-Id) is not stored twice
        again = await nc.request(SUBJECT, b"frame 200", headers={"Nats-Msg-Id": "1-2000"}, timeout=5)
        assert json.loads(again.data).get("duplicate") is True
        assert (await js.stream_info("TEST")).state.messages == 200
        await pub.close()
        await nc.close()

    asyncio.run(asyncio.wait_for(run(), DEADLINE_S))


def test_a_second_writer_is_fenced_at_its_first_frame(node):
    async def run() -> None:
        nc, js = await stream([node.url])
        old, new = Sink(), Sink()
        deposed = old.publisher(nc, epoch=1, last_stream_seq=0)
        for i in range(1, 4):
            deposed.submit(b"old", last_seq=i)
        await deposed.drain()
        leader = new.publisher(nc, epoch=2, last_stream_seq=3)  # read the tail (3), then writes
        leader.submit(b"new", last_seq=4)
        await leader.drain()
        for i in range(4, 8):  # the deposed writer still believes the tail is 3
            deposed.submit(b"stale", last_seq=i)
        await deposed.drain()
        assert old.durable == [1, 2, 3] and len(old.failures) == 1 and isinstance(old.failures[0], Fenced)
        with pytest.raises(PublishFailed):
            deposed.submit(b"later", last_seq=9)  # stopped for good
        everything = await stored(js)
        assert [(s, d, e) for s, d, e in everything[:4]] == [(1, b"old", "1"), (2, b"old", "1"),
                                                             (3, b"old", "1"), (4, b"new", "2")]
        assert {(d, e) for _, d, e in everything[4:]} <= {(b"stale", "1")}  # stored after the leader's...
        fence = EpochFence()
        journal = [(s, d) for s, d, e in everything if fence.admit(int(e))]
        assert journal == [(1, b"old"), (2, b"old"), (3, b"old"), (4, b"new")]  # ...but not in the journal
        assert new.durable == [4] and new.failures == []
        for p in (deposed, leader):
            await p.close()
        await nc.close()

    asyncio.run(asyncio.wait_for(run(), DEADLINE_S))


def test_an_unanswered_frame_stops_the_publisher(node):
    async def run() -> None:
        nc, _ = await stream([node.url])
        sink = Sink()
        pub = sink.publisher(nc, epoch=1, last_stream_seq=0, timeout=0.5)
        pub.submit(b"ok", last_seq=1)
        await pub.drain()
        node.signal(19)  # SIGSTOP: the server takes the request and never answers
        try:
            pub.submit(b"lost?", last_seq=2)
            pub.submit(b"after", last_seq=3)
            await pub.drain(timeout=10)
        finally:
            node.signal(18)  # SIGCONT
        assert sink.durable == [1] and len(sink.failures) == 1 and isinstance(sink.failures[0], PublishFailed)
        await pub.close()
        await nc.close()

    asyncio.run(asyncio.wait_for(run(), DEADLINE_S))


def test_replicated_on_three_nodes(cluster):
    async def run() -> None:
        nc, js = await stream(cluster.urls, replicas=3)
        sink = Sink()
        pub = sink.publisher(nc, epoch=1, last_stream_seq=0, window=16)
        for i in range(1, 101):
            pub.submit(b"x" * 1000, last_seq=i)
        await pub.drain(timeout=20)
        assert sink.failures == [] and sink.durable == list(range(1, 101))
        info = await js.stream_info("TEST")
        assert info.state.messages == 100 and info.config.num_replicas == 3
        assert len(info.cluster.replicas or []) == 2  # the leader and two followers
        await pub.close()
        await nc.close()

    asyncio.run(asyncio.wait_for(run(), DEADLINE_S + 30))
