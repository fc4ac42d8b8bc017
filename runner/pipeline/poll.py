"""Poll stage: tasks the server owns in, generated tasks out to the downloaders.

No coroutine per task: one loop keeps a heap of due times and asks
`/task/page` about up to 50 due tasks per call. While submissions are still
going, a call waits for a full batch (or `poll_linger_s`) and polls use at
most `poll_share` of the account's rate, so submitting is never starved; once
everything is submitted, due tasks are polled as soon as they are due.
The first check of a task comes near the generation time learned so far.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

import anyio
from anyio.abc import ObjectReceiveStream, ObjectSendStream

from runner.errors import AuthError, TransientApiError
from runner.pipeline.clock import MONOTONIC, Clock
from runner.pipeline.context import RunContext
from runner.pipeline.pool import Account
from runner.pipeline.schedule import PollSchedule
from runner.records import TaskRecord, TaskState

log = logging.getLogger("runner.poll")
BATCH = 50
RUNNING = frozenset({"Queued", "Ready", "Generating"})
FAILED = frozenset({"Error", "Fail"})
MAX_UNKNOWN_POLLS = 200  # an unknown progress_desc is polled this often before giving up
MAX_MISSES = 60  # the API did not list the task this many times in a row


@dataclass(slots=True)
class _Due:
    record: TaskRecord
    first: bool = True
    misses: int = 0
    unknown: int = 0
    warned: bool = False  # "the API does not list it" is said once per task, at the first miss


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
        self._heap: list[tuple[float, int, _Due]] = []
        self._ready: deque[tuple[float, _Due]] = deque()
        self._seq = itertools.count()
        self._wake = anyio.Event()
        self._inflow_done = False
        self._last_poll = -1e9
        self._intact = True
        # Tasks waiting here per (account, kind): each needs its own calls.
        self._groups: Counter[tuple[Account | None, int]] = Counter()
        for rec in initial:
            self._push(clock.now(), _Due(rec, first=False))

    @property
    def in_flight(self) -> int:
        return len(self._heap) + len(self._ready)

    def _group(self, rec: TaskRecord) -> tuple[Account | None, int]:
        pool = self.ctx.pool
        return (pool.of(rec) if pool is not None else None, rec.spec.request.creation_type)

    def _push(self, due: float, entry: _Due) -> None:
        heapq.heappush(self._heap, (due, next(self._seq), entry))
        self._groups[self._group(entry.record)] += 1

    async def run(self) -> None:
        async with self.to_download, anyio.create_task_group() as tg:
            tg.start_soon(self._take_in)
            await self._loop()

    async def _take_in(self) -> None:
        async with self.receive:
            async for rec in self.receive:
                self._push(self.clock.now() + self.schedule.first_s(rec), _Due(rec))
                self._wake.set()
        self._inflow_done = True
        self._wake.set()

    async def _loop(self) -> None:
        opts = self.ctx.options
        while True:
            now = self.clock.now()
            while self._heap and self._heap[0][0] <= now:
                due, _, entry = heapq.heappop(self._heap)
                self._ready.append((due, entry))
            if not self._heap and not self._ready:
                if self._inflow_done:
                    return
                await self._sleep(None)
                continue
            # Children waiting on parents: nothing to submit, so poll at full speed.
            waiting = self.ctx.chain is not None and self.ctx.chain.idle
            submitting = not self._inflow_done and not waiting
            wake_at = self._heap[0][0] if self._heap else None
            if self._ready:
                allowed_at = self._next_poll_at(submitting)
                oldest = self._ready[0][0]
                full = len(self._ready) >= BATCH
                # A due task whose outputs other tasks wait for is not kept for a fuller batch.
                urgent = self.ctx.chain is not None and any(
                    e.record.has_children for _, e in self._ready
                )
                lingered = not submitting or urgent or now - oldest >= opts.poll_linger_s
                if (full or lingered) and now >= allowed_at:
                    await self._poll_batch()
                    continue
                later = allowed_at if (full or lingered) else oldest + opts.poll_linger_s
                wake_at = later if wake_at is None else min(wake_at, later)
            await self._sleep(None if wake_at is None else max(0.0, wake_at - now))

    def _next_poll_at(self, submitting: bool) -> float:
        """Spacing between poll calls.

        While submitting, polls take at most `poll_share` of the account's rate.
        Afterwards every in-flight task is still seen about once per
        `poll_interval_s`, in as few calls as that allows: a call lists one
        account's tasks of one kind, so each such group needs its own calls.
        """
        opts = self.ctx.options
        if submitting:
            pool = self.ctx.pool
            rate = pool.rate if pool is not None else self.ctx.limiter.rate
            return self._last_poll + 1.0 / (opts.poll_share * rate)
        sweeps = max(1, sum(-(-n // BATCH) for n in self._groups.values()))
        return self._last_poll + opts.poll_interval_s / sweeps

    def nudge(self) -> None:
        """Look again now (the feed just ran dry while children wait on their parents)."""
        self._wake.set()

    async def _sleep(self, seconds: float | None) -> None:
        await self.clock.wait(self._wake, seconds)
        if self._wake.is_set():
            self._wake = anyio.Event()

    async def _poll_batch(self) -> None:
        batch, account = self._take_batch()
        kind = batch[0].record.spec.request.creation_type
        self._last_poll = self.clock.now()
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
                self._push(self.clock.now(), entry)  # reported as waiting at the next turn
            return
        except TransientApiError as exc:
            log.warning("poll of %d tasks failed (%s); will try again", len(batch), exc)
            for entry in batch:
                self._push(self.clock.now() + self.schedule.interval_s(entry.record), entry)
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

    def _take_batch(self) -> tuple[list[_Due], Account | None]:
        """Up to 50 due tasks of one kind and one account (the oldest's): the task
        list shows images or videos, not both, and an account lists its own tasks,
        so each task is asked about through the account that made it."""
        pool = self.ctx.pool
        first = self._ready[0][1].record
        kind = first.spec.request.creation_type
        account = pool.of(first) if pool is not None else None
        batch: list[_Due] = []
        other: list[tuple[float, _Due]] = []
        while self._ready and len(batch) < BATCH:
            due, entry = self._ready.popleft()
            rec = entry.record
            if rec.spec.request.creation_type == kind and (pool is None or pool.of(rec) is account):
                batch.append(entry)
            else:
                other.append((due, entry))
        self._ready.extendleft(reversed(other))
        group = self._group(first)
        self._groups[group] -= len(batch)
        if not self._groups[group]:
            del self._groups[group]
        return batch, account

    async def _handle(self, entry: _Due, item: dict[str, Any] | None, trace: str) -> None:
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
                self._push(again, entry)
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
        elif progress in RUNNING:
            self._push(again, entry)
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
                self._push(again, entry)

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
