"""What a run says while it works: counts, rate, 40001s, elapsed and ETA.

`Snapshot` is computed from the run's records and counters; the plain
reporter logs it as one line every `interval_s` (cron, pipes, run.log); the
live reporter (a terminal) redraws it in place with rich.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import anyio

from .context import RunContext
from .model import TaskState

log = logging.getLogger("runner.progress")


@dataclass(frozen=True, slots=True)
class Snapshot:
    total: int
    planned: int
    in_flight: int
    done: int
    failed: int
    images: int
    images_expected: int
    rate: float
    max_rate: float
    throttles: int
    calls: int
    elapsed_s: float
    eta_s: float | None

    def line(self) -> str:
        eta = f"{self.eta_s:.0f}s" if self.eta_s is not None else "?"
        return (
            f"tasks {self.done}/{self.total} done, {self.in_flight} generating, "
            f"{self.failed} failed, {self.planned} to submit · images {self.images}/"
            f"{self.images_expected} · rate {self.rate:.1f}/{self.max_rate:.1f} qps, "
            f"{self.throttles} x 40001, {self.calls} calls · elapsed {self.elapsed_s:.0f}s, "
            f"eta {eta}"
        )


def snapshot(ctx: RunContext, started_done: int) -> Snapshot:
    counts = dict.fromkeys(TaskState, 0)
    images = expected = 0
    for rec in ctx.records.values():
        counts[rec.state] += 1
        images += len(rec.files)
        expected += rec.images_expected
    elapsed = time.monotonic() - ctx.stats.started_mono
    done = counts[TaskState.DONE]
    final = done + counts[TaskState.FAILED]
    left = len(ctx.records) - final
    progressed = done - started_done
    eta = left * elapsed / progressed if progressed > 0 else None
    return Snapshot(
        total=len(ctx.records),
        planned=counts[TaskState.PLANNED],
        in_flight=counts[TaskState.SUBMITTED]
        + counts[TaskState.IN_DOUBT]
        + counts[TaskState.SUCCEEDED],
        done=done,
        failed=counts[TaskState.FAILED],
        images=images,
        images_expected=expected,
        rate=ctx.limiter.rate,
        max_rate=ctx.limiter.controller.max_rate,
        throttles=ctx.limiter.throttles,
        calls=ctx.limiter.calls,
        elapsed_s=elapsed,
        eta_s=eta,
    )


async def plain_reporter(ctx: RunContext, interval_s: float) -> None:
    started_done = sum(1 for r in ctx.records.values() if r.state is TaskState.DONE)
    while True:
        await anyio.sleep(interval_s)
        log.info("%s", snapshot(ctx, started_done).line())
