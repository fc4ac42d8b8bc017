"""Poll stage: tasks the server owns in, generated tasks out to the downloaders.

No coroutine per task: one loop asks `/task/page` about up to 50 due tasks
per call, those of one account and kind, paced per account (pollqueue.py):
while submissions are still going, polls never starve submitting; once
everything is submitted, due tasks are polled as soon as they are due.
The first check of a task comes near the generation time learned so far.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import anyio
from anyio.abc import ObjectReceiveStream, ObjectSendStream

from runner.errors import AuthError, TransientApiError
from runner.pipeline.clock import MONOTONIC, Clock
from runner.pipeline.context import RunContext
from runner.pipeline.pollqueue import BATCH, Due, Group, PollQueue, recheck_s
from runner.pipeline.pool import Account
from runner.pipeline.schedule import PollSchedule
from runner.records import TaskState
from runner.taskrecord import TaskRecord

log = logging.getLogger("runner.poll")
RUNNING = frozenset({"Queued", "Ready", "Generating"})
FAILED = frozenset({"Error", "Fail"})
MAX_UNKNOWN_POLLS = 200  # an unknown progress_desc is polled this often before giving up
MAX_MISSES = 60  # the API did not list the task this many times in a row


class Poller:
    def __init__(
        self,
        ctx: RunContext,
        receive: ObjectReceiveStream[TaskRecord],
        to_download: ObjectSendStream[TaskRecord],
        initial: list[TaskRecord],
        clock: Clock = MONOTONIC,
    ):
        self.ctx, self.receive, self.to_download, self.clock = ctx, receive, to_download, clock
        self.schedule = PollSchedule(ctx.options)
        self.queue = PollQueue(ctx.options, self._group)
        self._wake = anyio.Event()
        self._inflow_done = False
        self._intact = True
        for rec in initial:
            self.queue.push(clock.now(), Due(rec, first=False))

    @property
    def in_flight(self) -> int:
        return len(self.queue)

    def _group(self, rec: TaskRecord) -> Group:
        pool = self.ctx.pool
        return (pool.of(rec) if pool is not None else None, rec.spec.request.creation_type)

    def _rate(self, account: Account | None) -> float:
        return self.ctx.limiter.rate if account is None else account.limiter.rate

    async def run(self) -> None:
        async with self.to_download, anyio.create_task_group() as tg:
            tg.start_soon(self._take_in)
            await self._loop()

    async def _take_in(self) -> None:
        async with self.receive:
            async for rec in self.receive:
                self.queue.push(self.clock.now() + self.schedule.first_s(rec), Due(rec))
                self._wake.set()
        self._inflow_done = True
        self.ctx.submits_done.set()  # the stream closes when the last submit worker ends
        self._wake.set()

    async def _loop(self) -> None:
        chain = self.ctx.chain
        # A due task whose outputs other tasks wait for is not kept for a fuller batch.
        urgent = None if chain is None else (lambda rec: rec.has_children)
        while True:
            if not len(self.queue):
                if self._inflow_done:
                    return
                await self._sleep(None)
                continue
            submitting = self._submitting()
            now = self.clock.now()
            group, wake_at = self.queue.next_call(now, submitting, self._rate, urgent)
            if group is not None:
                await self._poll_batch(group, self.queue.take(group, now, submitting, self._rate))
                continue
            await self._sleep(None if wake_at is None else max(0.0, wake_at - now))

    def _submitting(self) -> bool:
        """Submits still go (children waiting on parents: nothing to submit, so not)."""
        chain = self.ctx.chain
        return not self._inflow_done and not (chain is not None and chain.idle)

    def nudge(self) -> None:
        """Look again now (the feed just ran dry while children wait on their parents)."""
        self._wake.set()

    async def _sleep(self, seconds: float | None) -> None:
        await self.clock.wait(self._wake, seconds)
        if self._wake.is_set():
            self._wake = anyio.Event()

    async def _poll_batch(self, group: Group, batch: list[Due]) -> None:
        """One call about `batch`: due tasks of one kind and one account. The task list
        shows images or videos, not both, and an account lists its own tasks, so each
        task is asked about through the account that made it."""
        account, kind = group
        if account is not None and not account.alive:
            log.warning(
                "%d task(s) of %s wait: it left the pool (%s); run again when it works",
                len(batch),
                account.name,
                account.why_out,
            )
            return  # never polled through another account: they stay submitted
        client = self.ctx.client if account is None else account.client
        ids = [e.record.unique_id for e in batch if e.record.unique_id]
        try:
            items, _, trace = await client.page(ids, 1, BATCH, kind)
        except AuthError as exc:
            pool = self.ctx.pool
            if account is None or pool is None or not pool.retire(account, str(exc)):
                raise
            for entry in batch:
                self.queue.push(self.clock.now(), entry)  # reported as waiting at the next turn
            return
        except TransientApiError as exc:
            log.warning("poll of %d tasks failed (%s); will try again", len(batch), exc)
            for entry in batch:
                self.queue.push(self.clock.now() + self.schedule.interval_s(entry.record), entry)
            return
        self.ctx.stats.counts["polls"] += 1
        by_id = {i.get("unique_id"): i for i in items}
        # A garbled answer (ids that are not text) says nothing about which tasks it knows.
        self._intact = all(isinstance(uid, str) for uid in by_id)
        self.schedule.observe(
            [(e.record, by_id.get(e.record.unique_id), RUNNING) for e in batch if e.first]
        )
        for entry in batch:
            await self._handle(entry, by_id.get(entry.record.unique_id), trace)

    async def _handle(self, entry: Due, item: dict[str, Any] | None, trace: str) -> None:
        rec, ctx = entry.record, self.ctx
        interval_s = self.schedule.interval_s(rec)
        again = self.clock.now() + interval_s
        if item is None:
            entry.misses += 1
            if entry.misses == 1 and not entry.warned and self._intact:
                entry.warned = True
                wait_s = (MAX_MISSES - 1) * interval_s
                log.warning(
                    "task %s (unique_id %s): the API does not list it [trace_id %s]; asking "
                    "again every %gs, it is marked failed if still unknown after %d more checks "
                    "(about %s), and --retry-failed would then submit it anew",
                    rec.key,
                    rec.unique_id,
                    trace,
                    interval_s,
                    MAX_MISSES - 1,
                    f"{wait_s / 60:.0f} min" if wait_s >= 90 else f"{wait_s:.0f} s",
                )
            if entry.misses >= MAX_MISSES:
                self._fail(rec, f"the API stopped reporting task {rec.unique_id}", trace)
            else:
                self.queue.push(again, entry)
            return
        entry.misses = 0
        progress = item.get("progress_desc")
        entry.first = False
        if progress == "Success":
            urls = _urls(item, rec, trace)
            rec.state, rec.urls, rec.finished_at = TaskState.SUCCEEDED, urls, time.time()
            ctx.ledger.write(
                {
                    "e": "finished",
                    "key": rec.key,
                    "uid": rec.unique_id,
                    "status": "Success",
                    "urls": urls,
                    "trace": trace,
                }
            )
            ctx.stats.counts["generated"] += 1
            await self.to_download.send(rec)
        elif progress in FAILED:
            err = str(item.get("err_msg") or progress)[:500]
            rec.state, rec.error = TaskState.FAILED, f"generation failed: {err}"
            rec.trace_id, rec.finished_at = trace, time.time()
            ctx.ledger.write(
                {
                    "e": "finished",
                    "key": rec.key,
                    "uid": rec.unique_id,
                    "status": str(progress),
                    "err": err,
                    "trace": trace,
                },
                durable=True,
            )
            log.warning("task %s (%s) failed: %s [trace_id %s]", rec.key, rec.unique_id, err, trace)
            ctx.final(rec)
        elif progress in RUNNING:  # sooner once nothing is left to submit (pollqueue.py)
            self.queue.push(self.clock.now() + recheck_s(interval_s, self._submitting()), entry)
        else:
            entry.unknown += 1
            if entry.unknown == 1:
                log.warning(
                    "task %s: unknown progress_desc %r [trace_id %s]; still polling",
                    rec.key,
                    progress,
                    trace,
                )
            if entry.unknown >= MAX_UNKNOWN_POLLS:
                self._fail(rec, f"progress stayed unknown ({progress!r})", trace)
            else:
                self.queue.push(again, entry)

    def _fail(self, rec: TaskRecord, error: str, trace: str) -> None:
        rec.state, rec.error, rec.trace_id = TaskState.FAILED, error, trace
        self.ctx.ledger.write({"e": "failed", "key": rec.key, "error": error}, durable=True)
        log.warning("task %s: %s [trace_id %s]", rec.key, error, trace)
        self.ctx.final(rec)


def _urls(item: dict[str, Any], rec: TaskRecord, trace: str) -> list[str]:
    raw = item.get("output_url")
    if not isinstance(raw, list):
        log.warning(
            "task %s: output_url is %s, not a list [trace_id %s]",
            rec.key,
            type(raw).__name__,
            trace,
        )
        raw = [raw] if isinstance(raw, str) else []
    urls = [u for u in raw if isinstance(u, str)]
    if len(urls) > rec.images_expected:
        log.warning(
            "task %s: %d URLs for %d images; keeping the first [trace_id %s]",
            rec.key,
            len(urls),
            rec.images_expected,
            trace,
        )
    return urls[: rec.images_expected]
