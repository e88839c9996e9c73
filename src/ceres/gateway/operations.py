"""The operations table: every trading operation once — its request, the permission it
needs, its ``biz_type`` on the WebSocket and its REST routes (with the ``operationId``
that ``docs/openapi.yaml`` gives each route).

REST (``gateway.http``) and the biz_type socket (``gateway.ws_trade``) build their
routing from this table, and a test checks it against the OpenAPI document. The handler
of an operation is the :class:`~ceres.gateway.handlers.Handlers` method of the same name.
Adding an operation is one entry here plus its handler (and its documentation).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from ceres.domain.enums import Permission
from ceres.domain.errors import CeresError, ErrorCode
from ceres.engine.ledger import ApiKey
from ceres.gateway import protocol as P

API = "/api/v1/"
Route = tuple[str, str, str]
"""``(HTTP method, path, operationId)``."""


@dataclass(frozen=True)
class Operation:
    name: str
    request: type[P.Request]
    permission: Permission
    biz_type: int | None
    routes: tuple[Route, ...]
    reads_state: bool = False
    """The reply shows live engine state: it is held until everything applied before it is
    durable (so no reply shows what a crash could take back)."""


READ, TRADE = Permission.READ, Permission.TRADE

OPERATIONS: tuple[Operation, ...] = (
    Operation("place", P.PlaceReq, TRADE, 11, (("POST", API + "trade/input", "place"),)),
    Operation("cancel", P.CancelReq, TRADE, 12, (("DELETE", API + "trade/order/{ids}", "cancel"),
                                                 ("DELETE", API + "trade/order", "cancelByQuery"))),
    Operation("pairs", P.PairsReq, READ, 13, (("GET", API + "basic/contracts", "pairs"),)),
    Operation("account", P.AccountReq, READ, 14, (("GET", API + "trade/account", "account"),), True),
    Operation("orders", P.OrdersReq, READ, 15, (("GET", API + "trade/order", "orders"),), True),
    Operation("positions", P.PositionsReq, READ, 16, (("GET", API + "trade/position", "positions"),), True),
    Operation("fills", P.FillsReq, READ, 17, (("GET", API + "trade/trans", "fills"),)),
    Operation("close", P.PlaceReq, TRADE, None, (("POST", API + "trade/close", "close"),)),
    Operation("open_orders", P.OpenOrdersReq, READ, None, (("GET", API + "trade/open_orders", "openOrders"),
                                                           ("POST", API + "trade/open_orders", "openOrdersPost")),
              True),
    Operation("batch_place", P.BatchPlaceReq, TRADE, 21, (("POST", API + "trade/batch_input", "batchInput"),)),
    Operation("batch_cancel", P.BatchCancelReq, TRADE, 22, (("DELETE", API + "trade/batch_order", "batchCancel"),)),
    Operation("cancel_all", P.CancelAllReq, TRADE, 23, (("POST", API + "trade/cancel_all", "cancelAll"),)),
    Operation("cancel_all_after", P.CancelAllAfterReq, TRADE, 24,
              (("POST", API + "trade/cancel_all_after", "cancelAllAfter"),)),
    Operation("amend", P.AmendReq, TRADE, 25, (("POST", API + "trade/amend", "amend"),)),
)

SERVICE_ROUTES: tuple[Route, ...] = (("GET", "/health", "health"), ("GET", "/metrics", "metrics"))
"""Unsigned operational routes on the REST port (``ceres.server``)."""

BY_BIZ_TYPE = {op.biz_type: op for op in OPERATIONS if op.biz_type is not None}

Handler = Callable[[Any, Any], Coroutine[Any, Any, Any]]


def bind(handlers: object) -> dict[str, tuple[Operation, Handler]]:
    """Operation name -> (operation, its handler method on ``handlers``); the handlers of
    ``reads_state`` operations are held until durable when ``handlers.durable`` is set."""
    durable = getattr(handlers, "durable", None)
    return {op.name: (op, _held(getattr(handlers, op.name), durable) if op.reads_state and durable else
                      getattr(handlers, op.name)) for op in OPERATIONS}


def _held(handler: Handler, durable: Callable[[], Coroutine[Any, Any, None]]) -> Handler:
    async def held(key: Any, req: Any) -> Any:
        result = await handler(key, req)
        await durable()  # what ``result`` shows is at most what has been applied by now
        return result

    return held


def authorize(key: ApiKey, op: Operation) -> None:
    """PERMISSION_DENIED unless ``key`` may run ``op``."""
    if not key.permissions & op.permission:
        raise CeresError(ErrorCode.PERMISSION_DENIED,
                         f"this api_key lacks the {op.permission.name.lower()} permission")
