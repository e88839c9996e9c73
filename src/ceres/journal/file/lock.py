"""Ownership of a data directory: an exclusive ``flock`` on ``DATA_DIR/LOCK``.

The process that holds it (a server, or an offline command) is the only one that may
write the journal; the lock file records its pid. The lock goes with the process, so a
crash never leaves it held. The epoch is always 1: one machine, one writer.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from ceres.files import FILE_MODE
from ceres.pipeline.journal import JournalLocked


class FileOwnership:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / "LOCK"
        self._fd: int | None = None

    def acquire(self) -> int:
        """Take the exclusive lock; JournalLocked if a server or tool holds it."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise JournalLocked(f"{self.root} is in use by another Ceres process") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return 1

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def held_elsewhere(self) -> bool:
        if self._fd is not None or not self.path.exists():
            return False
        fd = os.open(self.path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
