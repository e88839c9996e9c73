"""Recently changed orders per product, in memory (the last ``per_product`` of each).

Fed by the dispatcher after each batch is durable, it answers order queries by id and the
cancel error classification (finished vs unknown) without waiting for the SQLite history
writer; anything older comes from the projection store. It holds the latest
:class:`~ceres.domain.events.OrderEvent` of each order: a snapshot of its state at that
event, which is exactly what the history row holds.
"""

from __future__ import annotations

from collections import OrderedDict

from ceres.domain.events import OrderEvent
from ceres.pipeline.dispatch import Subscription


class RecentOrders:
    def __init__(self, per_product: int = 1000) -> None:
        self.per_product = per_product
        self.by_product: dict[str, OrderedDict[int, OrderEvent]] = {}

    def subscription(self) -> Subscription:
        return ((OrderEvent,), self.on_orders)

    def on_orders(self, events: list[OrderEvent]) -> None:
        by_product = self.by_product
        limit = self.per_product
        for ev in events:
            spec = ev.spec
            recent = by_product.get(spec.product)
            if recent is None:
                recent = by_product[spec.product] = OrderedDict()
            oid = spec.oid
            if oid in recent:
                recent.move_to_end(oid)
            recent[oid] = ev
            if len(recent) > limit:
                recent.popitem(last=False)

    def get(self, product: str, oid: int) -> OrderEvent | None:
        recent = self.by_product.get(product)
        return None if recent is None else recent.get(oid)
