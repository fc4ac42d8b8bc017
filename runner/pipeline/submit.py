"""Submit stage: planned tasks in, tasks the server owns out.

Write-ahead: the intent is fsynced just before the request leaves (after the
limiter has let it through), the answer right after it comes back. A submit
whose answer is lost is in doubt: it is looked up on the server, never blindly
sent again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterable

import anyio
from anyio.abc import ObjectReceiveStream, ObjectSendStream

from runner.api import retry
from runner.errors import (
    AuthError,
    PermanentApiError,
    RateLimited,
    StillInDoubt,
    TransientApiError,
    UploadFailed,
)
from runner.pipeline import outputrefs
from runner.pipeline.context import RunContext
from runner.pipeline.pool import Account
from runner.records import TaskState
from runner.taskrecord import TaskRecord

log = logging.getLogger("runner.submit")


class _Stopped(Exception):
    """Raised from the pre-send hook when the run stopped while we waited for a slot."""


def _submitted_images(rec: TaskRecord) -> int:
    """Images this task was sent for, earlier attempts (retried, rerolled) included."""
    sends = sum(1 for a in rec.earlier if a.unique_id)
    sends += 1 if rec.unique_id or rec.state is TaskState.IN_DOUBT else 0
    return rec.images_expected * sends


async def feed(
    ctx: RunContext, planned: AsyncIterable[TaskRecord], send: ObjectSendStream[TaskRecord]
) -> None:
    """Hand planned tasks to the submit workers until done, stopped or out of budget."""
    limit = ctx.options.max_images
    committed = 0 if limit is None else sum(_submitted_images(r) for r in ctx.records.values())
    async with send:
        with anyio.CancelScope() as scope:
            ctx.feed_scope = scope
            async for rec in planned:
                if ctx.stopping.is_set():
                    break
                if limit is not None and committed + rec.images_expected > limit:
                    ctx.budget_reached = True
                    log.warning(
                        "budget: %d images submitted; the budget (%s) is reached, "
                        "submitting nothing more",
                        committed,
                        ctx.options.budget_source or f"--max-images {limit}",
                    )
                    break
                if ctx.pool is not None and ctx.pool.pick(rec.images_expected) is None:
                    if not ctx.pool.alive:
                        break  # every account failed authentication: submit_one says so
                    ctx.budget_reached = True
                    log.warning("budget: every account's max_images is spent; submitting no more")
                    break
                committed += rec.images_expected
                await send.send(rec)


async def worker(
    ctx: RunContext,
    receive: ObjectReceiveStream[TaskRecord],
    to_poll: ObjectSendStream[TaskRecord],
) -> None:
    async with receive, to_poll:
        async for rec in receive:
            if await submit_one(ctx, rec):
                await to_poll.send(rec)


def _event(
    ctx: RunContext, kind: str, rec: TaskRecord, durable: bool = False, **extra: object
) -> None:
    ctx.ledger.write({"e": kind, "key": rec.key, **extra}, durable=durable)


async def submit_one(ctx: RunContext, rec: TaskRecord) -> bool:
    """True when the server owns a task for `rec` (submitted or adopted)."""
    attempt = unreached = 0
    fingerprint = rec.spec.request.fingerprint()
    fell_back = False  # output URLs replaced by uploads after a refusal
    while True:
        if ctx.stopping.is_set() and rec.state is TaskState.PLANNED:
            return False
        account = _account_for(ctx, rec)
        if account is None and ctx.pool is not None:
            return False  # no account has budget left for it: it stays planned
        attempt += 1
        sent = False
        body = rec.spec.request.body(rec.ref_urls)
        urls = rec.ref_urls
        sent_refs = [urls.get(r, r) for r in rec.spec.request.ref_images] if urls else None

        announced = False

        def on_send(refs: list[str] | None = sent_refs, account: Account | None = account) -> None:
            nonlocal sent, announced
            if ctx.stopping.is_set():
                raise _Stopped  # the limiter let us through after a stop: send nothing
            sent = True
            rec.state, rec.intent_at = TaskState.IN_DOUBT, round(time.time(), 3)
            extra: dict[str, object] = {} if refs is None else {"refs": refs}  # looked up by them
            rec.sent_refs = refs
            if account is not None and account.label:
                rec.account = account.label
                account.committed += rec.images_expected
                extra["acct"] = account.label
            _event(ctx, "intent", rec, durable=True, attempt=rec.attempt, t=rec.intent_at, **extra)
            if not announced:  # (sent again after a token refresh: still one submit)
                ctx.in_flight.add(fingerprint)  # other runs' lookups wait for its answer
                announced = True

        client, limiter = ctx.client, ctx.limiter
        if account is not None:
            client, limiter = account.client, account.limiter
            account.waiting += 1
        try:
            try:
                async with ctx.gate.submitting(fingerprint):
                    answer = await client.submit(body, on_send)
            except BaseException:
                if announced:  # no answer to record: lookups (ours, theirs) settle it
                    ctx.in_flight.remove(fingerprint)
                raise
            finally:
                if account is not None:
                    account.waiting -= 1
        except _Stopped:
            return False
        except RateLimited as exc:
            limiter.throttled(exc.sent_at)
            ctx.stats.counts["throttled"] += 1
            _not_sent(ctx, rec, "40001")
            attempt -= 1  # not executed: costs time, not an attempt
            continue
        except AuthError as exc:
            if sent:
                _not_sent(ctx, rec, "10400")
            if account is None or not ctx.pool or not ctx.pool.retire(account, str(exc)):
                raise
            attempt -= 1  # another account takes it
            continue
        except PermanentApiError as exc:
            if not fell_back and outputrefs.refused_output_url(exc, rec):
                fell_back = True
                _not_sent(ctx, rec, f"{exc.code}: {exc.message[:200]}")
                log.info("task %s: output URL refused as a reference; uploading the file", rec.key)
                if not await _upload_outputs(ctx, rec):
                    return False
                attempt -= 1
                continue
            rec.state, rec.intent_at = TaskState.FAILED, None
            rec.error = f"rejected by the API: {exc.message} (code {exc.code})"
            rec.trace_id = exc.trace_id
            _event(
                ctx,
                "rejected",
                rec,
                durable=True,
                code=exc.code,
                msg=exc.message,
                trace=exc.trace_id,
            )
            log.warning("task %s rejected: %s", rec.key, exc)
            ctx.final(rec)
            return False
        except TransientApiError as exc:
            ctx.stats.counts["transient"] += 1
            if sent and exc.maybe_sent:
                log.info("task %s: submit answer lost (%s); looking it up", rec.key, exc)
                settled = await _settle_in_doubt(ctx, rec, account)
                if settled is not False:
                    return bool(settled)  # adopted, or still in doubt as the run stops
            else:
                if sent:
                    _not_sent(ctx, rec, str(exc))
                # Nothing reached the API (no connection, no token): not this task's
                # fault, so not an attempt; a dead API ends in --give-up-after.
                unreached += 1
                attempt -= 1
                await anyio.sleep(retry.backoff_s(min(unreached, 8), ctx.options.retry))
                continue
            if attempt >= ctx.options.max_submit_attempts:
                rec.state, rec.error = TaskState.FAILED, f"gave up after {attempt} attempts: {exc}"
                _event(ctx, "failed", rec, durable=True, error=rec.error)
                ctx.final(rec)
                return False
            await anyio.sleep(retry.backoff_s(attempt, ctx.options.retry))
            continue
        uid = answer.data
        rec.state, rec.unique_id, rec.intent_at = TaskState.SUBMITTED, uid, None
        rec.submitted_at, rec.trace_id = time.time(), answer.trace_id
        ctx.taken.add(uid)
        try:
            _event(ctx, "submitted", rec, durable=True, uid=uid, trace=answer.trace_id)
        finally:
            ctx.in_flight.remove(fingerprint)  # in our ledger now, where lookups see it
        ctx.stats.counts["submitted"] += 1
        return True


async def _upload_outputs(ctx: RunContext, rec: TaskRecord) -> bool:
    """The fallback: send the parents' downloaded files instead of their output URLs."""
    assert ctx.uploader is not None  # a run with chained tasks always has one
    try:
        urls = await outputrefs.resolve(ctx, ctx.uploader, rec, upload=True)
    except UploadFailed as exc:
        rec.state, rec.error = TaskState.FAILED, f"reference image: {exc}"
        _event(ctx, "failed", rec, durable=True, error=rec.error)
        log.warning("task %s: %s", rec.key, rec.error)
        ctx.final(rec)
        return False
    rec.ref_urls = {**(rec.ref_urls or {}), **urls}
    return True


def _account_for(ctx: RunContext, rec: TaskRecord) -> Account | None:
    """The pool account for this attempt: the one it was sent through while in
    doubt, else the one with the most headroom. Raises AuthError when none is left."""
    pool = ctx.pool
    if pool is None:
        return None
    if rec.state is TaskState.IN_DOUBT:
        return pool.of(rec)
    account = pool.pick(rec.images_expected)
    if account is None and not pool.alive:
        raise AuthError("no account of the pool is left: every one failed authentication")
    return account


def _not_sent(ctx: RunContext, rec: TaskRecord, why: str) -> None:
    if ctx.pool is not None and rec.account and ctx.pool.knows(rec.account):
        ctx.pool.of(rec).committed -= rec.images_expected
    rec.state, rec.intent_at = TaskState.PLANNED, None
    _event(ctx, "not_sent", rec, why=why)


async def _settle_in_doubt(
    ctx: RunContext, rec: TaskRecord, account: Account | None
) -> bool | None:
    """True: adopted; False: not created, send it again; None: it stays in doubt
    (the run stopped first, or its account failed authentication)."""
    reconciler = ctx.reconciler if account is None else account.reconciler
    try:
        uid = await reconciler.resolve(rec)
    except StillInDoubt:
        return None
    except AuthError as exc:
        if account is None or not ctx.pool or not ctx.pool.retire(account, str(exc)):
            raise
        return None  # looked up again through that account on a later run
    if uid is None:
        if account is not None and account.label:
            account.committed -= rec.images_expected
        rec.state, rec.intent_at = TaskState.PLANNED, None
        _event(ctx, "not_created", rec, durable=True)
        ctx.stats.counts["resubmitted"] += 1
        return False
    rec.state, rec.unique_id, rec.intent_at = TaskState.SUBMITTED, uid, None
    rec.submitted_at = time.time()
    _event(ctx, "adopted", rec, durable=True, uid=uid)
    ctx.stats.counts["adopted"] += 1
    return True
