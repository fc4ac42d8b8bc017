"""Find the task a lost submit created, instead of paying for it twice.

The API has no idempotency key, but `/task/page` without an id filter lists
the account's tasks with `create_time` and the full request (`photo_info`).
A submit in doubt is matched against tasks created no earlier than its intent
(less a clock-skew allowance) with an identical request, that no other task
of ours owns. Two in-doubt tasks with identical requests never get the same
unique_id: each match is taken out of the pool.

"No match" is only believed after the request had every chance to arrive: a
submit sent during an outage can sit in a gateway or a retransmission queue
and reach the server seconds after the link is back. So a task not found is
looked up at least twice, the last time a full settle window after the API
started answering again (not after the send), before it may be sent again.
After an outage the window is at least the outage's length (up to
MAX_OUTAGE_SETTLE_S): retransmissions come back about that late.
If the run stops first, it stays in doubt for the next run to settle.

Another live run on the account may have just created a task with the same
request, not yet in its ledger (its answer is on the way): while it has such
a submit in flight, the lookup waits (`quiet_claim`) rather than take it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Container, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import anyio

from runner.api import retry
from runner.api.client import ApiClient
from runner.errors import StillInDoubt, TransientApiError
from runner.pipeline.gate import RequestGate
from runner.pipeline.tasklist import kinds_of, prompt_filter, scan
from runner.records import Request
from runner.rundir.registry import Claim, no_claims
from runner.taskrecord import TaskRecord

log = logging.getLogger("runner.reconcile")
MAX_OUTAGE_SETTLE_S = 120.0
BUSY_RECHECK_S = 0.05  # how often a lookup asks whether another run's answer is recorded


def same_request(item: dict[str, Any], request: Request, refs: list[str] | None = None) -> bool:
    """Does a listed task carry exactly this request? `refs`: the URLs actually sent.

    An image task echoes its request in `photo_info`, a video task in `motion_info`
    (start/end frames as `start_frame`/`end_frame` for the models that take them)."""
    video = request.kind == "video"
    info = item.get("motion_info" if video else "photo_info")
    if not isinstance(info, dict):
        return False
    listed = info.get("ref_img_url", item.get("ref_img_url")) or [
        info[f] for f in ("start_frame", "end_frame") if info.get(f)
    ]
    sent = list(request.ref_images) if refs is None else refs
    same_kind = (
        info.get("video_duration") == request.video_duration
        and (info.get("quality_mode") or None) == request.quality_mode
        if video
        else info.get("number_of_images") == request.number_of_images
    )
    return (
        info.get("ref_prompt") == request.prompt
        and list(listed) == sent
        and info.get("aspect_ratio", item.get("aspect_ratio")) == request.aspect_ratio
        and info.get("clarity") == request.clarity
        and same_kind
        and item.get("model_code") == request.model_code
    )


class Either:
    """Is a uid in any of these (ours, another live run's, the duplicates found)? A view:
    a million ids of ours are not copied for each lookup."""

    def __init__(self, *parts: Container[str]):
        self.parts = parts

    def __contains__(self, uid: object) -> bool:
        return any(uid in part for part in self.parts)


def assign(
    pending: Iterable[tuple[str, float, Request, list[str] | None]],
    items: list[dict[str, Any]],
    taken: Container[str],
    skew_s: float,
) -> dict[str, str]:
    """key -> unique_id for each pending (key, intent time, request, refs sent) that matches."""
    pool = [i for i in items if isinstance(i.get("unique_id"), str) and i["unique_id"] not in taken]
    found: dict[str, str] = {}
    for key, intent_t, request, refs in sorted(pending, key=lambda p: p[1]):
        candidates = [
            i
            for i in pool
            if isinstance(i.get("create_time"), int | float)
            and i["create_time"] >= intent_t - skew_s
            and same_request(i, request, refs)
        ]
        if not candidates:
            continue
        best = min(candidates, key=lambda i: (abs(i["create_time"] - intent_t), i["unique_id"]))
        pool.remove(best)
        found[key] = best["unique_id"]
    return found


class Reconciler:
    """Coalesces concurrent in-doubt submits into one scan."""

    def __init__(
        self,
        client: ApiClient,
        gate: RequestGate,
        taken: set[str],
        *,
        refs_of: Callable[[TaskRecord], list[str] | None] = lambda _: None,
        others_taken: Callable[[], set[str]] = set,
        claim: Callable[[], AbstractAsyncContextManager[Claim]] = no_claims,
        stopping: anyio.Event | None = None,
        settle_s: float = 2.0,
        skew_s: float = 60.0,
        max_pages: int = 200,
    ):
        self.client, self.gate, self.taken, self.refs_of = client, gate, taken, refs_of
        self.others_taken, self.stopping = others_taken, stopping or anyio.Event()
        self.claim = claim
        self.settle_s, self.skew_s, self.max_pages = settle_s, skew_s, max_pages
        self._lock = anyio.Lock()
        self._pending: dict[str, TaskRecord] = {}
        self._results: dict[str, str | None] = {}
        self._unsettled: set[str] = set()

    def with_client(self, client: ApiClient) -> Reconciler:
        """The same settings and shared `taken`, scanning another account's task list."""
        return Reconciler(
            client,
            self.gate,
            self.taken,
            refs_of=self.refs_of,
            others_taken=self.others_taken,
            claim=self.claim,
            stopping=self.stopping,
            settle_s=self.settle_s,
            skew_s=self.skew_s,
            max_pages=self.max_pages,
        )

    async def resolve(self, record: TaskRecord) -> str | None:
        """The unique_id the record's lost submit created, or None if it created none.

        Raises StillInDoubt when the run stops before that is known."""
        self._pending[record.key] = record
        async with self._lock:
            if record.key not in self._results and record.key not in self._unsettled:
                batch = list(self._pending.values())
                self._pending.clear()
                try:
                    found = await self.resolve_batch(batch)
                except BaseException:
                    self._unsettled.update(rec.key for rec in batch)
                    raise
                for rec in batch:
                    self._results[rec.key] = found.get(rec.key)
        if record.key in self._unsettled:
            self._unsettled.discard(record.key)
            raise StillInDoubt(record.key)
        return self._results.pop(record.key)

    async def resolve_batch(self, records: list[TaskRecord]) -> dict[str, str]:
        """key -> unique_id for those of `records` whose task exists on the server."""
        if not records:
            return {}
        health = self.client.health
        clock = health.clock
        newest_wall = max(rec.intent_at or 0.0 for rec in records)
        newest = clock() - max(0.0, time.time() - newest_wall)  # on the monotonic clock
        oldest = min(rec.intent_at or 0.0 for rec in records)
        fingerprints = {rec.spec.request.fingerprint() for rec in records}
        found: dict[str, str] = {}
        pending = list(records)
        lookups = failures = 0
        while True:
            started = clock()
            try:
                async with self.gate.reconciling(fingerprints):
                    keep = prompt_filter({r.spec.request.prompt for r in pending})
                    since = oldest - self.skew_s
                    items = await scan(self.client, since, self.max_pages, kinds_of(pending), keep)
                    wanted = [
                        (r.key, r.intent_at or 0.0, r.spec.request, self.refs_of(r))
                        for r in pending
                    ]
                    async with self.quiet_claim(fingerprints) as claim:
                        new = assign(wanted, items, Either(self.taken, claim.taken), self.skew_s)
                        claim.new.update(new.values())
                        self.taken.update(new.values())
            except TransientApiError as exc:
                failures += 1
                log.info("in-doubt lookup failed (%s); trying again", exc)
                await self._pause(max(0.05, retry.backoff_s(failures, self.client.retry_policy)))
                continue
            lookups += 1
            found.update(new)
            pending = [r for r in pending if r.key not in found]
            recovered = health.recovered_at or started
            window = self.settle_s
            if recovered > newest:  # the API failed after the send: it may have held it
                window = max(window, min(health.last_outage_s, MAX_OUTAGE_SETTLE_S))
            settled_at = max(newest, recovered) + window
            if not pending or (lookups >= 2 and started >= settled_at):
                break
            await self._pause(max(0.0, settled_at - clock()))
        log.info(
            "in-doubt: %d looked up (%d lookups), %d found on the server",
            len(records),
            lookups,
            len(found),
        )
        return found

    @asynccontextmanager
    async def quiet_claim(
        self, fingerprints: set[bytes] | Callable[[], set[bytes]]
    ) -> AsyncIterator[Claim]:
        """The registry's claim, once no other live run has a submit of these requests
        between its send and its recorded answer. Whatever the lookup listed before is
        then either in that run's ledger (so in `claim.taken`) or not that run's.
        `fingerprints` may be a function: only asked when another run has any in flight."""
        while True:
            async with self.claim() as claim:
                if not claim.busy or not claim.busy & (
                    fingerprints if isinstance(fingerprints, set) else fingerprints()
                ):
                    yield claim
                    return
            await self._pause(BUSY_RECHECK_S)

    async def listing(
        self,
        since: float,
        keep: Callable[[dict[str, Any]], dict[str, Any] | None],
        kinds: tuple[int, ...],
    ) -> list[dict[str, Any]]:
        """The account's tasks of these kinds (3 image, 4 video: the list shows one kind a
        call) back to `since`, with `keep` only what it keeps of them; failed lookups are
        retried until the run stops (StillInDoubt)."""
        failures = 0
        while True:
            try:
                return await scan(self.client, since, self.max_pages, kinds, keep)
            except TransientApiError as exc:
                failures += 1
                log.info("task listing failed (%s); trying again", exc)
                await self._pause(max(0.05, retry.backoff_s(failures, self.client.retry_policy)))

    async def _pause(self, seconds: float) -> None:
        with anyio.move_on_after(seconds):
            await self.stopping.wait()
        if self.stopping.is_set():
            raise StillInDoubt("the run is stopping")
