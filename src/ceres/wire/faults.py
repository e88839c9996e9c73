"""Unexpected exceptions (bugs) on any port, counted and logged without flooding the log.

Every edge that catches an exception it did not expect (REST and its transport, the
19001, 19003 and 18003 sockets and their upgrades, market REST) reports it here, then
answers the client with the internal-error reply of its protocol (500 with the
envelope) and keeps serving. Per exception kind (its class name):

* a counter, exported by ``/metrics`` as ``ceres_internal_errors_total{kind=...}``;
* at most one log line per ``interval_s`` (60 s): the first occurrence of the
  interval, with its traceback, and how many of that kind were not logged since the
  previous line. A thousand identical failures make one line, not a thousand
  tracebacks.

:data:`FAULTS` is the process-wide registry the edges use (like the log it writes to):
``report(exc, where)`` directly, or ``@guarded(where)`` around a function whose bugs
should become ``CeresError(INTERNAL)``. Tests build their own :class:`Faults` with a fake
clock.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from ceres.domain.errors import CeresError, ErrorCode

log = logging.getLogger("ceres.faults")
LOG_INTERVAL_S = 60.0
F = TypeVar("F", bound=Callable[..., Any])


class Faults:
    def __init__(self, *, interval_s: float = LOG_INTERVAL_S, clock: Callable[[], float] = time.monotonic,
                 logger: logging.Logger = log) -> None:
        self.interval_s = interval_s
        self.clock = clock
        self.log = logger
        self.counts: dict[str, int] = {}
        self._logged_at: dict[str, float] = {}
        self._unlogged: dict[str, int] = {}

    def report(self, exc: BaseException, where: str) -> None:
        """Count ``exc`` (raised while serving ``where``, e.g. ``"REST GET /api/v1/..."``)
        and log it unless its kind was logged less than ``interval_s`` ago."""
        kind = type(exc).__name__
        total = self.counts[kind] = self.counts.get(kind, 0) + 1
        now = self.clock()
        last = self._logged_at.get(kind)
        if last is not None and now - last < self.interval_s:
            self._unlogged[kind] = self._unlogged.get(kind, 0) + 1
            return
        unlogged = self._unlogged.pop(kind, 0)
        self._logged_at[kind] = now
        self.log.error("internal error %s in %s: %s (%d of this kind so far, %d not logged since the last line; "
                       "logged at most every %.0f s)", kind, where, exc, total, unlogged, self.interval_s,
                       exc_info=exc)


FAULTS = Faults()


def report(exc: BaseException, where: str) -> None:
    """Report to the process-wide registry (:data:`FAULTS`)."""
    FAULTS.report(exc, where)


def guarded(where: str) -> Callable[[F], F]:
    """Decorator: an unexpected exception of the function is reported and becomes
    ``CeresError(INTERNAL)``, which the caller answers like any refusal (a WebSocket
    upgrade: HTTP 500 with the envelope); a CeresError passes through."""

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except CeresError:
                raise
            except Exception as exc:
                report(exc, where)
                raise CeresError(ErrorCode.INTERNAL) from None

        return call  # type: ignore[return-value]

    return wrap
