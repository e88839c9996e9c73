"""Back-pressure of the 18003 listener (``ceres.market.ws`` on the queue of ``ceres.wire.ws``)
with a fake transport: pushes go straight out while the socket drains; while it is paused,
state pushes are held one per topic (latest wins) and everything else waits in the queue;
resuming sends the queue, then the held states. Once more than ``max_buffer`` bytes were
produced for a paused subscriber (held states counted each time, replies too), it is
dropped: close 1008 after what it already had, nothing more sent, and aborted after the
registry's ``drop_timeout`` unless it answers the close.
"""

from __future__ import annotations

import asyncio
import json

from picows import WSCloseCode

from ceres.market.data import MarketData
from ceres.market.ws import MarketListener, MarketServer
from ceres.wire.ws import Registry
from engine_helpers import btc_usdt_harness


class FakeUnderlying:
    def __init__(self, t: FakeTransport) -> None:
        self.t = t

    def get_write_buffer_size(self) -> int:
        return sum(len(d) for d in self.t.sent)

    def is_closing(self) -> bool:
        return False

    def write(self, data: bytes) -> None:
        """Text frames written in one go (the listener batches them): keep the payloads."""
        pos = 0
        while pos < len(data):
            assert data[pos] == 0x81  # final text frame
            n, pos = data[pos + 1], pos + 2
            if n == 126:
                n, pos = int.from_bytes(data[pos:pos + 2], "big"), pos + 2
            elif n == 127:
                n, pos = int.from_bytes(data[pos:pos + 8], "big"), pos + 8
            self.t.sent.append(bytes(data[pos:pos + n]))
            pos += n

    def get_extra_info(self, name: str):
        return ("127.0.0.1", 5555) if name == "peername" else None


class FakeTransport:
    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.closes: list[tuple] = []
        self.disconnects: list[bool] = []
        self.underlying_transport = FakeUnderlying(self)

    def send(self, msg_type, data: bytes) -> None:
        self.sent.append(bytes(data))

    def send_close(self, code, reason: bytes = b"") -> None:
        self.closes.append((code, reason))

    def disconnect(self, graceful: bool = True) -> None:
        self.disconnects.append(graceful)


def make(drop_timeout: float = 0.05, max_buffer: int = 4 << 20):
    h = btc_usdt_harness()
    market = MarketData(h.eng, now_ms=lambda: 1)
    server = MarketServer(market, Registry(drop_timeout=drop_timeout), max_buffer=max_buffer)
    listener = MarketListener(server)
    t = FakeTransport()
    listener.on_ws_connected(t)
    listener.flush()  # inside a running loop, queued text leaves on the next iteration
    assert json.loads(t.sent.pop(0))["info"]  # greeting
    return server, listener, t


DEPTH = ("push-depth10", "TEST", "BTC/USDT", None)
TICK = ("push-tick", "TEST", "BTC/USDT", None)


def test_pushes_go_straight_out_while_draining():
    _, listener, t = make()
    listener.push(b"t1", None)
    listener.push(b"d1", DEPTH)
    assert t.sent == [b"t1", b"d1"]


def test_paused_states_latest_wins_trades_queue_then_resume_order():
    _, listener, t = make()
    listener.pause_writing()
    listener.push(b"d1", DEPTH)
    listener.push(b"t1", None)
    listener.push(b"k1", TICK)
    listener.push(b"d2", DEPTH)
    listener.push(b"t2", None)
    listener.push(b"d3", DEPTH)
    assert t.sent == []
    listener.resume_writing()
    assert t.sent == [b"t1", b"t2", b"d3", b"k1"]  # the queue in order, then one latest state per topic
    listener.push(b"t3", None)
    assert t.sent[-1] == b"t3" and not t.closes


FRAME = 4  # a 2-byte push in a text frame


async def test_queue_overflow_drops_with_1008_then_aborts():
    _server, listener, t = make(max_buffer=5 * FRAME, drop_timeout=0.05)
    listener.pause_writing()
    for i in range(5):
        listener.push(b"t%d" % i, None)
    assert not t.closes and not listener.closed  # exactly at the limit
    listener.push(b"t5", None)  # over it
    assert t.closes == [(WSCloseCode.POLICY_VIOLATION, b"too slow: not reading")]
    assert t.disconnects == [] and listener.closed  # still reading, for the client's close
    assert listener.registry.dropped == 1
    listener.push(b"t6", None)
    listener.push(b"d", DEPTH)
    listener.resume_writing()
    assert t.sent == []  # the queue was discarded; a dropped subscriber gets nothing more
    await asyncio.sleep(0.1)
    assert t.disconnects == [False]  # no answer within drop_timeout: aborted


async def test_held_states_count_toward_the_limit_each_time():
    _server, listener, t = make(max_buffer=5 * 2)  # held states count their 2-byte payload
    listener.pause_writing()
    for i in range(5):
        listener.push(b"d%d" % i, DEPTH)  # one held state, five produced
    assert not listener.closed
    listener.push(b"d5", DEPTH)
    assert listener.closed and t.closes == [(WSCloseCode.POLICY_VIOLATION, b"too slow: not reading")]


async def test_replies_while_paused_count_too():
    _, listener, t = make(max_buffer=1000)
    listener.pause_writing()
    listener.send_text(b"x" * 600)  # an ack while paused waits in the queue
    assert not listener.closed and t.sent == []
    listener.send_text(b"y" * 600)  # past max_buffer: dropped
    assert listener.closed and t.closes == [(WSCloseCode.POLICY_VIOLATION, b"too slow: not reading")]
    listener.send_text(b"z")
    assert t.sent == []


def test_resume_resets_the_count():
    _, listener, t = make(max_buffer=5 * FRAME)
    for _ in range(3):
        listener.pause_writing()
        for i in range(5):
            listener.push(b"t%d" % i, None)
        listener.resume_writing()
    assert not listener.closed and len(t.sent) == 15


async def test_subscribe_unsubscribe_and_close_maintain_topics():
    server, listener, t = make()
    topics = server.market.topics
    ack, snap = server.handle(listener, {"msg_type": "subscribe-depth", "exchange": "TEST",
                                         "contract": "BTC/USDT", "duration": None})
    assert (ack["msg_type"], ack["code"]) == ("subscribed-depth10", 200)
    assert snap is None  # the book is live state: it goes out with the next flush, once durable
    await server.market.flush()
    listener.flush()
    assert [json.loads(m) for m in t.sent] == [{"msg_type": "push-depth10", "exchange": "TEST",
                                                "contract": "BTC/USDT", "asks": [], "bids": []}]
    ack, snap = server.handle(listener, {"msg_type": "subscribe-trade", "exchange": "TEST", "contract": "BTC/USDT"})
    assert ack["code"] == 200 and snap is None  # no trade snapshot
    assert topics == {("depth10", "TEST", "BTC/USDT", None): {listener},
                      ("trade", "TEST", "BTC/USDT", None): {listener}}
    ack, _ = server.handle(listener, {"msg_type": "unsubscribe-depth10", "exchange": "TEST",
                                      "contract": "BTC/USDT"})
    assert (ack["msg_type"], ack["code"]) == ("unsubscribed-depth10", 200)
    assert list(topics) == [("trade", "TEST", "BTC/USDT", None)]
    listener.on_ws_disconnected(t)
    assert topics == {} and listener.subs == set()


def test_requests_beyond_the_limit_per_message_get_a_400_ack():
    from ceres.market.ws import MAX_SUBSCRIPTIONS

    _, listener, t = make()
    reqs = [{"msg_type": "subscribe-trade", "exchange": "TEST", "contract": "BTC/USDT"}] * (MAX_SUBSCRIPTIONS + 2)
    listener.on_message(json.dumps(reqs).encode(), True)
    listener.flush()
    acks = json.loads(t.sent[0])
    assert len(acks) == MAX_SUBSCRIPTIONS + 2
    assert [a["code"] for a in acks[:2]] == [200, 201]
    assert [a["code"] for a in acks[-2:]] == [400, 400] and acks[-1]["msg_type"] == "subscribed-trade"
