"""The readers' half of the epoch fence (issue 12; ``shared/reference/scale-out.md``).

``Nats-Expected-Last-Sequence`` refuses a deposed writer's first frame after a new leader
wrote, but the deposed writer's *later* in-flight frames can match the new tail and be
stored (shown by ``tests/cluster/test_frame_publisher.py``). Their writer never reports
them durable (it stops at its first refusal), and readers skip them: a frame whose epoch is
older than the newest epoch already read is not part of the journal.
"""

from __future__ import annotations


class EpochFence:
    def __init__(self, newest: int = 0) -> None:
        self.newest = newest

    def admit(self, epoch: int) -> bool:
        """Whether a frame of ``epoch``, read after everything before it, is in the journal."""
        if epoch < self.newest:
            return False
        self.newest = epoch
        return True
