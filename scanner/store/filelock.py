"""One run at a time per history database: an advisory lock on a file beside it.

``flock`` locks belong to the open file description, so the kernel drops the lock when the
process ends however it ends (SIGKILL included): a crashed run never leaves a stale lock
behind, and the lock file itself is left in place on purpose (removing it would race with a
process that has just opened it).
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

POLL_S = 0.2


class Locked(Exception):
    """Another process holds the lock; the message says which, where it can."""


class FileLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self, wait_s: float = 0.0) -> None:
        """Take the lock, waiting up to ``wait_s`` seconds for it; raises Locked, or OSError."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _read_holder(fd)
                    os.close(fd)
                    raise Locked(f"pid {holder}" if holder else "another process") from None
                time.sleep(min(POLL_S, max(0.0, deadline - time.monotonic())))
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                os.ftruncate(fd, 0)
            finally:
                os.close(fd)  # closing drops the flock


def _read_holder(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
