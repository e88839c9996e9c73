"""File descriptors: raise the process's limit, and derive how many connections fit.

Every accepted connection holds one file descriptor. Past ``RLIMIT_NOFILE`` the kernel
refuses ``accept`` (EMFILE), and also every file the server still has to open: a new
journal segment, a snapshot, a SQLite temporary file. So connections get a budget that
keeps a reserve for those:

    capacity = soft limit - descriptors open once the server is listening - FD_RESERVE

``FD_RESERVE`` (64) covers what opens later: the next journal segment and the snapshot
being written (with their directory handles), SQLite's journal and temporary files,
and the socket being refused while the server is full. Measured: a started server
(simulator on, 5 listening sockets) holds about 30 descriptors, so with the common soft
limit of 1,024 the capacity is about 930; :func:`raise_nofile_limit` first lifts the soft
limit to the hard one (often 524,288 or more), which no process needs permission for.
"""

from __future__ import annotations

import os
import resource

FD_RESERVE = 64
NR_OPEN = "/proc/sys/fs/nr_open"  # the kernel's ceiling when the hard limit is "unlimited"
MIN_CAPACITY = 16


def raise_nofile_limit() -> tuple[int, int]:
    """Lift the soft RLIMIT_NOFILE to the hard limit: ``(soft before, soft after)``."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard
    if hard == resource.RLIM_INFINITY:
        try:
            with open(NR_OPEN) as f:
                target = int(f.read())
        except (OSError, ValueError):
            target = 1 << 20
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            return soft, soft
        return soft, target
    return soft, soft


def open_fds() -> int:
    """Descriptors this process holds now (Linux ``/proc/self/fd``; elsewhere a guess)."""
    try:
        return len(os.listdir("/proc/self/fd")) - 1  # minus the one listdir itself holds
    except OSError:
        return 32


def connection_capacity(configured: int = 0, *, soft: int | None = None, in_use: int | None = None,
                        reserve: int = FD_RESERVE) -> int:
    """How many connections may be open at once: what the descriptors allow after the
    reserve, or ``configured`` when that is set (non-zero) and lower."""
    if soft is None:
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if soft == resource.RLIM_INFINITY:
            soft = 1 << 20
    used = open_fds() if in_use is None else in_use
    budget = max(MIN_CAPACITY, soft - used - reserve)
    return min(configured, budget) if configured > 0 else budget
