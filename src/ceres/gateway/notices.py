"""Push of order and position notices (port 19003, paths ``/`` and ``/ws/notify``).

Handshake like 19001 (``?api_key=&sign=``); a socket receives every notice of its key's
product. Text ``ping`` is answered with ``pong``; any other message with an error in the
envelope (400; a binary frame 40002; over ``MAX_MESSAGE`` bytes 40020, then close 1009),
and the socket stays. Notice formats are API.md section 4
(May-2019): messageType "1" for every order status change and every fill, "2" for margin,
TP/SL and liquidation-price changes of resting opening orders (``PENDING``) and positions
(``POSITION``).

Every notice carries ``seq``: the product's notice number, assigned by the engine when
it creates the event, so it is +1 per notice, gap-free, and survives restarts. Notices
leave only after their batch is durable (the dispatcher calls ``on_notices`` then).
The last ``retention`` notices per product are kept in memory (events, formatted on
demand), and at start they are loaded from the history store's notice log (derived from
the journal), so they survive a restart; connecting with ``&since=SEQ`` first replays the
retained notices after SEQ,
then continues live — replay and registration happen in one loop callback, so there is
no gap and no duplicate. If notices after SEQ are no longer retained (too old, or the
history store was behind), the first message is ``{"messageType":"0","info":...,"seq":SEQ_OLDEST-1}``
(an extension message; original clients never send ``since``).

A subscriber that stops reading is dropped with close 1008 once its outbound queue
passes ``max_buffer`` (``ceres.wire.ws``: the same queue on every WebSocket port).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from datetime import timezone
from typing import Any

from ceres.domain.enums import FutureDir, OrderStatus, PriceType, Side
from ceres.domain.errors import CeresError, ErrorCode
from ceres.domain.events import OrderEvent, PositionEvent
from ceres.gateway.auth import Authenticator
from ceres.gateway.handshake import signed_upgrade
from ceres.gateway.views import avg_price, entrust_amount, wire_time
from ceres.pipeline.dispatch import Subscription
from ceres.wire import codec, faults
from ceres.wire.ws import BaseListener, Registry
from ceres.wire.ws_server import listener_factory_guard

log = logging.getLogger("ceres.ws.notify")
PATHS = ("/", "/ws/notify")
MAX_MESSAGE = 4096
NOT_A_PING = "19003 takes only the text ping (notices are pushed)"
_DIRS: dict[tuple[int, int], str] = {
    (Side.BUY, FutureDir.NONE): "BUY", (Side.SELL, FutureDir.NONE): "SELL",
    (Side.BUY, FutureDir.OPEN): "BUY_OPEN", (Side.SELL, FutureDir.OPEN): "SELL_OPEN",
    (Side.SELL, FutureDir.CLOSE): "SELL_CLOSE", (Side.BUY, FutureDir.CLOSE): "BUY_CLOSE"}
_STATUS = {int(s): s.name for s in OrderStatus}


def order_notice(ev: OrderEvent, tz: timezone) -> dict[str, Any]:
    o = ev.spec
    inst = o.inst
    notice = {
        "product": o.product,
        "exchange": inst.exchange,
        "contract": inst.contract,
        "entrustId": str(o.oid),
        "avgDealPrice": avg_price(inst, ev.dealt, ev.filled),
        "entrustTime": wire_time(o.time, tz),
        "entrustStatus": _STATUS[ev.status],
        "entrustDir": _DIRS[(o.side, o.fdir)],
        "entrustType": "LIMIT" if o.ptype == PriceType.LIMIT else "MARKET",
        "lever": str(o.lever) if inst.is_contract else "1",
        "entrustPrice": inst.fmt_price(o.price) if o.price else "0",
        "entrustVol": entrust_amount(inst, o.side, o.ptype, o.vol),
        "dealVol": inst.fmt_vol(ev.deal_vol),
        "totalDealVol": inst.fmt_vol(ev.filled),
        "messageType": "1",
        "seq": ev.nseq,
    }
    if ev.reason:  # a live venue refused the order (status 6): extension fields
        code, _, text = ev.reason.partition(" ")
        notice["errorCode"], notice["errorMessage"] = code, text
    return notice


def position_notice(ev: PositionEvent) -> dict[str, Any]:
    inst = ev.inst
    return {
        "product": ev.product,
        "entrustId": str(ev.oid),
        "forcedPrice": inst.fmt_price(ev.force) if ev.force else "0",
        "totalMargin": inst.fmt_settle(ev.margin),
        "profit": inst.fmt_price(ev.tp) if ev.tp else "0",
        "stop": inst.fmt_price(ev.sl) if ev.sl else "0",
        "dealId": str(ev.deal_id) if ev.deal_id else "",
        "type": ev.kind,
        "messageType": "2",
        "seq": ev.nseq,
    }


class NotifyListener(BaseListener):
    name = "notify"

    def __init__(self, server: Notifier, product: str, api_key: str, since: int | None) -> None:
        super().__init__(max_message=MAX_MESSAGE, max_buffer=server.max_buffer, registry=server.registry,
                         api_key=api_key)
        self.server = server
        self.product = product
        self.since = since

    def on_open(self) -> None:
        self.server.subscribe(self)

    def on_close(self) -> None:
        self.server.unsubscribe(self)

    def on_message(self, data: bytes, is_text: bool) -> None:
        if not is_text:
            self.send_text(codec.error(CeresError(ErrorCode.BINARY_FRAME)))
        elif data.strip().lower() == b"ping":
            self.send_text(b"pong")
        else:  # notices are pushed; the only request is the heartbeat
            self.send_text(codec.error(CeresError(ErrorCode.BAD_REQUEST, NOT_A_PING)))

    def on_too_big(self) -> None:
        self.send_text(codec.error(CeresError(ErrorCode.PAYLOAD_TOO_LARGE, f"message over {MAX_MESSAGE} bytes")))


class Notifier:
    def __init__(self, auth: Authenticator, registry: Registry, *, tz: timezone,
                 now_ms: Callable[[], int], retention: int = 10000, max_buffer: int = 4 << 20,
                 stored: Mapping[str, Sequence[OrderEvent | PositionEvent]] | None = None) -> None:
        self.auth = auth
        self.registry = registry
        self.tz = tz
        self.now_ms = now_ms
        self.retention = retention
        self.max_buffer = max_buffer
        self.rings: dict[str, deque[OrderEvent | PositionEvent]] = {}
        self.subs: dict[str, set[NotifyListener]] = {}
        # per product, the last notice seq handed to subscribers; notices issued before this
        # server started (recovered from the journal) count as delivered
        self.delivered: dict[str, int] = {k.product.name: k.product.notices for k in auth.keys.values()}
        # retained from before the start: the history store's notice log, if it reaches the end
        for product, events in (stored or {}).items():
            if events and events[-1].nseq == self.delivered.get(product):
                self.rings[product] = deque(events, maxlen=retention)
        self.sent = 0
        self.factory = listener_factory_guard(self._upgrade)

    @faults.guarded("19003 upgrade")
    def _upgrade(self, request: Any) -> Any:
        signed = signed_upgrade(request, PATHS, self.auth, self.now_ms())
        if signed is None:
            return None
        key, query = signed
        since = query.get("since")
        if since is not None and not (since.isascii() and since.isdigit() and len(since) <= 18):
            raise CeresError(ErrorCode.INVALID_VALUE, "since must be a notice seq", "since")
        return NotifyListener(self, key.product.name, key.api_key, int(since) if since is not None else None)

    def format(self, ev: OrderEvent | PositionEvent) -> bytes:
        if isinstance(ev, PositionEvent):
            return codec.encode_json(position_notice(ev))
        return codec.encode_json(order_notice(ev, self.tz))

    # --- subscribers --------------------------------------------------------------------
    def subscribe(self, sub: NotifyListener) -> None:
        if sub.since is not None:
            ring = self.rings.get(sub.product, ())
            # the replay (or, with nothing retained, the live stream) starts after ``first``
            first = ring[0].nseq - 1 if ring else self.delivered.get(sub.product, 0)
            if sub.since < first:
                sub.send_text(codec.encode_json({
                    "messageType": "0",
                    "info": f"notices after {sub.since} are not all retained; replay starts after {first}",
                    "seq": first}))
            for ev in ring:
                if ev.nseq > sub.since:
                    sub.send_text(self.format(ev))
        self.subs.setdefault(sub.product, set()).add(sub)

    def unsubscribe(self, sub: NotifyListener) -> None:
        subs = self.subs.get(sub.product)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self.subs[sub.product]

    # --- events (a dispatcher subscription, after durability) ---------------------------------
    def subscription(self) -> Subscription:
        return ((OrderEvent, PositionEvent), self.on_notices)

    def on_notices(self, events: list[OrderEvent | PositionEvent]) -> None:
        """Order and position events, in the order the engine numbered them."""
        rings = self.rings
        subs = self.subs
        retention = self.retention
        for ev in events:
            product = ev.product if isinstance(ev, PositionEvent) else ev.spec.product
            ring = rings.get(product)
            if ring is None:
                ring = rings[product] = deque(maxlen=retention)
            ring.append(ev)
            self.delivered[product] = ev.nseq
            targets = subs.get(product)
            if targets:
                data = self.format(ev)
                for sub in list(targets):
                    sub.send_text(data)
                    self.sent += 1
