"""Public market-data WebSocket (port 18003, paths ``/`` and ``/ws/market``; no auth).

On connect the server sends ``{"info":...,"time":"ms"}``. A client sends a JSON *array*
of ``{"msg_type":"subscribe-tick|subscribe-trade|subscribe-depth10|subscribe-candle",
"exchange","contract","duration"}`` (``subscribe-depth`` means depth10; ``duration`` may be
null except for candles) and gets one array of acks ``{"msg_type":"subscribed-<kind>",
"exchange","contract","duration","code","message"}``: 200 subscribed, 201 already, 400 bad
request (unknown exchange/contract/duration), 500 invalid command. Extension:
``unsubscribe-<kind>`` answers ``unsubscribed-<kind>`` (200, or 400 when not subscribed).
A new subscription is first sent the current state (last tick and current candle at
once; the depth snapshot with the next flush, once the book it shows is durable).
A live venue's topics (``market.live.LiveTopics``) run a watcher of the venue from the
first subscriber to the last and push what it sees; their first push is the venue's
current state; a contract the venue does not list is a 400 ack.
``{"msg_type":"ping"}`` (or text ``ping``) is answered with ``{"msg_type":"pong","time":"ms"}``.
Anything else malformed (not JSON, not UTF-8, nested more than ``MAX_DEPTH`` levels, a
message over the size limit: then close 1009) gets a 500 "invalid command" ack; a bug
while handling a message a 500 "internal error" ack (``ceres.wire.faults``); the socket
stays open.

Back-pressure: while a subscriber's socket is not draining (picows pause_writing), state
pushes (depth, tick, candle) are held back one per topic, latest wins, and sent on
resume after the queue; everything else (trade pushes, acks, pongs, snapshots) waits in
the connection's outbound queue (``ceres.wire.ws``, the same on every port). When more
than ``max_buffer`` bytes were produced for it (held states counted each time) since its
socket stopped draining, the subscriber is dropped with close code 1008 (and
aborted unless it answers the close within the registry's ``drop_timeout``). Held
states are bounded by the subscriptions (at most ``MAX_SUBSCRIPTIONS`` topics).
"""

from __future__ import annotations

from typing import Any

from ceres.domain.candles import DURATIONS
from ceres.domain.errors import CeresError
from ceres.market.data import MarketData, Topic
from ceres.market.live import LiveTopics
from ceres.wire import faults
from ceres.wire.codec import decode_json_value, encode_json
from ceres.wire.ws import BaseListener, Registry
from ceres.wire.ws_server import listener_factory_guard, upgrade_query

PATHS = ("/", "/ws/market")
KINDS = {"tick": "tick", "trade": "trade", "depth10": "depth10", "depth": "depth10", "candle": "candle"}
MAX_SUBSCRIPTIONS = 200
MAX_DEPTH = 3  # an array of objects of scalars needs 2


class MarketListener(BaseListener):
    name = "market"

    def __init__(self, server: MarketServer) -> None:
        super().__init__(max_message=server.max_message, max_buffer=server.max_buffer, registry=server.registry)
        self.server = server
        self.subs: set[Topic] = set()
        self.held: dict[Topic, bytes] | None = None

    def on_open(self) -> None:
        self.send_text(encode_json({"info": "Ceres market data: send a JSON array of subscribe-* requests",
                                    "time": str(self.server.market.now_ms())}))

    def on_close(self) -> None:
        for topic in self.subs:
            self.server.forget(self, topic)
        self.subs.clear()

    # --- pushes with back-pressure -------------------------------------------------------
    def push(self, data: bytes, state_topic: Topic | None) -> None:
        if self.closed:
            return
        if state_topic is not None and self._paused:
            if self.held is None:
                self.held = {}
            self.held[state_topic] = data
            self.waiting(len(data))  # kept once per topic, but counted: a stalled client is dropped
            return
        self.send_text(data)

    def resume_writing(self) -> None:
        super().resume_writing()  # the queue first, in order
        held, self.held = self.held, None
        for data in (held or {}).values():
            self.send_text(data)

    def drop(self) -> None:
        self.held = None
        super().drop()

    # --- requests --------------------------------------------------------------------------
    def on_message(self, data: bytes, is_text: bool) -> None:
        try:
            self._requests(data)
        except Exception as exc:  # a bug: a 500 ack, the socket stays open
            faults.report(exc, "18003 message")
            self.send_text(encode_json([_ack("subscribed-unknown", None, None, None, 500, "internal error")]))

    def on_too_big(self) -> None:
        self.send_text(encode_json([_ack("subscribed-unknown", None, None, None, 500,
                                         f"invalid command: message over {self.max_message} bytes")]))

    def _requests(self, data: bytes) -> None:
        text = data.strip()
        if text.lower() == b"ping":
            self.send_text(self.server.pong())
            return
        try:
            requests = decode_json_value(text, max_depth=MAX_DEPTH, max_members=None)
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
        snapshots: list[dict[str, Any] | bytes] = []
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
            self.send_text(snap if isinstance(snap, bytes) else encode_json(snap))


def _ack(msg_type: str, exchange: Any, contract: Any, duration: Any, code: int, message: str) -> dict[str, Any]:
    return {"msg_type": msg_type, "exchange": exchange, "contract": contract, "duration": duration,
            "code": code, "message": message}


class MarketServer:
    def __init__(self, market: MarketData, registry: Registry, *, max_message: int = 65536,
                 max_buffer: int = 4 << 20, live: LiveTopics | None = None) -> None:
        self.market = market
        self.live = live
        self.registry = registry
        self.max_message = max_message
        self.max_buffer = max_buffer
        self.factory = listener_factory_guard(self._upgrade)

    @faults.guarded("18003 upgrade")
    def _upgrade(self, request: Any) -> Any:
        path, _ = upgrade_query(request)
        if path not in PATHS:
            return None
        return MarketListener(self)

    def pong(self) -> bytes:
        return encode_json({"msg_type": "pong", "time": str(self.market.now_ms())})

    def handle(self, listener: MarketListener, req: Any) -> tuple[dict[str, Any], dict[str, Any] | bytes | None]:
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
        if not (isinstance(exchange, str) and isinstance(contract, str)):
            return _ack(reply, exchange, contract, duration, 400, "invalid contract"), None
        venue = self.live.venue(exchange) if self.live is not None else None
        if venue is not None:
            try:
                topic_contract = venue.instrument(contract).contract
            except CeresError as exc:
                return _ack(reply, exchange, contract, duration, 400, f"invalid contract: {exc.message}"), None
        elif (exchange, contract) not in self.market.markets:
            return _ack(reply, exchange, contract, duration, 400, "invalid contract"), None
        else:
            topic_contract = contract
        if kind == "candle":
            if not isinstance(duration, str) or duration not in DURATIONS:
                return _ack(reply, exchange, contract, duration, 400,
                            f"invalid duration (one of {' '.join(DURATIONS)})"), None
        else:
            duration = None
        topic: Topic = (kind, exchange, topic_contract, duration)
        if verb == "unsubscribe":
            if topic not in listener.subs:
                return _ack(reply, exchange, contract, duration, 400, "not subscribed"), None
            listener.subs.discard(topic)
            self.forget(listener, topic)
            return _ack(reply, exchange, contract, duration, 200, "unsubscribed"), None
        if topic in listener.subs:
            return _ack(reply, exchange, contract, duration, 201, "already subscribed"), None
        if len(listener.subs) >= MAX_SUBSCRIPTIONS:
            return _ack(reply, exchange, contract, duration, 400, "too many subscriptions"), None
        listener.subs.add(topic)
        ack = _ack(reply, exchange, contract, duration, 200, "subscribed")
        if venue is not None and self.live is not None:
            return ack, self.live.add(topic, listener)  # the topic's last state, if it is running
        self.market.topics.setdefault(topic, set()).add(listener)
        return ack, self._current(topic, listener)

    def forget(self, listener: MarketListener, topic: Topic) -> None:
        """``listener`` no longer follows ``topic`` (the caller updates ``listener.subs``)."""
        if self.live is not None and topic in self.live.subs:
            self.live.remove(topic, listener)
            return
        topics = self.market.topics
        subs = topics.get(topic)
        if subs is not None:
            subs.discard(listener)
            if not subs:
                del topics[topic]

    def _current(self, topic: Topic, listener: MarketListener) -> dict[str, Any] | None:
        kind, exchange, contract, duration = topic
        market = self.market
        if kind == "depth10":  # live engine state: sent with the next flush, once durable
            market.depth_snapshot_later(listener, exchange, contract)
            return None
        if kind == "tick":
            return {"msg_type": "push-tick", **market.tick(exchange, contract, with_rate=True)}
        if kind == "candle" and duration is not None:
            return market.current_candle(exchange, contract, DURATIONS[duration])
        return None
