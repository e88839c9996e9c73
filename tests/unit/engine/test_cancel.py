"""Cancel: releases freezes, status 15 / 14, ownership and the 15-id limit."""

from __future__ import annotations

import pytest

from ceres.domain import commands as C
from ceres.domain.errors import CeresError, ErrorCode
from engine_helpers import BTC, USDT

P = 3_000_000


def test_cancel_unfilled_buy_releases_freeze_status_15(h) -> None:
    h.fund("alice", "USDT", 1000 * USDT)
    oid = h.buy("alice", P, 100)  # 0.01 BTC: freeze 3e10 (300 USDT) + 1.5e7
    assert h.bal("alice", "USDT") == (1000 * USDT, 30_015_000_000)
    res = h.cancel("alice", oid)
    assert (res.ok, res.failed) == ([oid], [])
    assert h.bal("alice", "USDT") == (1000 * USDT, 0)
    assert h.statuses(oid) == [3, 15]
    assert oid not in h.eng.open_orders and h.resting() == []


def test_cancel_partially_filled_sell_status_14(h) -> None:
    h.fund("alice", "USDT", 1000 * USDT)
    h.fund("bob", "BTC", BTC)
    ask = h.sell("bob", P, 100)
    h.buy("alice", P, 40)
    assert h.bal("bob", "BTC") == (BTC - 400_000, 600_000)
    h.cancel("bob", ask)
    assert h.statuses(ask) == [3, 4, 14]
    assert h.bal("bob", "BTC") == (BTC - 400_000, 0)


def test_cancel_partially_filled_buy_releases_the_rest(h) -> None:
    h.fund("alice", "USDT", 1000 * USDT)
    h.fund("bob", "BTC", BTC)
    bid = h.buy("alice", P, 100)
    h.sell("bob", P, 30)  # alice maker: pays 9e9 + floor(9e9 x 0.0005) = 9_004_500_000
    h.cancel("alice", bid)
    assert h.bal("alice", "USDT") == (1000 * USDT - 9_004_500_000, 0)
    assert h.final_status(bid) == 14


def test_cannot_cancel_someone_elses_order(h) -> None:
    h.fund("alice", "USDT", 100 * USDT)
    oid = h.buy("alice", P, 1)
    res = h.cancel("bob", oid)
    assert res.ok == [] and res.failed == [(oid, ErrorCode.ORDER_NOT_FOUND)]
    assert h.resting() == [(oid, 1, P, 1)]
    assert h.bal("alice", "USDT")[1] > 0


def test_unknown_finished_and_duplicate_ids_fail_individually(h) -> None:
    h.fund("alice", "USDT", 100 * USDT)
    a = h.buy("alice", P, 1)
    b = h.buy("alice", P - 1, 1)
    h.cancel("alice", a)
    res = h.cancel("alice", a, b, b, 12345)
    assert res.ok == [b]
    assert res.failed == [(a, ErrorCode.ORDER_NOT_FOUND), (b, ErrorCode.ORDER_NOT_FOUND),
                          (12345, ErrorCode.ORDER_NOT_FOUND)]
    assert h.bal("alice", "USDT") == (100 * USDT, 0)


def test_more_than_15_ids_is_rejected_whole(h) -> None:
    h.fund("alice", "USDT", 100 * USDT)
    ids = [h.buy("alice", P - i, 1) for i in range(16)]
    err = h.reject(C.Cancel("alice", tuple(ids)))
    assert (err.error, err.field) == (ErrorCode.TOO_MANY_IDS, "system_oid")
    assert len(h.eng.open_orders) == 16
    res = h.cancel("alice", *ids[:15])
    assert res.ok == ids[:15] and len(h.eng.open_orders) == 1


def test_cancel_for_unknown_product(h) -> None:
    with pytest.raises(CeresError) as info:
        h.cancel("mallory", 1)
    assert (info.value.error, info.value.field) == (ErrorCode.UNKNOWN_PRODUCT, "product")
