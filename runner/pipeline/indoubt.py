"""Submits a crash left in doubt: looked up on the server before anything new
is sent, then adopted (the task exists) or sent again (it was never created)."""

from __future__ import annotations

import logging

from runner.pipeline.context import RunContext
from runner.pipeline.reconcile import StillInDoubt
from runner.records import TaskState

log = logging.getLogger("runner.run")


async def resume_in_doubt(ctx: RunContext) -> None:
    doubtful = [r for r in ctx.records.values() if r.state is TaskState.IN_DOUBT]
    if not doubtful:
        return
    log.info("%d submit(s) were in doubt after an interruption; looking them up", len(doubtful))
    try:
        found = await ctx.reconciler.resolve_batch(doubtful)
    except StillInDoubt:
        return  # the run is stopping: they stay in doubt for the next run
    for rec in doubtful:
        uid = found.get(rec.key)
        if uid:
            rec.state, rec.unique_id, rec.intent_at = TaskState.SUBMITTED, uid, None
            ctx.ledger.write({"e": "adopted", "key": rec.key, "uid": uid}, durable=True)
            ctx.stats.counts["adopted"] += 1
        else:
            rec.state, rec.intent_at = TaskState.PLANNED, None
            ctx.ledger.write({"e": "not_created", "key": rec.key}, durable=True)
            ctx.stats.counts["resubmitted"] += 1
