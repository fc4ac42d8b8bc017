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
from runner.pipeline.context import RunContext
from runner.pipeline.download import fetch
from runner.pipeline.reconcile import same_request, scan
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
    items: list[dict[str, Any]] = []
    kinds = sorted({r.spec.request.creation_type for r in ctx.records.values()}) or [3]

    failed: list[TransientApiError] = []

    async def listing(client: ApiClient) -> None:
        try:
            for kind in kinds:
                items.extend(await scan(client, since, pages, kind))  # images, videos apart
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
        new = match(ctx, items, since)
    for rec, item in new:
        uid = item["unique_id"]
        status = str(item.get("progress_desc") or "")
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
        log.info("audit: no task created twice (%d listed since the last audit)", len(items))
    return len(new)


def match(
    ctx: RunContext, items: list[dict[str, Any]], since: float
) -> list[tuple[TaskRecord, dict[str, Any]]]:
    """Unknown listed tasks that repeat the request of one of ours that has its task."""
    known = ctx.taken | ctx.reconciler.others_taken() | set(ctx.ledger.state.duplicates)
    owners: dict[str, list[TaskRecord]] = defaultdict(list)
    for rec in ctx.records.values():
        if rec.unique_id:
            owners[rec.spec.request.prompt].append(rec)
    found = []
    for item in items:
        uid, created = item.get("unique_id"), item.get("create_time")
        info = item.get("photo_info") or item.get("motion_info")  # an image's, or a video's
        if (
            not isinstance(uid, str)
            or uid in known
            or not isinstance(created, int | float)
            or created < since
            or not isinstance(info, dict)
            or item.get("progress_desc") in NOT_CHARGED
        ):
            continue
        for rec in owners.get(str(info.get("ref_prompt")), ()):
            if same_request(item, rec.spec.request, ctx.reconciler.refs_of(rec)):
                found.append((rec, item))
                known.add(uid)
                break
    return found


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
