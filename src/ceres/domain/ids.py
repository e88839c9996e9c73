"""Identifiers for orders (``system_oid``), fills (``system_tid``) and positions (``dealId``).

An id is ``((time_ms - ID_EPOCH_MS) << 22) | n``, snowflake style, where ``time_ms`` is the
time carried by the command that created it. The engine hands them out through
:class:`IdGen`, which also guarantees strict increase: the next id is
``max(last + 1, time_part)``. So ids are unique, sort in creation order, carry their
creation time to the millisecond, and depend only on the journaled command stream
(sequence order and command times), so a replay reproduces every id.

With the epoch at 2018-01-01 UTC, ids are 18 digits from October 2018 and 19 digits from
2025-07-22 until September 2087 (``2**63`` is not reached before then): the 18-19 digits of
API.md (its example ``125520129039151104`` decodes to 2018-12-13).
"""

from __future__ import annotations

ID_EPOCH_MS = 1514764800000  # 2018-01-01T00:00:00Z
ID_SHIFT = 22
ID_MAX = 2**63 - 1


def id_floor(time_ms: int) -> int:
    """The smallest id that can be issued at ``time_ms``."""
    return (time_ms - ID_EPOCH_MS) << ID_SHIFT


def id_time_ms(ident: int) -> int:
    """The creation time (ms) encoded in an id."""
    return (ident >> ID_SHIFT) + ID_EPOCH_MS


class IdGen:
    """Strictly increasing id source; its only state is the last id issued."""

    __slots__ = ("last",)

    def __init__(self, last: int = 0) -> None:
        self.last = last

    def next(self, time_ms: int) -> int:
        floor = (time_ms - ID_EPOCH_MS) << ID_SHIFT
        last = self.last + 1
        ident = floor if floor > last else last
        self.last = ident
        return ident
