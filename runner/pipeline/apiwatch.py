"""The dead-API watch: say so while the API is unreachable, and give up in time.

A cron run against an address where nothing answers must neither hang nor
stay silent: a WARNING (address, last error) within the first minute and then
once a minute, and after `--give-up-after` without one successful call the
run stops as after a deadline: what is known is recorded, the summary
written, exit 4.
"""

from __future__ import annotations

import logging

import anyio

from runner.pipeline.context import RunContext

log = logging.getLogger("runner.api")
GAVE_UP = "API unreachable"


async def watch(ctx: RunContext, interval_s: float = 1.0) -> None:
    health = ctx.client.health
    while not ctx.stopping.is_set():
        verdict = health.due(health.clock(), ctx.options.give_up_after_s)
        if verdict.warning:
            log.warning("%s", verdict.warning)
        if verdict.give_up:
            log.warning("giving up: submitting nothing more; run again to resume")
            ctx.request_stop(GAVE_UP)
            return
        with anyio.move_on_after(interval_s):
            await ctx.stopping.wait()
