"""Per-key request rate limit (token bucket), shared by REST and the biz_type socket.

Each API key has a bucket of ``burst`` tokens refilled at ``rate`` per second; a request
takes one, and with none left it is refused with 429 (``RATE_LIMITED``; REST answers HTTP
429 with the envelope, the socket an error reply and stays open). ``rate`` 0 disables the
limit. Time is passed in (seconds, monotonic).
"""

from __future__ import annotations

from ceres.domain.errors import CeresError, ErrorCode


class RateLimiter:
    __slots__ = ("_buckets", "burst", "rate")

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = max(burst, 1.0)
        self._buckets: dict[str, list[float]] = {}  # api_key -> [tokens, last time]

    def check(self, api_key: str, now: float) -> None:
        if not self.rate:
            return
        bucket = self._buckets.get(api_key)
        if bucket is None:
            bucket = self._buckets[api_key] = [self.burst, now]
        tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        if tokens < 1.0:
            bucket[0] = tokens
            raise CeresError(ErrorCode.RATE_LIMITED,
                             f"more than {self.rate:g} requests per second for this api_key")
        bucket[0] = tokens - 1.0
