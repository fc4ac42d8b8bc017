"""`run`: from a manifest to a finished (or resumable) run directory.

1. load + expand the manifest (any problem: ManifestError, nothing touched);
2. take the run directory's lock, open and replay the ledger;
3. plan: record new tasks, drop never-sent tasks the manifest no longer has,
   check every recorded image on disk, mark --retry-failed tasks as new attempts;
4. look up submits left in doubt by a crash (adopt or resubmit);
5. run the pipeline under the signal handler and the deadline;
6. write summary.json and index.html, and return the exit code.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp
import anyio

from runner import logsetup
from runner.api.client import ApiClient
from runner.api.credentials import Credentials
from runner.api.limiter import AccountLimiter
from runner.errors import AuthError
from runner.manifest.expand import MAX_TASKS, expand_with_files
from runner.manifest.load import load_manifest
from runner.manifest.localrefs import LocalFile, is_placeholder
from runner.pipeline import scheduler
from runner.pipeline.context import RunContext, RunOptions
from runner.pipeline.download import verify_files
from runner.pipeline.gate import RequestGate
from runner.pipeline.progress import live_reporter, plain_reporter
from runner.pipeline.reconcile import Reconciler
from runner.pipeline.upload import Uploader
from runner.records import TaskRecord, TaskSpec, TaskState
from runner.report.notify import notify
from runner.report.summary import EXIT_AUTH, build_summary, exit_code, write_reports
from runner.rundir.files import clean_partials, slug
from runner.rundir.ledger import Ledger
from runner.rundir.lock import RunLock
from runner.rundir.replay import Replay

log = logging.getLogger("runner.run")


@dataclass(frozen=True, slots=True)
class RunRequest:
    manifest: Path
    out: Path | None = None
    options: RunOptions = field(default_factory=RunOptions)
    max_tasks: int = MAX_TASKS
    progress_interval_s: float = 30.0
    log_to_run_dir: bool = True
    notify_url: str | None = None
    quiet: bool = False


def default_run_dir(name: str) -> Path:
    return Path("outputs") / slug(name)


@dataclass(frozen=True, slots=True)
class Loaded:
    name: str
    specs: list[TaskSpec]
    max_images: int | None
    files: dict[str, LocalFile]  # sha256 -> local reference file


def load_tasks(path: Path, max_tasks: int = MAX_TASKS) -> Loaded:
    manifest = load_manifest(path)
    specs, files = expand_with_files(manifest, max_tasks)
    return Loaded(manifest.name, specs, manifest.max_images, files.by_sha)


def plan(ledger: Ledger, replay: Replay, specs: list[TaskSpec], retry_failed: bool) -> int:
    """Bring the ledger in line with the manifest; returns how many tasks are new."""
    records = replay.records
    events: list[dict[str, Any]] = []
    wanted = {spec.key for spec in specs}
    for spec in specs:
        if spec.key not in records:
            records[spec.key] = TaskRecord(spec)
            events.append(
                {
                    "e": "planned",
                    "key": spec.key,
                    "name": spec.name,
                    "req": spec.request.to_json(),
                    "src": spec.source,
                }
            )
    new = len(events)
    for key, rec in list(records.items()):
        if key not in wanted and rec.state is TaskState.PLANNED:
            events.append({"e": "dropped", "key": key})
            del records[key]
    if retry_failed:
        for rec in records.values():
            if rec.state is TaskState.FAILED and rec.key in wanted and not rec.image_errors:
                events.append({"e": "retry", "key": rec.key, "attempt": rec.attempt + 1})
                rec.attempt += 1
                rec.state, rec.unique_id, rec.error, rec.trace_id = (
                    TaskState.PLANNED,
                    None,
                    None,
                    None,
                )
                rec.urls, rec.files = [], {}
    ledger.write_many(events, durable=True)
    return new


def check_images(run_dir: Path, replay: Replay) -> int:
    """Recorded images missing or changed on disk, and images that failed before,
    are fetched again: paid work is never given up on while the task exists."""
    redo = 0
    for rec in replay.records.values():
        if rec.files:
            for index in verify_files(run_dir, rec):
                del rec.files[index]
                redo += 1
        if rec.unique_id and (rec.urls or rec.files) and rec.image_errors:
            redo += len(rec.image_errors)
            rec.image_errors.clear()
            rec.error = None
        if (
            rec.state in (TaskState.DONE, TaskState.FAILED)
            and rec.unique_id
            and (rec.urls or rec.files)
            and len(rec.files) < rec.images_expected
            and not rec.image_errors
        ):
            rec.state = TaskState.SUCCEEDED
    return redo


def needs_work(records: dict[str, TaskRecord]) -> bool:
    return any(not rec.state.final for rec in records.values())


async def _on_signals(ctx: RunContext) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            name = signal.Signals(signum).name
            if ctx.stopping.is_set() and signum == signal.SIGINT:
                log.warning("second SIGINT: exiting now; the ledger is valid, run again to resume")
                logging.shutdown()
                os._exit(4)
            log.warning(
                "%s: submitting nothing more, recording what is known "
                "(press Ctrl-C again to quit at once)",
                name,
            )
            ctx.request_stop(name)


async def run(
    request: RunRequest,
    base_url: str,
    credentials: Callable[[], Credentials],
    attach_log: Callable[[Path], None] = lambda _: None,
) -> int:
    loaded = load_tasks(request.manifest, request.max_tasks)
    opts = request.options
    if opts.max_images is None and loaded.max_images is not None:
        opts = replace(opts, max_images=loaded.max_images)
    run_dir = request.out or default_run_dir(loaded.name)
    (run_dir / "images").mkdir(parents=True, exist_ok=True)
    with RunLock(run_dir):
        attach_log(run_dir)
        ledger = Ledger(run_dir / "ledger.jsonl")
        replay = ledger.open()
        try:
            return await _run_locked(
                request, opts, loaded, run_dir, ledger, replay, base_url, credentials
            )
        finally:
            ledger.close()
            if request.notify_url and (run_dir / "summary.json").exists():
                with anyio.CancelScope(shield=True):
                    await notify(request.notify_url, run_dir / "summary.json")


async def _run_locked(
    request: RunRequest,
    opts: RunOptions,
    loaded: Loaded,
    run_dir: Path,
    ledger: Ledger,
    replay: Replay,
    base_url: str,
    credentials: Callable[[], Credentials],
) -> int:
    name = loaded.name
    new = plan(ledger, replay, loaded.specs, opts.retry_failed)
    clean_partials(run_dir / "images")
    redo = check_images(run_dir, replay)
    records = replay.records
    if redo:
        log.warning("%d recorded image(s) missing or unusable; fetching them again", redo)
    if not needs_work(records):
        summary = build_summary(name, list(records.values()), replay)
        write_reports(run_dir, summary, list(records.values()))
        log.info("nothing to do: all %d tasks are finished (%s)", len(records), run_dir)
        return exit_code(records.values())
    log.info("run %s: %d tasks (%d new), %s", run_dir, len(records), new, base_url)
    creds = credentials()
    limiter = AccountLimiter(opts.qps)
    connector = aiohttp.TCPConnector(limit=opts.workers + opts.concurrency + 8)
    auth_error: AuthError | None = None
    async with aiohttp.ClientSession(connector=connector) as session:
        client = ApiClient(session, base_url, creds, limiter, timeout_s=opts.timeout_s)
        gate, taken = RequestGate(), replay.known_uids()
        uploads = dict(replay.uploads)
        reconciler = Reconciler(
            client,
            gate,
            taken,
            refs_of=lambda rec: _sent_refs(rec, uploads),
            settle_s=opts.settle_s,
            skew_s=opts.clock_skew_s,
            max_pages=opts.max_scan_pages,
        )
        ctx = RunContext(
            run_dir, ledger, client, limiter, session, records, opts, reconciler, gate, taken
        )
        if loaded.files:
            ctx.uploader = Uploader(ctx, loaded.files, uploads)
        ledger.write({"e": "run", "what": "start", "pid": os.getpid(), "name": name}, durable=True)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(_on_signals, ctx)
                if logsetup.CONSOLE is not None and not request.quiet:
                    tg.start_soon(live_reporter, ctx, logsetup.CONSOLE)
                else:
                    tg.start_soon(plain_reporter, ctx, request.progress_interval_s)
                await _resume_in_doubt(ctx)
                await scheduler.execute(ctx)
                tg.cancel_scope.cancel()
        except* AuthError as group:
            auth_error = group.exceptions[0]  # type: ignore[assignment]
            log.error("authentication failed: %s; stopping, nothing is lost", auth_error)
        api = {
            "calls": limiter.calls,
            "throttled_40001": limiter.throttles,
            "final_rate_qps": round(limiter.rate, 3),
        }
    # In-doubt outcomes: those replayed from earlier runs plus this run's own.
    replay.adopted += ctx.stats.counts["adopted"]
    replay.resubmitted += ctx.stats.counts["resubmitted"]
    summary = build_summary(
        name,
        list(records.values()),
        replay,
        stopped=ctx.stop_reason,
        budget_reached=ctx.budget_reached,
        api=api,
    )
    write_reports(run_dir, summary, list(records.values()))
    code = EXIT_AUTH if auth_error is not None else summary["exit_code"]
    ledger.write(
        {"e": "run", "what": "end", "exit": code, "stopped": ctx.stop_reason, "api": api},
        durable=True,
    )
    t = summary["tasks"]
    log.info(
        "finished: %d succeeded, %d failed, %d pending; %d/%d images; exit %d",
        t["succeeded"],
        t["failed"],
        t["pending"],
        summary["images"]["downloaded"],
        summary["images"]["expected"],
        code,
    )
    return code


def _sent_refs(rec: TaskRecord, uploads: dict[str, tuple[str, float]]) -> list[str] | None:
    """The reference URLs a submit of `rec` carried (local files by their uploaded URL)."""
    refs = rec.spec.request.ref_images
    if not any(is_placeholder(r) for r in refs):
        return None
    known = rec.ref_urls or {}
    return [
        known.get(r) or uploads.get(r.removeprefix("local:"), (r, 0.0))[0]
        if is_placeholder(r)
        else r
        for r in refs
    ]


async def _resume_in_doubt(ctx: RunContext) -> None:
    doubtful = [r for r in ctx.records.values() if r.state is TaskState.IN_DOUBT]
    if not doubtful:
        return
    log.info("%d submit(s) were in doubt after an interruption; looking them up", len(doubtful))
    found = await ctx.reconciler.resolve_batch(doubtful)
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
