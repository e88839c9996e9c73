"""Token bucket per api_key: a burst, then the refill rate; 0 disables it."""

from __future__ import annotations

import pytest

from ceres.domain.errors import CeresError, ErrorCode
from ceres.gateway.ratelimit import RateLimiter


def test_burst_then_refill_per_key():
    lim = RateLimiter(rate=10, burst=3)
    for _ in range(3):
        lim.check("k1", 100.0)
    with pytest.raises(CeresError) as info:
        lim.check("k1", 100.0)
    assert info.value.error is ErrorCode.RATE_LIMITED and info.value.code == "429"
    lim.check("k2", 100.0)            # other keys have their own bucket
    lim.check("k1", 100.15)           # 0.15 s at 10/s refills 1.5 tokens: one request
    with pytest.raises(CeresError):
        lim.check("k1", 100.15)
    for _ in range(3):                # a long pause refills up to the burst, not beyond
        lim.check("k1", 200.0)
    with pytest.raises(CeresError):
        lim.check("k1", 200.0)


def test_zero_rate_means_no_limit():
    lim = RateLimiter(rate=0, burst=0)
    for _ in range(10_000):
        lim.check("k", 1.0)
