"""One limiter for every API call of the account (submit, poll, upload, token).

Pacing is aiolimiter's leaky bucket with a capacity of one call, so calls are
spread evenly instead of bursting a second's worth at once (a strict sliding
window would answer a burst with 40001). The rate itself comes from the
RateController, which reacts to 40001.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType

import anyio
from aiolimiter import AsyncLimiter

from runner.api.ratecontrol import AimdPolicy, RateController


class _PacedLimiter(AsyncLimiter):
    """An AsyncLimiter whose rate can change while tasks wait on it.

    aiolimiter caches the rate per second when built; this keeps the leaked
    level exact across a change by leaking at the old rate first.
    """

    def __init__(self, rate: float):
        super().__init__(1, 1.0 / rate)

    def set_rate(self, rate: float) -> None:
        if abs(1.0 / self.time_period - rate) < 1e-9:
            return
        self._leak()
        self.time_period = 1.0 / rate
        self._rate_per_sec = rate  # max_rate is 1, so per second == 1 / period
        self._wake_next()


class AccountLimiter:
    def __init__(
        self,
        qps: float,
        policy: AimdPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.clock = clock
        self.controller = RateController(qps, clock(), policy)
        self._bucket = _PacedLimiter(qps)
        self.calls = 0

    def __repr__(self) -> str:
        return f"<AccountLimiter calls={self.calls} {self.controller!r}>"

    @property
    def throttles(self) -> int:
        return self.controller.throttles

    @property
    def rate(self) -> float:
        return self.controller.rate

    async def acquire(self) -> None:
        while True:
            # A 40001 may extend the pause while we sleep: look again after each nap.
            while (wait := self.controller.pause_until - self.clock()) > 0:  # noqa: ASYNC110
                await anyio.sleep(wait)
            self._bucket.set_rate(self.controller.current(self.clock()))
            await self._bucket.acquire()
            # Callers queued in the bucket when a pause began must not leave during
            # it, nor all at once when it ends: wait it out, then queue again.
            if self.controller.pause_until <= self.clock():
                break
        self.calls += 1

    def accepted(self) -> None:
        self.controller.on_accepted(self.clock())

    def throttled(self, sent_at: float | None = None) -> None:
        self.controller.on_throttled(self.clock(), sent_at)
        self._bucket.set_rate(self.controller.rate)

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None
