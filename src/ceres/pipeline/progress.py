"""History reads wait for the projection: what the sequencer (the writer of the journal) and a
replica (a process following it, ``pipeline.replica``) share.

A query that reads the history store first waits (``projection_caught_up``) until the store
holds every command applied so far; while the store cannot write, it fails fast with
HISTORY_UNAVAILABLE instead. The background writer reports progress (``on_projected``) and
failures (``on_projection_failed``) on the loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ceres.domain.errors import CeresError, ErrorCode

Waiters = list[tuple[int, "asyncio.Future[None]"]]


class ProjectionProgress:
    seq: int
    projected_seq: int
    projection_failed: BaseException | None
    background: Any
    _loop: asyncio.AbstractEventLoop
    _projection_waiters: Waiters

    # --- projection catch-up (ProjectionSink) ----------------------------------------------
    def on_projected(self, seq: int) -> None:
        """Called on the loop when the projection has committed through ``seq`` (also the
        sign that a failing store writes again)."""
        if seq > self.projected_seq:
            self.projected_seq = seq
        self.projection_failed = None
        self._projection_waiters = wake(self._projection_waiters, self.projected_seq)

    def on_projection_failed(self, exc: BaseException) -> None:
        """The projection store cannot write (it retries): history reads fail fast with
        HISTORY_UNAVAILABLE instead of waiting, until it writes again."""
        self.projection_failed = exc
        waiters, self._projection_waiters = self._projection_waiters, []
        for _, fut in waiters:
            if not fut.done():
                fut.set_exception(self._history_refusal())

    async def projection_caught_up(self) -> None:
        """Wait until the projection holds every command applied so far (so a history
        query sees every command acknowledged before its reply, including commands
        pipelined earlier on the same connection whose acknowledgement is still waiting
        for the journal)."""
        target = self.seq
        if self.projected_seq >= target or self.background is None:
            return
        if self.projection_failed is not None:
            raise self._history_refusal()
        fut: asyncio.Future[None] = self._loop.create_future()
        self._projection_waiters.append((target, fut))
        await fut

    def _history_refusal(self) -> CeresError:
        return CeresError(ErrorCode.HISTORY_UNAVAILABLE,
                          f"{ErrorCode.HISTORY_UNAVAILABLE.default_message}: {self.projection_failed}")


def wake(waiters: Waiters, reached: int | None) -> Waiters:
    """Resolve the waiters whose target ``reached`` covers (all of them when None); return
    the rest."""
    rest = []
    for target, fut in waiters:
        if reached is None or target <= reached:
            if not fut.done():
                fut.set_result(None)
        else:
            rest.append((target, fut))
    return rest
