"""The clock a pipeline stage paces itself by, injectable so tests can step it.

`MONOTONIC` is the real one. A test passes its own `Clock` whose `wait` moves
time forward instead of sleeping, and asserts the exact schedule (the way
`AccountLimiter(clock=...)` is tested).
"""

from __future__ import annotations

import math
import time
from typing import Protocol

import anyio


class Clock(Protocol):
    def now(self) -> float:
        """Seconds on a monotonic scale."""
        ...

    async def wait(self, event: anyio.Event, timeout_s: float | None) -> None:
        """Return when `event` is set or `timeout_s` has passed (None: no timeout)."""
        ...


class MonotonicClock:
    def now(self) -> float:
        return time.monotonic()

    async def wait(self, event: anyio.Event, timeout_s: float | None) -> None:
        with anyio.move_on_after(math.inf if timeout_s is None else timeout_s):
            await event.wait()


MONOTONIC: Clock = MonotonicClock()
