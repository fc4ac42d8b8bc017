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
failed (Error/Fail) is not charged and is ignored.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import replace
from typing import Any

import anyio

from runner.api.client import ApiClient
from runner.errors import DownloadError, StillInDoubt, TransientApiError
from runner.pipeline import reconcile, tasklist
from runner.pipeline.context import RunContext
from runner.pipeline.download import fetch
from runner.records import TaskRecord

log = logging.getLogger("runner.audit")
NOT_CHARGED = frozenset({"Error", "Fail"})
RUNNING = frozenset({"Queued", "Ready", "Generating"})


async def run_audit(ctx: RunContext) -> None:
    """The audit at the end of a run; a stop (signal) cuts it short, harmlessly."""
    async with anyio.create_task_group() as tg:

        async def on_stop() -> None:
            await ctx.stopping.wait()
            tg.cancel_scope.cancel()

        tg.start_soon(on_stop)
        try:
            await audit(ctx, ctx.options.audit_wait_s)
        except StillInDoubt:
            pass  # the run is stopping
        except TransientApiError as exc:
            log.warning("audit not done (%s); `seedream-batch status --audit` does it later", exc)
        tg.cancel_scope.cancel()


async def audit(ctx: RunContext, wait_s: float = 120.0) -> int:
    """Find, record and download duplicates; returns how many were found this time."""
    state = ctx.ledger.state
    until = time.time()
    since = (state.audited_until or state.first_t or until) - ctx.options.clock_skew_s
    pages = max(ctx.options.max_scan_pages, len(ctx.records) // 25 + 20)
    kinds = tasklist.kinds_of(ctx.records.values()) or (3,)
    matcher = Matcher(ctx, since)
    failed: list[TransientApiError] = []

    async def listing(client: ApiClient) -> None:
        try:
            for kind in kinds:  # images, videos apart; each page matched, then dropped
                async for batch in tasklist.pages(client, since, pages, kind):
                    matcher.feed(batch)
        except TransientApiError as exc:
            failed.append(exc)

    async with anyio.create_task_group() as tg:  # a pool: each account lists its own, at once
        for client in _clients(ctx):
            tg.start_soon(listing, client)
    if failed:
        raise failed[0]  # as one account's scan would: the audit is done later

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
    ctx.ledger.write({"e": "audit", "since": since, "until": until, "found": len(new)})
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


class Matcher:
    """Matches the listing page by page: of the account's tasks only the duplicates found
    are kept (record, uid, status), so the audit's memory does not grow with the account."""

    def __init__(self, ctx: RunContext, since: float):
        self.ctx, self.since, self.listed = ctx, since, 0
        self.known = ctx.taken | ctx.reconciler.others_taken() | set(ctx.ledger.state.duplicates)
        # prompt -> our records that have their task: one record, or several sharing a prompt
        self.owners: dict[str, TaskRecord | list[TaskRecord]] = {}
        for rec in ctx.records.values():
            if rec.unique_id:
                prompt = rec.spec.request.prompt
                held = self.owners.setdefault(prompt, rec)
                if isinstance(held, list):
                    held.append(rec)
                elif held is not rec:
                    self.owners[prompt] = [held, rec]
        self.found: list[tuple[TaskRecord, str, str]] = []

    def feed(self, items: list[dict[str, Any]]) -> None:
        """Unknown listed tasks that repeat the request of one of ours that has its task."""
        self.listed += len(items)
        for item in items:
            uid, created = item.get("unique_id"), item.get("create_time")
            if (
                not isinstance(uid, str)
                or uid in self.known
                or not isinstance(created, int | float)
                or created < self.since
                or item.get("progress_desc") in NOT_CHARGED
            ):
                continue
            held = self.owners.get(tasklist.listed_prompt(item) or "")
            for rec in held if isinstance(held, list) else (held,) if held else ():
                if reconcile.same_request(item, rec.spec.request, self.ctx.reconciler.refs_of(rec)):
                    self.found.append((rec, uid, str(item.get("progress_desc") or "")))
                    self.known.add(uid)
                    break

    def unclaimed(self) -> list[tuple[TaskRecord, str, str]]:
        """The matches, less those another live run has recorded since the listing began."""
        others = self.ctx.reconciler.others_taken()
        return [found for found in self.found if found[1] not in others]


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
    for client in _clients(ctx):  # a duplicate is listed by the account that made it
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


def _clients(ctx: RunContext) -> list[ApiClient]:
    return [a.client for a in ctx.pool.alive] if ctx.pool is not None else [ctx.client]


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
