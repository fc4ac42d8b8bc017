"""Before anything new is sent on a resume: what did earlier runs leave on the server?

1. Submits a crash left in doubt are looked up, then adopted (the task exists)
   or sent again (it was never created).
2. A ledger can lose its tail (a disk that lied about fsync, a restored
   backup, a copied run directory): tasks created after its last surviving
   event are unknown to it, and their records say "never sent". So the
   account's tasks created since that event (less the clock-skew allowance)
   are listed, and those carrying exactly the request of an unsent task of
   ours, that no other task of ours or of another live run on this machine
   owns, are adopted. After an ordinary crash that costs one short listing;
   after a cut it saves every task after the cut from being paid twice.
   A task that failed on the server was not charged and is not adopted.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from runner.errors import AuthError, StillInDoubt
from runner.pipeline.context import RunContext
from runner.pipeline.pool import Account, Pool
from runner.pipeline.reconcile import Either, assign, same_request
from runner.pipeline.tasklist import kinds_of, listed_prompt, slim
from runner.records import TaskState
from runner.taskrecord import TaskRecord

log = logging.getLogger("runner.run")


async def resume_in_doubt(ctx: RunContext) -> None:
    try:
        await _settle_in_doubt(ctx)
        await adopt_unrecorded(ctx)
    except StillInDoubt:
        return  # the run is stopping: whatever is unsettled stays so for the next run


async def adopt_unrecorded(ctx: RunContext) -> None:
    since = ctx.resumed_after
    unsent = [r for r in ctx.records.values() if r.state is TaskState.PLANNED]
    if since is None or not unsent:
        return
    found: dict[str, str] = {}
    listed = 0
    by_prompt: dict[str, list[TaskRecord]] = {}  # of the unsent; made once a listed task needs it

    def candidates(item: dict[str, Any]) -> list[TaskRecord]:
        """Unsent tasks with the listed task's prompt: the only ones it could be."""
        if not by_prompt:
            for rec in unsent:
                by_prompt.setdefault(rec.spec.request.prompt, []).append(rec)
        return by_prompt.get(listed_prompt(item) or "", [])

    def keep(item: dict[str, Any]) -> dict[str, Any] | None:
        """Only a task that could be adopted is kept (slimmed): the listing is never held."""
        nonlocal listed
        if item.get("progress_desc") in ("Error", "Fail"):
            return None
        listed += 1
        if item.get("unique_id") in ctx.taken:
            return None
        for rec in candidates(item):
            if rec.key not in found and same_request(
                item, rec.spec.request, ctx.reconciler.refs_of(rec)
            ):
                return slim(item)
        return None

    accounts = ctx.pool.alive if ctx.pool is not None else [None]
    for account in accounts:  # a pool: each account lists the tasks it created
        reconciler = ctx.reconciler if account is None else account.reconciler
        items = await reconciler.listing(since - ctx.options.clock_skew_s, keep, kinds_of(unsent))
        if not items:  # after an ordinary crash: every listed task is one the ledger knows
            continue
        # A million unsent tasks on a resume: only those a kept task could be are matched.
        pending = {r.key: r for i in items for r in candidates(i) if r.key not in found}
        wanted = [
            (r.key, since, r.spec.request, ctx.reconciler.refs_of(r)) for r in pending.values()
        ]
        fingerprints = {r.spec.request.fingerprint() for r in pending.values()}
        async with ctx.reconciler.quiet_claim(fingerprints) as claim:
            taken = Either(ctx.taken, claim.taken, ctx.ledger.state.duplicates)
            mine = assign(wanted, items, taken, ctx.options.clock_skew_s)
            claim.new.update(mine.values())
        for key, uid in mine.items():
            rec = ctx.records[key]
            rec.state, rec.unique_id, rec.submitted_at = TaskState.SUBMITTED, uid, time.time()
            ctx.taken.add(uid)
            event = {"e": "adopted", "key": key, "uid": uid, "why": "unrecorded"}
            if account is not None and account.label:
                rec.account = event["acct"] = account.label
            ctx.ledger.write(event)
            ctx.stats.counts["adopted"] += 1
        found.update(mine)
    if found:
        ctx.ledger.write({"e": "run", "what": "adopted_unrecorded", "n": len(found)}, durable=True)
        log.warning(
            "resume: %d task(s) created after the ledger's last event (%s) were found on the "
            "server and adopted, not sent again: the ledger had lost its tail",
            len(found),
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since)),
        )
    else:
        log.info("resume: %d task(s) listed since the ledger's last event; none unrecorded", listed)


async def _settle_in_doubt(ctx: RunContext) -> None:
    doubtful = [r for r in ctx.records.values() if r.state is TaskState.IN_DOUBT]
    if not doubtful:
        return
    log.info("%d submit(s) were in doubt after an interruption; looking them up", len(doubtful))
    found: dict[str, str] = {}
    pool = ctx.pool
    groups = {None: doubtful} if pool is None else _by_account(pool, doubtful)
    for account, recs in groups.items():
        reconciler = ctx.reconciler if account is None else account.reconciler
        try:
            found.update(await reconciler.resolve_batch(recs))  # through their own account
        except StillInDoubt:
            return  # the run is stopping: they stay in doubt for the next run
        except AuthError as exc:
            if account is None or pool is None or not pool.retire(account, str(exc)):
                raise
            doubtful = [r for r in doubtful if r not in recs]  # in doubt until it works again
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


def _by_account(pool: Pool, records: list[TaskRecord]) -> dict[Account | None, list[TaskRecord]]:
    groups: dict[Account | None, list[TaskRecord]] = {}
    for rec in records:
        groups.setdefault(pool.of(rec), []).append(rec)
    return groups
