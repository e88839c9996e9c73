"""Public market-data WebSocket (port 18003, paths ``/`` and ``/ws/market``; no auth).

On connect the server sends ``{"info":...,"time":"ms"}``. A client sends a JSON *array*
of ``{"msg_type":"subscribe-tick|subscribe-trade|subscribe-depth10|subscribe-candle",
"exchange","contract","duration"}`` (``subscribe-depth`` means depth10; ``duration`` may be
null except for candles) and gets one array of acks ``{"msg_type":"subscribed-<kind>",
"exchange","contract","duration","code","message"}``: 200 subscribed, 201 already, 400 bad
request (unknown exchange/contract/duration), 500 invalid command. Extension:
``unsubscribe-<kind>`` answers ``unsubscribed-<kind>`` (200, or 400 when not subscribed).
A new subscription is first sent the current state (depth snapshot, last tick, current
candle). ``{"msg_type":"ping"}`` (or text ``ping``) is answered with
``{"msg_type":"pong","time":"ms"}``.

Back-pressure: while a subscriber's socket is not draining (picows pause_writing), state
pushes (depth, tick, candle) are held back one per topic, latest wins, and sent on
resume; trade pushes queue up to ``max_queue``. Past that, the subscriber is dropped
with close code 1008 (and aborted if it still does not read within ``drop_timeout``).
Replies (acks, pongs, snapshots) are not held: a client that keeps sending requests
without reading is aborted once its unsent data passes ``max_buffer``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

from picows import WSCloseCode

from ceres.domain.candles import DURATIONS
from ceres.domain.errors import CeresError
from ceres.market.data import MarketData, Topic
from ceres.wire.codec import decode_json_value, encode_json
from ceres.wire.ws import BaseListener, Registry, listener_factory_guard, upgrade_query

log = logging.getLogger("ceres.ws.market")
PATHS = ("/", "/ws/market")
KINDS = {"tick": "tick", "trade": "trade", "depth10": "depth10", "depth": "depth10", "candle": "candle"}
MAX_SUBSCRIPTIONS = 200


class MarketListener(BaseListener):
    name = "market"

    def __init__(self, server: MarketServer) -> None:
        super().__init__(max_message=server.max_message, max_buffer=server.max_buffer, registry=server.registry)
        self.server = server
        self.subs: set[Topic] = set()
        self.held: dict[Topic, bytes] | None = None
        self.queue: deque[bytes] | None = None

    def on_open(self) -> None:
        self.send_text(encode_json({"info": "Ceres market data: send a JSON array of subscribe-* requests",
                                    "time": str(self.server.market.now_ms())}))

    def on_close(self) -> None:
        topics = self.server.market.topics
        for topic in self.subs:
            subs = topics.get(topic)
            if subs is not None:
                subs.discard(self)
                if not subs:
                    del topics[topic]
        self.subs.clear()

    # --- pushes with back-pressure -------------------------------------------------------
    def push(self, data: bytes, state_topic: Topic | None) -> None:
        if self.closed:
            return
        if not self._paused:
            self.send_text(data)
            return
        if state_topic is not None:
            if self.held is None:
                self.held = {}
            self.held[state_topic] = data
            return
        if self.queue is None:
            self.queue = deque()
        self.queue.append(data)
        if len(self.queue) > self.server.max_queue:
            self.drop()

    def resume_writing(self) -> None:
        super().resume_writing()
        queue, self.queue = self.queue, None
        held, self.held = self.held, None
        for data in queue or ():
            self.send_text(data)
        for data in (held or {}).values():
            self.send_text(data)

    def drop(self) -> None:
        log.warning("market %s not reading; dropping it", self.peer)
        self.queue = self.held = None
        self.flush()
        self.closed = True
        transport = self.transport
        if transport is None:
            return
        transport.send_close(WSCloseCode.POLICY_VIOLATION, b"too slow: not reading")
        transport.disconnect(graceful=True)
        loop = asyncio.get_running_loop()
        loop.call_later(self.server.drop_timeout, transport.disconnect, False)

    # --- requests --------------------------------------------------------------------------
    def on_message(self, data: bytes, is_text: bool) -> None:
        text = data.strip()
        if text.lower() == b"ping":
            self.send_text(self.server.pong())
            return
        try:
            requests = decode_json_value(text)
        except CeresError:
            requests = None
        if isinstance(requests, dict):
            if requests.get("msg_type") == "ping":
                self.send_text(self.server.pong())
                return
            requests = [requests]  # a single object: be lenient, treat as a one-item array
        if not isinstance(requests, list):
            self.send_text(encode_json([_ack("subscribed-unknown", None, None, None, 500,
                                             "invalid command: send a JSON array of subscribe-* objects")]))
            return
        acks = []
        snapshots = []
        for i, req in enumerate(requests):
            if i >= MAX_SUBSCRIPTIONS:
                item = req if isinstance(req, dict) else {}
                acks.append(_ack(str(item.get("msg_type", "unknown")).replace("subscribe", "subscribed", 1),
                                 item.get("exchange"), item.get("contract"), item.get("duration"), 400,
                                 f"at most {MAX_SUBSCRIPTIONS} requests per message"))
                continue
            ack, snap = self.server.handle(self, req)
            acks.append(ack)
            if snap is not None:
                snapshots.append(snap)
        self.send_text(encode_json(acks))
        for snap in snapshots:
            self.send_text(encode_json(snap))


def _ack(msg_type: str, exchange: Any, contract: Any, duration: Any, code: int, message: str) -> dict[str, Any]:
    return {"msg_type": msg_type, "exchange": exchange, "contract": contract, "duration": duration,
            "code": code, "message": message}


class MarketServer:
    def __init__(self, market: MarketData, registry: Registry, *, max_message: int = 65536,
                 max_queue: int = 1000, drop_timeout: float = 5.0, max_buffer: int = 4 << 20) -> None:
        self.market = market
        self.registry = registry
        self.max_message = max_message
        self.max_buffer = max_buffer
        self.max_queue = max_queue
        self.drop_timeout = drop_timeout
        self.factory = listener_factory_guard(self._upgrade)

    def _upgrade(self, request: Any) -> Any:
        path, _ = upgrade_query(request)
        if path not in PATHS:
            return None
        return MarketListener(self)

    def pong(self) -> bytes:
        return encode_json({"msg_type": "pong", "time": str(self.market.now_ms())})

    def handle(self, listener: MarketListener, req: Any) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """One subscription request -> (ack, current-state push or None)."""
        if not isinstance(req, dict):
            return _ack("subscribed-unknown", None, None, None, 500, "invalid command"), None
        msg_type = req.get("msg_type")
        exchange, contract, duration = req.get("exchange"), req.get("contract"), req.get("duration")
        verb, _, kind_name = (msg_type or "").partition("-") if isinstance(msg_type, str) else ("", "", "")
        kind = KINDS.get(kind_name)
        if verb not in ("subscribe", "unsubscribe") or kind is None:
            return _ack(f"subscribed-{kind_name or 'unknown'}", exchange, contract, duration, 500,
                        f"invalid command {msg_type!r}"), None
        reply = ("subscribed-" if verb == "subscribe" else "unsubscribed-") + kind
        if not (isinstance(exchange, str) and isinstance(contract, str)) or \
                (exchange, contract) not in self.market.markets:
            return _ack(reply, exchange, contract, duration, 400, "invalid contract"), None
        if kind == "candle":
            if not isinstance(duration, str) or duration not in DURATIONS:
                return _ack(reply, exchange, contract, duration, 400,
                            f"invalid duration (one of {' '.join(DURATIONS)})"), None
        else:
            duration = None
        topic: Topic = (kind, exchange, contract, duration)
        topics = self.market.topics
        if verb == "unsubscribe":
            if topic not in listener.subs:
                return _ack(reply, exchange, contract, duration, 400, "not subscribed"), None
            listener.subs.discard(topic)
            subs = topics.get(topic)
            if subs is not None:
                subs.discard(listener)
                if not subs:
                    del topics[topic]
            return _ack(reply, exchange, contract, duration, 200, "unsubscribed"), None
        if topic in listener.subs:
            return _ack(reply, exchange, contract, duration, 201, "already subscribed"), None
        if len(listener.subs) >= MAX_SUBSCRIPTIONS:
            return _ack(reply, exchange, contract, duration, 400, "too many subscriptions"), None
        listener.subs.add(topic)
        topics.setdefault(topic, set()).add(listener)
        return _ack(reply, exchange, contract, duration, 200, "subscribed"), self._current(topic)

    def _current(self, topic: Topic) -> dict[str, Any] | None:
        kind, exchange, contract, duration = topic
        market = self.market
        if kind == "depth10":
            return {"msg_type": "push-depth10", **market.depth(exchange, contract)}
        if kind == "tick":
            return {"msg_type": "push-tick", **market.tick(exchange, contract, with_rate=True)}
        if kind == "candle" and duration is not None:
            return market.current_candle(exchange, contract, DURATIONS[duration])
        return None
