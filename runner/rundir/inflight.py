"""A run's submits in flight (sent, answer not yet in its ledger), for the other runs.

Between the send of a submit and the answer in its ledger, a run owns a task
that no ledger shows. Another run's lookup of the same request must not take
it, so each run publishes those requests beside its registry entry
(`<entry>.inflight`: hex fingerprint -> unix time of the oldest send), written
before the request leaves and cleared once the answer is durable (or lost).
Rewritten in place under an exclusive flock (readers take it shared).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path
from typing import Any

import orjson


class InFlight:
    """This run's submits between their send and their recorded answer, published for
    the other runs' lookups (no-op outside the registry). Rewritten in place under an
    exclusive flock (readers take it shared): two syscalls more per change, no new file."""

    def __init__(self, path: Path | None = None):
        self.path = path
        self._sent: dict[bytes, list[float]] = {}
        self._fd = -1

    def add(self, fingerprint: bytes) -> None:
        self._sent.setdefault(fingerprint, []).append(time.time())
        self._publish()

    def remove(self, fingerprint: bytes) -> None:
        times = self._sent.get(fingerprint)
        if times:
            times.pop(0)
            if not times:
                del self._sent[fingerprint]
            self._publish()

    def _publish(self) -> None:
        if self.path is None:
            return
        if self._fd < 0:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        body = orjson.dumps({fp.hex(): min(times) for fp, times in self._sent.items()})
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            os.pwrite(self._fd, body, 0)
            os.ftruncate(self._fd, len(body))
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self.path is not None:
            with contextlib.suppress(OSError):
                self.path.unlink(missing_ok=True)
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def read_in_flight(path: Path) -> dict[str, Any]:
    """Another run's published submits in flight (hex fingerprint -> unix time sent)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return {}
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        raw = os.read(fd, 1 << 24)
    finally:
        os.close(fd)
    try:
        sent = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        return {}
    return sent if isinstance(sent, dict) else {}
