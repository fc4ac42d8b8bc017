"""What a run says while it works: counts, rate, 40001s, elapsed and ETA.

`Snapshot` is computed from the run's records and counters; the plain
reporter logs it as one line every `interval_s` (cron, pipes, run.log); the
live reporter (a terminal) redraws it in place with rich.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio

from runner.pipeline.context import RunContext
from runner.records import TaskState

if TYPE_CHECKING:  # rich is imported by the live reporter only (a terminal)
    from rich.console import Console

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
    videos: int = 0  # video files on disk (images counts image files only)
    videos_expected: int = 0

    def line(self) -> str:
        eta = f"{self.eta_s:.0f}s" if self.eta_s is not None else "?"
        videos = f", videos {self.videos}/{self.videos_expected}" if self.videos_expected else ""
        return (
            f"tasks {self.done}/{self.total} done, {self.in_flight} generating, "
            f"{self.failed} failed, {self.planned} to submit · images {self.images}/"
            f"{self.images_expected}{videos} · rate {self.rate:.1f}/{self.max_rate:.1f} qps, "
            f"{self.throttles} x 40001, {self.calls} calls · elapsed {self.elapsed_s:.0f}s, "
            f"eta {eta}"
        )


def snapshot(ctx: RunContext, started_done: int) -> Snapshot:
    counts = dict.fromkeys(TaskState, 0)
    files = {"image": [0, 0], "video": [0, 0]}  # on disk, expected
    for rec in ctx.records.values():
        counts[rec.state] += 1
        tally = files["video" if rec.spec.request.kind == "video" else "image"]
        tally[0] += len(rec.files)
        tally[1] += rec.images_expected
    elapsed = time.monotonic() - ctx.stats.started_mono
    done = counts[TaskState.DONE]
    final = done + counts[TaskState.FAILED] + counts[TaskState.BLOCKED]
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
        failed=counts[TaskState.FAILED] + counts[TaskState.BLOCKED],
        images=files["image"][0],
        images_expected=files["image"][1],
        videos=files["video"][0],
        videos_expected=files["video"][1],
        rate=ctx.pool.rate if ctx.pool else ctx.limiter.rate,
        max_rate=ctx.pool.max_rate if ctx.pool else ctx.limiter.controller.max_rate,
        throttles=ctx.pool.throttles if ctx.pool else ctx.limiter.throttles,
        calls=ctx.pool.calls if ctx.pool else ctx.limiter.calls,
        elapsed_s=elapsed,
        eta_s=eta,
    )


async def plain_reporter(ctx: RunContext, interval_s: float) -> None:
    started_done = sum(1 for r in ctx.records.values() if r.state is TaskState.DONE)
    while True:
        await anyio.sleep(interval_s)
        log.info("%s", snapshot(ctx, started_done).line())


async def live_reporter(ctx: RunContext, console: Console) -> None:
    """A terminal display redrawn in place; cancelled when the run ends."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    started_done = sum(1 for r in ctx.records.values() if r.state is TaskState.DONE)
    first = snapshot(ctx, started_done)
    columns = (
        TextColumn("{task.description:>10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
    )
    with Progress(*columns, console=console, refresh_per_second=4) as bars:
        tasks = bars.add_task("tasks done", total=first.total, info="")
        images = bars.add_task("images", total=first.images_expected, info="")
        videos = (
            bars.add_task("videos", total=first.videos_expected, info="")
            if first.videos_expected
            else None
        )

        def draw() -> None:
            s = snapshot(ctx, started_done)
            eta = f"{s.eta_s:.0f}s" if s.eta_s is not None else "?"
            bars.update(
                tasks,
                completed=s.done + s.failed,
                info=f"{s.planned} to submit, {s.in_flight} generating, {s.failed} failed",
            )
            bars.update(
                images,
                completed=s.images,
                info=f"{s.rate:.1f}/{s.max_rate:.1f} qps, {s.throttles} x 40001, "
                f"{s.elapsed_s:.0f}s elapsed, eta {eta}",
            )
            if videos is not None:
                bars.update(videos, completed=s.videos)

        try:
            while True:
                draw()
                await anyio.sleep(0.5)
        finally:
            draw()  # the run's last state, not the one half a second before the end
