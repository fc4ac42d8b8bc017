"""One run's wiring: the HTTP session, limiter, client, reconciler and uploader
around a RunContext, and the task group that drives the pipeline under the
signal handler and a progress reporter."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import anyio

from runner.api.accounts import AccountSpec
from runner.api.client import ApiClient
from runner.api.credentials import Credentials
from runner.api.limiter import AccountLimiter
from runner.errors import AuthError, DiskWriteError
from runner.manifest.localrefs import LocalFile
from runner.pipeline import apiwatch, audit, outputrefs, scheduler, upload
from runner.pipeline.chain import Chain
from runner.pipeline.context import RunContext
from runner.pipeline.gate import RequestGate
from runner.pipeline.indoubt import resume_in_doubt
from runner.pipeline.pool import Account, Pool
from runner.pipeline.reconcile import Reconciler
from runner.pipeline.signals import on_signals
from runner.pipeline.upload import Uploader
from runner.rundir import checkpoint
from runner.rundir.ledger import Ledger
from runner.rundir.lock import RunLock
from runner.rundir.registry import Registration, no_claims
from runner.rundir.replay import Replay
from runner.settings import RunOptions

log = logging.getLogger("runner.run")

E = TypeVar("E", bound=BaseException)
Reporter = Callable[[RunContext], Coroutine[Any, Any, None]]


@dataclass(frozen=True, slots=True)
class OpenRun:
    """A run directory whose lock is held and whose ledger is replayed and planned."""

    name: str
    run_dir: Path
    ledger: Ledger
    replay: Replay
    options: RunOptions
    files: dict[str, LocalFile]  # sha256 -> local reference file
    resumed_after: float | None = None  # a resume: the time of the ledger's last event before it
    registration: Registration | None = None  # this run in the machine-wide registry


@dataclass(frozen=True, slots=True)
class Outcome:
    stop_reason: str | None
    budget_reached: bool
    adopted: int  # in-doubt submits found on the server during this run
    resubmitted: int  # and those found never created
    api: dict[str, Any]
    auth_error: AuthError | None
    disk_error: DiskWriteError | None = None


async def run_pipeline(
    run: OpenRun,
    base_url: str,
    creds: Credentials,
    report: Reporter,
    accounts: list[AccountSpec] | None = None,
) -> Outcome:
    """`accounts`: a pool from an accounts file; without one, `creds` is the one account."""
    specs = accounts or [AccountSpec("", creds, None)]
    opts = replace(run.options, qps=sum(s.qps or run.options.qps for s in specs))
    run = replace(run, options=opts)
    connector = aiohttp.TCPConnector(limit=opts.workers + opts.concurrency + 8)
    async with aiohttp.ClientSession(connector=connector) as session:
        first = AccountLimiter(specs[0].qps or opts.qps)
        client = ApiClient(
            session,
            base_url,
            specs[0].credentials,
            first,
            timeout_s=opts.timeout_s,
            retry_policy=opts.retry,
        )
        ctx = _context(run, client, first, session)
        ctx.pool = pool = _pool(ctx, specs, base_url)
        if pool.labelled:
            log.info(
                "account pool: %s",
                ", ".join(f"{s.label} ({s.qps or run.options.qps:g} qps)" for s in specs),
            )
        run.ledger.write(
            {"e": "run", "what": "start", "pid": os.getpid(), "name": run.name}, durable=True
        )
        auth_error, disk_error = await _drive(ctx, report)
        api = pool.api()
    counts = ctx.stats.counts
    return Outcome(
        ctx.stop_reason,
        ctx.budget_reached,
        counts["adopted"],
        counts["resubmitted"],
        api,
        auth_error,
        disk_error,
    )


def _pool(ctx: RunContext, specs: list[AccountSpec], base_url: str) -> Pool:
    """One account per spec, each with its own token, limiter and reconciler; the
    first reuses the context's client."""
    opts = ctx.options
    accounts = []
    for i, spec in enumerate(specs):
        if i == 0:
            client, limiter, reconciler = ctx.client, ctx.limiter, ctx.reconciler
        else:
            limiter = AccountLimiter(spec.qps or opts.qps)
            client = ApiClient(
                ctx.session,
                base_url,
                spec.credentials,
                limiter,
                timeout_s=opts.timeout_s,
                retry_policy=opts.retry,
            )
            reconciler = ctx.reconciler.with_client(client)
        accounts.append(Account(spec.label, client, limiter, reconciler, spec.max_images))
    pool = Pool(accounts)
    pool.count_committed(ctx.records)
    for label in sorted({r.account for r in ctx.records.values() if r.account}):
        if not pool.knows(label):
            log.warning(
                "tasks were sent through account %r, which the accounts file no longer "
                "names; they are asked about through account %r",
                label,
                accounts[0].label,
            )
    return pool


def _context(
    run: OpenRun, client: ApiClient, limiter: AccountLimiter, session: aiohttp.ClientSession
) -> RunContext:
    opts = run.options
    gate, taken, stopping = RequestGate(), run.replay.known_uids(), anyio.Event()
    uploads = dict(run.replay.uploads)
    reconciler = Reconciler(
        client,
        gate,
        taken,
        refs_of=lambda rec: outputrefs.likely_sent(
            rec, run.replay.records, uploads, upload.sent_refs(rec, uploads)
        ),
        others_taken=set if run.registration is None else run.registration.others_taken,
        claim=no_claims if run.registration is None else run.registration.claiming,
        stopping=stopping,
        settle_s=opts.settle_s,
        skew_s=opts.clock_skew_s,
        max_pages=opts.max_scan_pages,
    )
    ctx = RunContext(
        run.run_dir,
        run.ledger,
        client,
        limiter,
        session,
        run.replay.records,
        opts,
        reconciler,
        gate,
        taken,
        stopping=stopping,
        resumed_after=run.resumed_after,
    )
    if run.registration is not None:
        ctx.in_flight = run.registration.in_flight
    chained = any(rec.spec.request.parents for rec in run.replay.records.values())
    if run.files or chained:  # chained: a refused output URL is uploaded as a file
        ctx.uploader = Uploader(ctx, dict(run.files), uploads)
    if chained:
        ctx.chain = Chain(run.replay.records)
    return ctx


async def _drive(
    ctx: RunContext, report: Reporter
) -> tuple[AuthError | None, DiskWriteError | None]:
    """The pipeline, the signal handler, the dead-API watch and the reporter in
    one task group. An authentication failure or a run directory that cannot be
    written stops the run (nothing is lost) and is returned."""
    auth_error: AuthError | None = None
    disk_error: DiskWriteError | None = None
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(on_signals, ctx)
            tg.start_soon(apiwatch.watch, ctx)
            tg.start_soon(report, ctx)
            tg.start_soon(checkpoint.keep, ctx.ledger, ctx.options.checkpoint_events)
            early = audit.EarlyListing(ctx)  # the audit's listing, while the last tasks generate
            tg.start_soon(early.run)
            await resume_in_doubt(ctx)
            await scheduler.execute(ctx)
            if ctx.stop_reason in (None, "deadline"):
                await audit.run_audit(ctx, early)
            tg.cancel_scope.cancel()
    except* AuthError as group:
        auth_error = _leaf(group, AuthError)
        log.error("authentication failed: %s; stopping, nothing is lost", auth_error)
    except* DiskWriteError as group:
        disk_error = _leaf(group, DiskWriteError)
    return auth_error, disk_error


def _leaf(group: BaseExceptionGroup[Any], kind: type[E]) -> E:
    """The first `kind` in a (nested) exception group."""
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    assert isinstance(exc, kind)
    return exc


async def audit_only(run_dir: Path, name: str, base_url: str, creds: Credentials) -> Replay:
    """`status --audit`: the end-of-run audit for a run directory no run holds."""
    opts = RunOptions()
    with RunLock(run_dir):
        ledger = Ledger(run_dir / "ledger.jsonl")
        replay = ledger.open()
        try:
            limiter = AccountLimiter(opts.qps)
            async with aiohttp.ClientSession() as session:
                client = ApiClient(session, base_url, creds, limiter, timeout_s=opts.timeout_s)
                run = OpenRun(name, run_dir, ledger, replay, opts, {})
                await audit.audit(_context(run, client, limiter, session), opts.audit_wait_s)
        finally:
            ledger.close()
    return replay
