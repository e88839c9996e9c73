"""Controls a product has over all its orders at once (issue 13): cancel all, and the
dead-man's switch.

* ``cancel_all``: every open order of the product that matches the filters (exchange,
  contract, side; empty / 0 for any), oldest first, in one command: a resting order leaves
  its book (status 14/15), a live venue's order moves to CANCELING (the venue is asked once
  this is durable). Orders already being cancelled at a venue are left out. Returns the ids.
* the dead-man's switch (``CancelAllAfter``): a deadline ``now + timeout_ms`` per product,
  optionally for one exchange; a new command replaces it, ``timeout_ms`` 0 clears it. When
  the engine's time reaches it (``tick``, on the journaled ``Tick`` the server submits when
  ``next_due`` says so, also right after a restart), the product's open orders there are
  cancelled with the reason ``42006`` and the deadline is cleared. Deadlines are part of the
  state (snapshots, replay), so a switch set before a crash fires after it.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import chain
from typing import TYPE_CHECKING

from ceres.domain import commands as C
from ceres.domain.enums import ReportKind, Side
from ceres.domain.errors import CeresError, ErrorCode
from ceres.domain.instruments import Instrument
from ceres.engine import contracts, lifetime, live, triggers
from ceres.engine.orders import LiveOrder, Order

if TYPE_CHECKING:
    from ceres.engine.core import Engine
    from ceres.engine.ledger import Product

MIN_TIMEOUT_MS = 1000
MAX_TIMEOUT_MS = 86_400_000
MAX_REASON = 256
MAX_EXCHANGE = 64
DEADMAN_REASON = ErrorCode.DEADMAN_FIRED.reason
CANCELLED = int(ReportKind.CANCELLED)
_SIDES = (0, int(Side.BUY), int(Side.SELL))


def check_reason(reason: str) -> None:
    if len(reason) > MAX_REASON:
        raise CeresError(ErrorCode.FIELD_TOO_LONG, f"a reason is at most {MAX_REASON} characters", "reason")


def cancelable(product: Product, exchange: str = "", contract: str = "", side: int = 0) -> list[Order | LiveOrder]:
    """The product's open orders a cancel applies to on ``exchange``, ``contract`` and ``side``
    ("" / 0: any), oldest first (a live venue's order already being cancelled is left out)."""
    orders: Iterable[Order | LiveOrder] = chain(product.open_orders.values(), product.live_orders.values())
    return sorted((o for o in orders if o.status in live.CANCELABLE
                   and (not exchange or o.spec.inst.exchange == exchange)
                   and (not contract or o.spec.inst.contract == contract) and (not side or o.spec.side == side)),
                  key=lambda o: o.spec.oid)


def cancel_all(engine: Engine, product: Product, exchange: str = "", contract: str = "", side: int = 0,
               reason: str = "") -> list[int]:
    if side not in _SIDES:
        raise CeresError(ErrorCode.INVALID_VALUE, "must be buy or sell", "entrust_bs")
    check_reason(reason)
    chosen = cancelable(product, exchange, contract, side)
    # --- decided: nothing below refuses ---------------------------------------------------
    touched: dict[tuple[str, str], Instrument] = {}
    for order in chosen:
        if isinstance(order, LiveOrder):
            live.cancel(engine, order, reason)
        elif order.spec.inst.is_contract:
            contracts.cancel(engine, order, CANCELLED, reason)
            touched[order.spec.inst.key] = order.spec.inst
        else:
            lifetime.cancel(engine, order, CANCELLED, reason)
    for inst in touched.values():
        triggers.check_triggers(engine, inst)
    return [o.spec.oid for o in chosen]


def set_deadman(engine: Engine, cmd: C.CancelAllAfter) -> int:
    """Arm, re-arm or clear (``timeout_ms`` 0) the product's switch; returns the deadline (0: none)."""
    product = engine.product(cmd.product)
    if not cmd.timeout_ms:
        engine.deadman.pop(product.name, None)
        return 0
    if not MIN_TIMEOUT_MS <= cmd.timeout_ms <= MAX_TIMEOUT_MS:
        raise CeresError(ErrorCode.INVALID_VALUE, f"must be 0 (off) or {MIN_TIMEOUT_MS}..{MAX_TIMEOUT_MS}",
                         "timeout_ms")
    if len(cmd.exchange) > MAX_EXCHANGE:
        raise CeresError(ErrorCode.FIELD_TOO_LONG, f"at most {MAX_EXCHANGE} characters", "exchange")
    deadline = engine.now + cmd.timeout_ms
    engine.deadman[product.name] = (deadline, cmd.exchange)
    return deadline


def tick(engine: Engine) -> None:
    """Fire every switch whose deadline has come."""
    now = engine.now
    for name, (deadline, exchange) in sorted(engine.deadman.items()):
        if now >= deadline:
            del engine.deadman[name]
            cancel_all(engine, engine.products[name], exchange, reason=DEADMAN_REASON)


def next_due(engine: Engine) -> int | None:
    return min((deadline for deadline, _ in engine.deadman.values()), default=None)
