"""The biz_type WebSocket (port 19001, paths ``/`` and ``/ws/trade``).

Handshake ``?api_key=KEY&sign=SIGN`` (refused with HTTP 401 and the envelope). Text
``ping`` is answered with text ``pong``. Every other text message is a JSON request with
``biz_type`` 11-17 (and the optional ``req_id`` extension), routed to the same handler
as its REST twin; the reply is the REST envelope plus ``biz_type`` (and ``req_id``).

Replies leave in request order per connection (a reply waits for the ones before it),
which covers both rules of API.md: ordered without ``req_id``, echoed with it.
Errors never close the connection, except abuse: a message over the size limit (1009),
more than ``max_pending`` unanswered requests (1008), or a client that stops reading.
Every malformed message gets an error reply (``biz_type`` and ``req_id`` echoed once
read): not JSON, not UTF-8, a binary frame, nested or wide beyond ``ceres.wire.bounds``,
a field of the wrong type or length (``ceres.gateway.protocol``). A bug while handling
a message answers 500 (counted and logged by ``ceres.wire.faults``); the socket stays.

Requests run as lightweight coroutine drivers instead of asyncio Tasks: a handler that
finishes without waiting answers at once; one that waits on a future (the sequencer's
durability future) resumes from that future's callback.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

from picows import WSCloseCode

from ceres.domain.errors import CeresError, ErrorCode
from ceres.engine.ledger import ApiKey
from ceres.gateway import protocol as P
from ceres.gateway.auth import Authenticator
from ceres.gateway.handlers import Handlers
from ceres.gateway.handshake import signed_upgrade
from ceres.gateway.operations import BY_BIZ_TYPE, authorize, bind
from ceres.gateway.ratelimit import RateLimiter
from ceres.wire import codec, faults
from ceres.wire.ws import BaseListener, Registry, listener_factory_guard

log = logging.getLogger("ceres.ws.trade")
BIZ_TYPE_RANGE = f"{min(BY_BIZ_TYPE)}-{max(BY_BIZ_TYPE)}"
PATHS = ("/", "/ws/trade")
PING = b"ping"
PLACING = frozenset(bt for bt, op in BY_BIZ_TYPE.items() if op.name in ("place", "batch_place"))
"""The biz_types whose orders a cancel-on-disconnect connection cancels when it closes (11, 21)."""
PRUNE_PLACED = 10_000
PONG = b"pong"


class _Slot:
    """A place in the connection's reply order; ``data`` is set when the reply is ready."""

    __slots__ = ("data",)

    def __init__(self, data: bytes | None = None) -> None:
        self.data = data


class TradeListener(BaseListener):
    name = "trade"

    def __init__(self, server: TradeServer, key: ApiKey, cancel_on_disconnect: bool = False) -> None:
        super().__init__(max_message=server.max_message, max_buffer=server.max_buffer,
                         registry=server.registry, api_key=key.api_key)
        self.server = server
        self.key = key
        self.slots: deque[_Slot] = deque()
        self.cancel_on_disconnect = cancel_on_disconnect
        self.placed: set[int] = set()  # orders placed through this connection (cancel on disconnect)

    # --- cancel on disconnect ------------------------------------------------------------
    def on_placed(self, result: Any) -> None:
        """Remember the ids a place (11) or batch place (21) reply names; once the connection
        has closed, cancel them at once (their placement was in flight at the close)."""
        ids = {int(i) for row in (result if isinstance(result, list) else [result])
               for i in str(row.get("system_oid") or "").split(",") if i}
        if self.closed:
            self.server.cancel_later(self.key, ids)
            return
        self.placed |= ids
        if len(self.placed) > PRUNE_PLACED:  # forget what has ended
            self.placed = {oid for oid in self.placed if self.server.handlers.is_open(self.key, oid)}

    def on_close(self) -> None:
        if self.cancel_on_disconnect and self.placed:
            placed, self.placed = self.placed, set()
            self.server.cancel_later(self.key, placed)

    # --- replies in order --------------------------------------------------------------
    def _reply(self, slot: _Slot, data: bytes) -> None:
        slot.data = data
        self.release()

    def release(self) -> None:
        """Send the replies that are ready, in request order."""
        slots = self.slots
        while slots:
            data = slots[0].data
            if data is None:
                return
            slots.popleft()
            self.send_text(data)

    def _immediate(self, data: bytes) -> None:
        if self.slots:
            self.slots.append(_Slot(data))
            self.release()
        else:
            self.send_text(data)

    # --- requests ----------------------------------------------------------------------
    def on_message(self, data: bytes, is_text: bool) -> None:
        if self.closed:
            return
        if not is_text:
            self._immediate(codec.error(CeresError(ErrorCode.BINARY_FRAME)))
            return
        if data == PING:
            self._immediate(PONG)
            return
        if len(self.slots) >= self.server.max_pending:
            log.warning("trade %s flooding (%d unanswered); closing", self.peer, len(self.slots))
            self.close(WSCloseCode.POLICY_VIOLATION, "too many unanswered requests")
            return
        biz_type = req_id = None
        try:
            obj = codec.decode_json_object(data, "message")  # bounded: size, depth, members
            if "req_id" in obj:
                req_id = P.parse_req_id(obj)
            raw = obj.get("biz_type")
            if isinstance(raw, int) and not isinstance(raw, bool):
                biz_type = raw  # echoed even when unknown
            biz_type = _biz_type(raw)
            op, handler = self.server.by_biz_type[biz_type]
            self.server.check_key(self.key)
            self.server.limiter.check(self.key.api_key, time.monotonic())
            req = P.parse_request(op.request, obj)
            authorize(self.key, op)
            coro = handler(self.key, req)
        except CeresError as err:
            self.server.on_reject(err.code)
            self._immediate(codec.error(err, biz_type, req_id))
            return
        except Exception as exc:  # a bug: the client gets 500, the socket stays open
            faults.report(exc, "19001 message")
            self._immediate(codec.error(CeresError(ErrorCode.INTERNAL), biz_type, req_id))
            return
        request = _Request(self, coro, biz_type, req_id)
        self.slots.append(request)
        request.step()

    def on_too_big(self) -> None:
        self._immediate(codec.error(CeresError(ErrorCode.PAYLOAD_TOO_LARGE)))


def _biz_type(value: Any) -> int:
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if value is None:
        raise CeresError(ErrorCode.MISSING_FIELD, "biz_type is required", "biz_type")
    if isinstance(value, bool) or not isinstance(value, int):
        raise CeresError(ErrorCode.INVALID_TYPE, "must be an integer", "biz_type")
    if value not in BY_BIZ_TYPE:
        raise CeresError(ErrorCode.UNKNOWN_BIZ_TYPE, f"unknown biz_type {value} ({BIZ_TYPE_RANGE})", "biz_type")
    return value


class _Request(_Slot):
    """One request: its place in the reply order, and the driver of its handler coroutine
    (lighter than an asyncio Task: a handler that finishes without waiting answers at
    once; one that waits on a future resumes from that future's callback)."""

    __slots__ = ("biz_type", "coro", "listener", "req_id")

    def __init__(self, listener: TradeListener, coro: Coroutine[Any, Any, Any], biz_type: int | None,
                 req_id: str | None) -> None:
        self.data = None
        self.listener = listener
        self.coro: Coroutine[Any, Any, Any] | None = coro
        self.biz_type = biz_type
        self.req_id = req_id

    def step(self, _fut: Any = None) -> None:
        coro = self.coro
        if coro is None:
            return
        try:
            waited = coro.send(None)
        except StopIteration as stop:
            self.data = codec.ok(stop.value, self.biz_type, self.req_id)
            if self.biz_type in PLACING and self.listener.cancel_on_disconnect:
                self.listener.on_placed(stop.value)
        except CeresError as err:
            self.listener.server.on_reject(err.code)
            self.data = codec.error(err, self.biz_type, self.req_id)
        except Exception as exc:
            faults.report(exc, f"19001 biz_type {self.biz_type}")
            self.data = codec.error(CeresError(ErrorCode.INTERNAL), self.biz_type, self.req_id)
        else:
            if waited is None:  # a bare yield (asyncio.sleep(0)): resume next iteration
                asyncio.get_running_loop().call_soon(self.step)
            else:
                waited._asyncio_future_blocking = False
                waited.add_done_callback(self.step)
            return
        self.coro = None
        self.listener.release()


class TradeServer:
    def __init__(self, handlers: Handlers, auth: Authenticator, registry: Registry, *,
                 now_ms: Callable[[], int], max_message: int = 65536, max_pending: int = 10000,
                 max_buffer: int = 8 << 20, on_reject: Callable[[str], None] | None = None,
                 limiter: RateLimiter | None = None) -> None:
        self.handlers = handlers
        self.auth = auth
        self.registry = registry
        self.now_ms = now_ms
        self.max_message = max_message
        self.max_pending = max_pending
        self.max_buffer = max_buffer
        self.limiter = limiter or RateLimiter(0, 0)
        ops = bind(handlers)
        self.by_biz_type = {bt: ops[op.name] for bt, op in BY_BIZ_TYPE.items()}
        self.on_reject = on_reject or (lambda code: None)
        self.factory = listener_factory_guard(self._upgrade, self.on_reject)
        self._cancelling: set[asyncio.Task[Any]] = set()

    def cancel_later(self, key: ApiKey, ids: set[int]) -> None:
        """Cancel (journaled, reason 42007) what is still open of ``ids``."""
        task = asyncio.ensure_future(self._cancel(key, ids))
        self._cancelling.add(task)
        task.add_done_callback(self._cancelling.discard)

    async def drain(self, timeout: float = 5.0) -> None:
        """At shutdown, once the connections are closed: let their cancels on disconnect be
        journaled before the journal closes."""
        await asyncio.sleep(0.05)  # the closes' disconnect callbacks run
        if self._cancelling:
            await asyncio.wait(list(self._cancelling), timeout=timeout)

    async def _cancel(self, key: ApiKey, ids: set[int]) -> None:
        try:
            done = await self.handlers.cancel_on_disconnect(key, ids)
        except CeresError as err:  # the journal cannot write now: the orders stay open
            log.error("cancel on disconnect for %s failed: %s", key.api_key, err.message)
        else:
            log.info("cancel on disconnect for %s: %d orders cancelled", key.api_key, len(done))

    def check_key(self, key: ApiKey) -> None:
        if key.revoked:
            raise CeresError(ErrorCode.AUTH_KEY_REVOKED)

    @faults.guarded("19001 upgrade")
    def _upgrade(self, request: Any) -> Any:
        signed = signed_upgrade(request, PATHS, self.auth, self.now_ms())
        if signed is None:
            return None
        key, query = signed
        return TradeListener(self, key, query.get("cancel_on_disconnect") == "1")
