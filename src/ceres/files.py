"""Files Ceres writes itself (journal segments, snapshots, the keyring, the master key, the
history database, the lock): private to the server's user, and replaced atomically.

``FILE_MODE`` is 0600 for every one of them (docs/security.md). ``write_replacing`` puts
new contents in place so that a crash leaves the old file or the new one, never a mix;
``fsync_dir`` makes a created, renamed or removed name durable.
"""

from __future__ import annotations

import os
from pathlib import Path

FILE_MODE = 0o600


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_replacing(final: Path, tmp: Path, data: bytes) -> None:
    """Put ``data`` at ``final`` atomically: write ``tmp``, fsync it, rename it over
    ``final``, fsync the directory. A crash leaves the old file or the new one (and
    perhaps ``tmp``), never a mix."""
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, final)
    fsync_dir(final.parent)
