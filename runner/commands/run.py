"""`run`: from a manifest to a finished (or resumable) run directory.

1. load + expand the manifest (any problem: ManifestError, nothing touched);
2. take the run directory's lock, open and replay the ledger;
3. prepare: record new tasks, drop never-sent ones, check recorded images on disk;
4. run the pipeline (in-doubt submits first) under the signal handler and the deadline;
5. write summary.json and index.html, and return the exit code.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio

from runner import logsetup
from runner.api.accounts import load_accounts
from runner.api.credentials import Credentials, resolve_base_url, resolve_credentials
from runner.errors import EXIT_AUTH, EXIT_STOPPED, DiskWriteError, SeedreamError
from runner.manifest.load import read_manifest
from runner.pipeline.prepare import needs_work, prepare_run
from runner.pipeline.progress import live_reporter, plain_reporter
from runner.pipeline.wiring import OpenRun, Outcome, Reporter, run_pipeline
from runner.report.notify import notify
from runner.report.summary import build_summary, exit_code, read_head, write_reports
from runner.rundir import checkpoint, manifestmark
from runner.rundir.files import clean_partials, default_run_dir, writing
from runner.rundir.ledger import Ledger
from runner.rundir.lock import RunLock
from runner.rundir.registry import Registration, account_digest
from runner.settings import RunOptions, RunRequest, request_from

log = logging.getLogger("runner.run")
__all__ = ["RunRequest", "main", "run"]  # RunRequest: where callers of run() look for it
Serve = Callable[[Path], AbstractAsyncContextManager[str]]


async def run(
    request: RunRequest,
    base_url: str,
    credentials: Callable[[], Credentials],
    attach_log: Callable[[Path], None] = lambda _: None,
    serve: Serve | None = None,
) -> int:
    """`serve`, when given, starts the API for the run directory (locked) and yields its URL."""
    tasks = manifestmark.load(request.manifest, request.limits, request.out)
    loaded = tasks.loaded
    # A pool's accounts file is checked before anything is touched, as the manifest is.
    pool = load_accounts(request.accounts) if request.accounts else None
    opts = request.options
    if opts.max_images is None and loaded.max_images is not None:
        source = f"max_images: {loaded.max_images} in {request.manifest.name}"
        opts = replace(opts, max_images=loaded.max_images, budget_source=source)
    run_dir = tasks.run_dir
    lock = RunLock(run_dir)
    try:
        with writing(run_dir):
            (run_dir / "images").mkdir(parents=True, exist_ok=True)
            lock.acquire()
    except DiskWriteError as exc:
        log.error("%s; nothing was done", exc)
        return EXIT_STOPPED
    registration = None
    try:
        tasks = manifestmark.expand_again(tasks, request.manifest, request.limits)
        loaded = tasks.loaded
        if serve is None:  # --simulate: an account of its own
            registration = _register(run_dir, tasks.keys, base_url, credentials, opts)
        attach_log(run_dir)
        ledger = Ledger(run_dir / "ledger.jsonl")
        opened: OpenRun | None = None
        try:
            replay = ledger.open()
            resumed_after = replay.last_t if replay.events > 1 else None  # more than a header
            opened = OpenRun(
                loaded.name,
                run_dir,
                ledger,
                replay,
                opts,
                loaded.files,
                resumed_after,
                registration,
            )
            new = prepare_run(opened, tasks, request.manifest.resolve().parent)
            # The records hold what the run needs; on a resume they are the ledger's own
            # copies, so the manifest's million specs would otherwise be held twice.
            loaded.specs.clear()
            if not needs_work(replay.records):
                return _finish(opened, None)
            async with AsyncExitStack() as stack:
                if serve is not None:
                    base_url = await stack.enter_async_context(serve(run_dir))
                log.info(
                    "run %s: %d tasks (%d new), %s", run_dir, len(replay.records), new, base_url
                )
                creds = pool[0].credentials if pool else credentials()
                outcome = await run_pipeline(opened, base_url, creds, _reporter(request), pool)
            return _finish(opened, outcome)
        except DiskWriteError as exc:  # outside the pipeline's task group
            _disk_stopped(run_dir, exc, opened)
            return EXIT_STOPPED
        finally:
            ledger.close()
            if request.notify_url and (run_dir / "summary.json").exists():
                with anyio.CancelScope(shield=True):
                    await notify(request.notify_url, run_dir / "summary.json")
    finally:
        if registration is not None:
            registration.close()
        lock.release()


def _register(
    run_dir: Path,
    keys: str,
    base_url: str,
    credentials: Callable[[], Credentials],
    opts: RunOptions,
) -> Registration:
    """This run in the machine-wide registry; refused (exit 75) if the same manifest
    already runs live on the same account, unless --allow-concurrent."""
    try:
        creds = credentials()
        identity = creds.app_id or creds.access_token or ""
    except Exception:
        identity = ""
    registration = Registration(run_dir, keys, account_digest(base_url, identity))
    registration.enter(opts.allow_concurrent)
    return registration


def _reporter(request: RunRequest) -> Reporter:
    console = logsetup.console()
    if console is not None and not request.quiet:
        return lambda ctx: live_reporter(ctx, console)
    return lambda ctx: plain_reporter(ctx, request.progress_interval_s)


def _finish(run: OpenRun, outcome: Outcome | None) -> int:
    """summary.json, index.html, the ledger's end event and the last log line."""
    run.ledger.take_in_others()  # decisions made in review while the run went
    records = list(run.replay.records.values())
    if outcome is None:
        summary = build_summary(run.name, records, run.replay)
        write_reports(run.run_dir, summary, records)
        log.info("nothing to do: all %d tasks are finished (%s)", len(records), run.run_dir)
        return exit_code(records)
    # In-doubt outcomes of earlier runs and this one: the ledger folds its events into `replay`.
    summary = build_summary(
        run.name,
        records,
        run.replay,
        stopped=outcome.stop_reason,
        budget_reached=outcome.budget_reached,
        api=outcome.api,
    )
    if outcome.disk_error is not None:
        _disk_stopped(run.run_dir, outcome.disk_error, run, summary)
        return EXIT_STOPPED
    write_reports(run.run_dir, summary, records)
    code = EXIT_AUTH if outcome.auth_error is not None else summary["exit_code"]
    run.ledger.write(
        {
            "e": "run",
            "what": "end",
            "exit": code,
            "stopped": outcome.stop_reason,
            "api": outcome.api,
        },
        durable=True,
    )
    if checkpoint.due(run.ledger, run.options.checkpoint_events):
        run.ledger.checkpoint()
    t, v = summary["tasks"], summary.get("videos") or {}
    log.info(
        "finished: %d succeeded, %d failed, %d pending; %d/%d images%s; exit %d",
        t["succeeded"],
        t["failed"],
        t["pending"],
        summary["images"]["downloaded"],
        summary["images"]["expected"],
        f", {v['downloaded']}/{v['expected']} videos" if v.get("expected") else "",
        code,
    )
    return int(code)


def _disk_stopped(
    run_dir: Path,
    error: DiskWriteError,
    run: OpenRun | None,
    summary: dict[str, Any] | None = None,
) -> None:
    """A full, read-only or failing disk: one line, no .part left, the summary if it fits."""
    log.error(
        "%s; stopped: nothing more is submitted; free some space and run again to resume",
        error,
    )
    with contextlib.suppress(OSError):
        clean_partials(run_dir / "images")
        clean_partials(run_dir / "videos")
    if run is None or not run.replay.records:
        return
    records = list(run.replay.records.values())
    summary = summary or build_summary(run.name, records, run.replay)
    summary.update(exit_code=EXIT_STOPPED, stopped=summary.get("stopped") or "disk")
    try:
        write_reports(run_dir, summary, records)
    except DiskWriteError as exc:
        log.error("summary.json not written: %s", exc)


def main(args: argparse.Namespace) -> int:
    request = request_from(args)
    if args.simulate:
        code = anyio.run(_run_simulated, request)
    else:
        base_url = resolve_base_url(args.base_url)
        code = anyio.run(run, request, base_url, resolve_credentials, logsetup.attach_run_log)
    if args.quiet:
        print(final_line(request, code), flush=True)
    return code


def final_line(request: RunRequest, code: int) -> str:
    """--quiet's one line, made for a shared cron.log: when, which run, what came of it."""
    when = time.strftime("%Y-%m-%d %H:%M:%S")
    name, summary_path = _name_and_summary(request)
    counts = ""
    if summary_path is not None and summary_path.exists():
        summary = read_head(summary_path)  # not the items: 100,000 tasks would cost ~300 MB
        t, img, vid = summary["tasks"], summary["images"], summary.get("videos") or {}
        name = summary.get("name") or name
        counts = (
            f": {t['succeeded']} succeeded, {t['failed']} failed, {t['pending']} pending; "
            f"{img['downloaded']}/{img['expected']} images"
        )
        if vid.get("expected"):
            counts += f", {vid['downloaded']}/{vid['expected']} videos"
    where = f"; see {summary_path}" if summary_path is not None else ""
    return f"{when} run {name}{counts}; exit {code}{where}"


def _name_and_summary(request: RunRequest) -> tuple[str, Path | None]:
    """The run's name and its summary.json; with --out and a summary written, the name
    is the summary's and the manifest is not read again (100,000 inline tasks: seconds)."""
    if request.out is not None and (request.out / "summary.json").exists():
        return request.manifest.stem, request.out / "summary.json"
    try:
        name = read_manifest(request.manifest)[0].name
    except SeedreamError:
        name = request.manifest.stem
        if request.out is None:
            return name, None
    return name, (request.out or default_run_dir(name)) / "summary.json"


async def _run_simulated(request: RunRequest) -> int:
    """--simulate: the bundled simulator in-process, with its demo account, its state
    kept in the run directory so that running again resumes against the same account.
    With --accounts, the simulator holds the pool's accounts too (each with a QPS
    limit above its own `qps`), so a pool can be tried before it is pointed at the API."""
    from runner.simulator.accounts import SimAccount
    from runner.simulator.demo import DEMO_APP_ID, DEMO_SECRET_KEY, demo_simulator

    creds = Credentials(app_id=DEMO_APP_ID, secret_key=DEMO_SECRET_KEY, source="simulator")
    qps = request.options.qps
    pool = load_accounts(request.accounts) if request.accounts else []
    held = tuple(
        SimAccount(c.app_id, c.secret_key, max(20.0, (spec.qps or qps) * 1.5))
        for spec in pool
        if (c := spec.credentials).app_id and c.secret_key and c.app_id != DEMO_APP_ID
    )

    def serve(run_dir: Path) -> AbstractAsyncContextManager[str]:
        return demo_simulator(qps, run_dir, held)

    return await run(request, "", lambda: creds, logsetup.attach_run_log, serve=serve)
