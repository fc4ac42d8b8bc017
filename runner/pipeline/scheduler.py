"""One task group owns the whole pipeline of a run.

    feed -> [upload workers] -> submit workers -> poller -> download workers
        (memory streams; closing the last sender ends the next stage)

Tasks already on the server go straight to the poller, generated tasks with
images missing straight to the downloaders. A stop (signal, deadline, budget)
closes the feed; in-flight tasks are still polled until the grace period ends.
"""

from __future__ import annotations

import logging
import math
import time

import anyio

from runner.pipeline import chain, download, poll, submit, upload
from runner.pipeline.context import RunContext
from runner.records import TaskState
from runner.taskrecord import TaskRecord

log = logging.getLogger("runner.scheduler")
UPLOAD_WORKERS = 4  # tasks waiting for different files; the file endpoints pace themselves


async def execute(ctx: RunContext) -> None:
    records = list(ctx.records.values())
    ready = (r for r in records if r.state is TaskState.PLANNED)
    planned = chain.plain(ready) if ctx.chain is None else ctx.chain.stream(ctx.chain.split(ready))
    in_flight = [r for r in records if r.state is TaskState.SUBMITTED]
    to_fetch = [r for r in records if r.state is TaskState.SUCCEEDED]

    submit_send, submit_recv = anyio.create_memory_object_stream[TaskRecord](0)
    poll_send, poll_recv = anyio.create_memory_object_stream[TaskRecord](math.inf)
    fetch_send, fetch_recv = anyio.create_memory_object_stream[TaskRecord](math.inf)
    for rec in to_fetch:
        fetch_send.send_nowait(rec)

    poller = poll.Poller(ctx, poll_recv, fetch_send, in_flight)
    if ctx.chain is not None:
        ctx.chain.on_idle = poller.nudge
    async with anyio.create_task_group() as outer:
        outer.start_soon(_stop_watch, ctx, outer.cancel_scope)
        async with anyio.create_task_group() as tg:
            async with submit_recv, poll_send:
                if ctx.uploader is None:
                    tg.start_soon(submit.feed, ctx, planned, submit_send)
                else:  # local reference images go up first, before their tasks are sent
                    feed_send, feed_recv = anyio.create_memory_object_stream[TaskRecord](0)
                    tg.start_soon(submit.feed, ctx, planned, feed_send)
                    async with feed_recv, submit_send:
                        for _ in range(UPLOAD_WORKERS):
                            tg.start_soon(
                                upload.worker,
                                ctx,
                                ctx.uploader,
                                feed_recv.clone(),
                                submit_send.clone(),
                            )
                for _ in range(ctx.options.workers):
                    tg.start_soon(submit.worker, ctx, submit_recv.clone(), poll_send.clone())
            async with fetch_recv:
                for _ in range(ctx.options.concurrency):
                    tg.start_soon(download.worker, ctx, fetch_recv.clone())
            tg.start_soon(poller.run)
        ctx.pipeline_done.set()
        outer.cancel_scope.cancel()


async def _stop_watch(ctx: RunContext, scope: anyio.CancelScope) -> None:
    """Deadline, then the grace after any stop; then everything is cancelled."""
    opts = ctx.options
    with anyio.move_on_after(math.inf if opts.deadline_s is None else opts.deadline_s):
        await ctx.stopping.wait()
    if ctx.pipeline_done.is_set():
        return
    if not ctx.stopping.is_set():
        log.warning(
            "deadline reached: submitting nothing more; polling in-flight tasks for up to %.0f s",
            opts.grace_s,
        )
        ctx.request_stop("deadline")
    grace = opts.grace_s if ctx.stop_reason == "deadline" else opts.stop_grace_s
    stopped_at = time.monotonic()
    with anyio.move_on_after(grace):
        await ctx.pipeline_done.wait()
    if not ctx.pipeline_done.is_set():
        log.warning(
            "%s: stopping now after %.1f s; run again to resume",
            ctx.stop_reason,
            time.monotonic() - stopped_at,
        )
        scope.cancel()
