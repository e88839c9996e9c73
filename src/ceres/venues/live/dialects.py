"""What a venue needs that ccxt does not do for it: the client order id Ceres gives an order,
how an order is found by it, and how an order's state is read once it has ended.

* Most venues (Binance, OKX, HTX): the client id ``cer<system_oid>`` (letters and digits, 22
  characters: within Binance's 36, OKX's 32 and HTX's 64), found with ccxt's
  ``fetch_order_with_client_order_id``, states from ``fetch_order``.
* Bitfinex: ``cid`` must be an integer below 2**45, unique per UTC day; Ceres' ids are
  ``(ms << 22) | n``, so ``cid = ms_of_day * 2**17 + n`` (unique while fewer than 131,072 ids
  share a millisecond). ccxt 4.5.90's ``fetch_order_with_client_order_id`` fails on Bitfinex
  before sending (``decimal.InvalidOperation``), and its ``fetch_order`` sees active orders
  only (an ended order comes back empty): the order is looked for among the open orders and
  the closed ones since shortly before it was placed, and an ended order is read with
  ``fetch_closed_order``.
"""

from __future__ import annotations

from typing import Any

import ccxt.async_support as ccxt_async  # type: ignore[import-untyped]

from ceres.domain.ids import ID_SHIFT, id_time_ms

DAY_MS = 86_400_000
LOOKBACK_MS = 60_000


def client_id(oid: int) -> str:
    return f"cer{oid}"


class Dialect:
    def client_id(self, oid: int) -> Any:
        """The value passed to ccxt as ``clientOrderId``."""
        return client_id(oid)

    def client_key(self, oid: int) -> str:
        """The ``clientOrderId`` ccxt parses back from the venue's orders."""
        return str(self.client_id(oid))

    async def find(self, client: Any, symbol: str, oid: int) -> dict[str, Any]:
        """The venue's order placed with this client id; ``ccxt.OrderNotFound`` if none."""
        return await client.fetch_order_with_client_order_id(self.client_id(oid), symbol)  # type: ignore[no-any-return]

    async def state(self, client: Any, venue_oid: str, symbol: str) -> dict[str, Any]:
        return await client.fetch_order(venue_oid, symbol)  # type: ignore[no-any-return]


class Bitfinex(Dialect):
    def client_id(self, oid: int) -> int:
        n = oid & ((1 << ID_SHIFT) - 1)
        return (id_time_ms(oid) % DAY_MS) * (1 << 17) + (n & ((1 << 17) - 1))

    async def find(self, client: Any, symbol: str, oid: int) -> dict[str, Any]:
        key = self.client_key(oid)
        for order in [*await client.fetch_open_orders(symbol),
                      *await client.fetch_closed_orders(symbol, id_time_ms(oid) - LOOKBACK_MS)]:
            if str(order.get("clientOrderId")) == key:
                return order  # type: ignore[no-any-return]
        raise ccxt_async.OrderNotFound(f"bitfinex: no order with cid {key}")

    async def state(self, client: Any, venue_oid: str, symbol: str) -> dict[str, Any]:
        found = await client.fetch_order(venue_oid, symbol)
        if found.get("id") is not None:
            return found  # type: ignore[no-any-return]
        return await client.fetch_closed_order(venue_oid, symbol)  # type: ignore[no-any-return]


def dialect(exchange: str) -> Dialect:
    return Bitfinex() if exchange == "BITFINEX" else Dialect()
