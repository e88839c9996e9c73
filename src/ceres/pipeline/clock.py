"""The wall clock of the I/O shell: milliseconds since the Unix epoch.

Only the shell reads it (the sequencer stamps commands with it; transports use it for
timestamps and market data); the engine never does — time reaches it on commands.
"""

from __future__ import annotations

import time


def wall_ms() -> int:
    return time.time_ns() // 1_000_000
