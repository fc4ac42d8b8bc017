"""The end-of-run audit: was anything of this run created (and billed) twice?

The in-doubt rules make a double charge unlikely, not impossible: a gateway
can deliver a submit later than any settle window. So at the end of a run
(and on `status --audit`) the account's tasks created since the last audit
(or the ledger's start), less the clock-skew allowance, are listed. A task
the ledger does not know, that no other live run on this machine recorded,
and that carries exactly the request of one of our tasks which already owns
another task on the server, is a duplicate: it is recorded (`duplicate`
event), its images are downloaded next to the original's (`.dup-<id>` in the
name: paid for, so never lost), and it is reported in the log, in
`summary.json` (`duplicates_billed`) and in the gallery. A duplicate that
failed (Error/Fail) is not charged and is ignored. In a run, the task lists
are read as soon as every submit has its answer, while the last tasks generate;
the audit at the end then reads only what was created since (auditlisting.py).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import replace
from typing import Any

import anyio

from runner.errors import ApiError, DownloadError, StillInDoubt, TransientApiError
from runner.pipeline.auditlisting import NOT_CHARGED, Listing, clients
from runner.pipeline.context import RunContext
from runner.pipeline.download import fetch
from runner.taskrecord import TaskRecord

log = logging.getLogger("runner.audit")
RUNNING = frozenset({"Queued", "Ready", "Generating"})


async def run_audit(ctx: RunContext, early: EarlyListing | None = None) -> None:
    """The audit at the end of a run; a signal or a dead API cuts it short, harmlessly.
    `early`: the listing read while the last tasks generated, if it was."""
    async with anyio.create_task_group() as tg:

        async def on_stop() -> None:
            await ctx.interrupted.wait()  # not the deadline: the run audits what it sent
            tg.cancel_scope.cancel()

        tg.start_soon(on_stop)
        try:
            listing = await early.take() if early is not None else None
            await audit(ctx, ctx.options.audit_wait_s, listing)
        except StillInDoubt:
            pass  # the run is stopping
        except TransientApiError as exc:
            log.warning("audit not done (%s); `seedream-batch status --audit` does it later", exc)
        tg.cancel_scope.cancel()


class EarlyListing:
    """The audit's listing, read as soon as every submit of the run has its answer
    (ctx.submits_done), while the last tasks generate: the end-of-run audit then
    reads only what was created since (auditlisting.py). A stop or a failed call
    leaves it partial, which the audit's own reading completes."""

    def __init__(self, ctx: RunContext):
        self.ctx = ctx
        self.listing: Listing | None = None
        self._done = anyio.Event()
        self._taken = False

    def __repr__(self) -> str:
        return f"<EarlyListing {self.listing!r} done={self._done.is_set()}>"

    async def run(self) -> None:
        ctx = self.ctx
        try:
            await ctx.submits_done.wait()
            if self._taken or ctx.stopping.is_set():
                return
            self.listing = Listing(ctx, _since(ctx))
            async with anyio.create_task_group() as tg:

                async def on_stop() -> None:
                    await ctx.stopping.wait()
                    tg.cancel_scope.cancel()

                tg.start_soon(on_stop)
                try:
                    await self.listing.read()
                except ApiError as exc:  # the end's reading meets it again, and says so
                    log.info("audit: early listing stopped (%s); read at the end", exc)
                tg.cancel_scope.cancel()
        finally:
            self._done.set()

    async def take(self) -> Listing | None:
        """The listing read so far (None: none begun); waits for a reading under way."""
        self._taken = True
        if self.listing is not None:
            await self._done.wait()
        return self.listing


def _since(ctx: RunContext) -> float:
    """Tasks created from here on are listed: since the last audit (or the ledger's
    start), less the allowance for our clock and the server's to disagree."""
    state = ctx.ledger.state
    until = time.time()
    return (state.audited_until or state.first_t or until) - ctx.options.clock_skew_s


async def audit(ctx: RunContext, wait_s: float = 120.0, listing: Listing | None = None) -> int:
    """Find, record and download duplicates; returns how many were found this time.
    `listing`: one read earlier in the run, read again only for what is newer."""
    state = ctx.ledger.state
    until = time.time()
    listing = listing or Listing(ctx, _since(ctx))
    await listing.read()  # a failure: the audit is done later
    matcher = listing.matcher

    # A task another live run has created and not yet recorded is no duplicate of ours.
    def ours() -> set[bytes]:
        return {r.spec.request.fingerprint() for r in ctx.records.values() if r.unique_id}

    async with ctx.reconciler.quiet_claim(ours):
        new = matcher.unclaimed()
    for rec, uid, status in new:
        ctx.ledger.write(
            {"e": "duplicate", "key": rec.key, "uid": uid, "status": status, "files": []},
            durable=True,
        )
        log.warning(
            "audit: task %s (%s) was created twice on the server and billed twice: "
            "%s is a duplicate; its images are kept as *.dup-%s.*",
            rec.key,
            rec.unique_id,
            uid,
            uid[:8],
        )
    await _fetch_missing(ctx, wait_s)
    ctx.ledger.write({"e": "audit", "since": listing.since, "until": until, "found": len(new)})
    total = state.duplicates_billed()
    if new:
        log.warning(
            "audit: %d duplicate charge(s) found in this run (%d in all); see summary.json",
            len(new),
            total,
        )
    else:
        log.info("audit: no task created twice (%d listed since the last audit)", matcher.listed)
    return len(new)


async def _fetch_missing(ctx: RunContext, wait_s: float) -> None:
    """Download the images of every recorded duplicate that has none on disk yet."""
    deadline = anyio.current_time() + wait_s
    while True:
        missing = {
            uid: dup
            for uid, dup in ctx.ledger.state.duplicates.items()
            if not dup.get("files") and dup.get("status") not in NOT_CHARGED
        }
        if not missing:
            return
        items = await _query(ctx, {uid: dup["key"] for uid, dup in missing.items()})
        running = 0
        for uid, dup in missing.items():
            item = items.get(uid)
            status = str(item.get("progress_desc") or "") if item else "unknown"
            if status in RUNNING:
                running += 1
                continue
            files = await _download(ctx, dup["key"], uid, item) if status == "Success" else []
            ctx.ledger.write(
                {"e": "duplicate", "key": dup["key"], "uid": uid, "status": status, "files": files},
                durable=True,
            )
        if not running or anyio.current_time() >= deadline:
            if running:
                log.warning(
                    "audit: %d duplicate(s) still generating; `status --audit` fetches them later",
                    running,
                )
            return
        await anyio.sleep(ctx.options.poll_interval_s)


async def _query(ctx: RunContext, keys: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The listed items of these duplicates (uid -> key of the task they repeat)."""
    by_kind: dict[int, list[str]] = defaultdict(list)
    for uid, key in keys.items():
        rec = ctx.records.get(key)
        by_kind[rec.spec.request.creation_type if rec else 3].append(uid)
    found: dict[str, dict[str, Any]] = {}
    for client in clients(ctx):  # a duplicate is listed by the account that made it
        for kind, uids in sorted(by_kind.items()):
            for start in range(0, len(uids), 50):
                try:
                    items, _, _ = await client.page(uids[start : start + 50], 1, 50, kind)
                except TransientApiError as exc:
                    log.info("audit: query of duplicates failed (%s)", exc)
                    continue
                found.update(
                    (i["unique_id"], i) for i in items if isinstance(i.get("unique_id"), str)
                )
    return found


async def _download(ctx: RunContext, key: str, uid: str, item: dict[str, Any] | None) -> list[str]:
    rec = ctx.records.get(key)
    raw = item.get("output_url") if item else None
    if rec is None or not isinstance(raw, list):
        return []
    twin = TaskRecord(replace(rec.spec, key=f"{key}.dup-{uid[:8]}"), unique_id=uid)
    files = []
    for index, url in enumerate(u for u in raw if isinstance(u, str)):
        try:
            image = await fetch(ctx, twin, index, url)
        except DownloadError as exc:
            log.warning("audit: duplicate %s image %d: %s", uid, index + 1, exc.reason)
            continue
        files.append(image.path)
    return files
