"""Amending contract orders (issue 13): an opening order's reserved margin and fee reserve
follow its new terms exactly (the same as a fresh order's at those terms), also after a
partial fill; a closing order's new volume is held on its position and may not exceed what
is left to close. Every harness is checked for consistency and a snapshot round trip."""

from __future__ import annotations

import pytest

from ceres.domain import commands as C
from ceres.domain.errors import ErrorCode
from contract_helpers import contract_harness, perp

P = 300_000  # 30000.0 USDT


@pytest.fixture
def h(make_harness):
    return make_harness(lambda: contract_harness(perp()))


def test_an_opening_orders_reservation_follows_its_new_terms(h) -> None:
    oid = h.open_long("alice", P - 1000, 10, lever=10)
    h.apply(C.Amend("alice", oid, P - 2000, 6))
    h.open_long("bob", P - 2000, 6, lever=10)  # a fresh order at the new terms
    assert h.cbal("alice")[1] == h.cbal("bob")[1]
    h.open_short("carol", P - 2000, 3)  # fills 3 of alice's (first in the level)
    h.apply(C.Amend("alice", oid, P - 3000, 0))  # the remaining 3 move down
    assert h.order(oid).vol == 6 and h.order(oid).filled == 3
    h.apply(C.Amend("alice", oid, 0, 9))  # and grow to 6 left
    h.apply(C.Cancel("alice", (oid,)))
    # nothing leaked either way: what stays frozen is exactly the open position's margin
    (pos,) = h.positions("alice")
    assert (pos.vol, h.cbal("alice")[1]) == (3, pos.margin)


def test_a_closing_order_cannot_grow_past_its_position(h) -> None:
    h.open_short("bob", P, 10)
    long = h.open_long("alice", P, 10)
    deal = h.deal_of(long)
    (close,) = h.close_long("alice", P + 5000, 4, deal_id=deal)
    assert h.pos(deal).closing == 4
    h.apply(C.Amend("alice", close, 0, 10))
    assert h.pos(deal).closing == 10
    assert h.reject(C.Amend("alice", close, 0, 11)).error == ErrorCode.CLOSE_EXCEEDS_POSITION
    h.apply(C.Amend("alice", close, P + 6000, 2))
    assert h.pos(deal).closing == 2 and h.order(close).price == P + 6000
