"""``ceres_status``: a unified ccxt order's status and filled amount -> the Ceres order status."""

from __future__ import annotations

import pytest

from ceres.domain.enums import OrderStatus as S
from ceres.venues.live.status import ceres_status, filled_amount


@pytest.mark.parametrize(("status", "filled", "expected"), [
    ("open", "0", S.SUBMITTED), ("open", "0.00000000", S.SUBMITTED), ("open", None, S.SUBMITTED),
    ("open", "1e-8", S.PART_FILLED), ("open", "0.004", S.PART_FILLED),
    ("closed", "0.01", S.FILLED), ("closed", None, S.FILLED),
    ("canceled", "0", S.CANCELED), ("canceled", "0.004", S.PART_CANCELED), ("canceled", None, None),
    ("expired", "0.0", S.CANCELED), ("expired", "0.004", S.PART_CANCELED),
    ("rejected", "0", S.FAILURE),
    (None, None, None), ("POSTONLY CANCELED", "0", None), ("canceling", "0", None),
])
def test_status_and_filled_give_the_ceres_status(status, filled, expected):
    assert ceres_status({"status": status, "filled": filled}) == expected


@pytest.mark.parametrize(("filled", "expected"), [
    ("0.00400000", "0.004"), (0, "0"), ("nan", None), ("x", None), (True, None), (None, None),
])
def test_filled_is_read_as_a_finite_decimal(filled, expected):
    value = filled_amount({"filled": filled})
    assert (None if value is None else str(value.normalize())) == expected
