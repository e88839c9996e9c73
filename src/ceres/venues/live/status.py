"""The Ceres order status of a unified ccxt order (``fetch_order``, ``create_order``, ``watch_orders``).

ccxt's parsers map each venue's own status word onto five unified ones (``parse_order_status`` in
``ccxt/async_support/<id>.py``, 4.5.90); the order manager then needs only ``status`` and ``filled``.
Venue words per row: Binance / OKX / HTX / Bitfinex (checked by ``tests/unit/venues/test_recorded.py``
against the replies in ``tests/fixtures/venues/<ccxt id>/fetch_order.json``):

=============================  ===================  =====================================================
ccxt ``status``, ``filled``    Ceres                venue words
=============================  ===================  =====================================================
open, 0                        3 SUBMITTED          NEW / live / submitted / ACTIVE
open, > 0                      4 PART_FILLED        PARTIALLY_FILLED / partially_filled / partial-filled /
                                                    PARTIALLY FILLED @ ...
closed                         5 FILLED             FILLED / filled / filled / EXECUTED @ ...
canceled or expired, 0         15 CANCELED          CANCELED, EXPIRED, EXPIRED_IN_MATCH / canceled,
                                                    mmp_canceled / canceled / CANCELED
canceled or expired, > 0       14 PART_CANCELED     CANCELED, EXPIRED (IOC) / canceled / partial-canceled /
                                                    CANCELED was: PARTIALLY FILLED @ ...
rejected                       6 FAILURE            REJECTED / (an error reply) / (an error reply) / RSN_DUST
None                           None                 - / the create reply / the create reply / a Bitfinex
                                                    order no longer active (``fetch_order`` parses ``[]``)
anything else                  None                 Bitfinex ``POSTONLY CANCELED`` (``IOC CANCELED`` too,
                                                    by the same lookup on the first word only)
=============================  ===================  =====================================================

``None`` means "not known from this reply": keep the current status and fetch the order. It is also
the answer for a status word ccxt did not map (it then passes the venue's own word through) and for
a canceled/expired order whose ``filled`` is unknown (14 and 15 cannot be told apart). An open order
whose ``filled`` is unknown counts as unfilled (3): fills arrive as trades. Amounts are read as
``Decimal`` from whatever ccxt gives (a string with ``number=str``), never through float.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from ceres.domain.enums import OrderStatus

__all__ = ["ceres_status", "filled_amount"]

_ENDED = ("canceled", "expired")


def filled_amount(order: Mapping[str, Any]) -> Decimal | None:
    """``order["filled"]`` as a Decimal, or None when missing or not a number."""
    value = order.get("filled")
    if value is None or isinstance(value, bool):
        return None
    try:
        filled = Decimal(str(value))
    except InvalidOperation:
        return None
    return filled if filled.is_finite() else None


def ceres_status(order: Mapping[str, Any]) -> OrderStatus | None:
    """The Ceres status (3, 4, 5, 6, 14, 15) of a unified ccxt order, or None when it cannot be told."""
    status = order.get("status")
    filled = filled_amount(order)
    if status == "open":
        return OrderStatus.PART_FILLED if filled is not None and filled > 0 else OrderStatus.SUBMITTED
    if status == "closed":
        return OrderStatus.FILLED
    if status in _ENDED:
        if filled is None:
            return None
        return OrderStatus.PART_CANCELED if filled > 0 else OrderStatus.CANCELED
    if status == "rejected":
        return OrderStatus.FAILURE
    return None
