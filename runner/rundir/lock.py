"""One run per run directory: an fcntl lock the OS drops when the process dies."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from runner.errors import LockedError


class RunLock:
    def __init__(self, run_dir: Path):
        self.path = run_dir / ".lock"
        self._fd = -1

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "ignore").strip()
            os.close(fd)
            raise LockedError(
                str(self.path.parent), int(holder) if holder.isdigit() else None
            ) from None
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError:
            os.close(fd)  # a full or read-only disk: do not keep the lock
            raise
        self._fd = fd

    def held(self) -> bool:
        """Is a run holding this directory now? Asks without taking the lock."""
        if not self.path.exists():
            return False
        fd = os.open(self.path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
