"""Command line: parse, set up logging, call one function, return an exit code."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

import anyio

from runner import __version__, logsetup
from runner.api.credentials import Credentials, resolve_base_url, resolve_credentials
from runner.commands import inspect as inspect_cmds
from runner.commands.run import RunRequest, run
from runner.durations import parse_deadline_s, parse_duration_s
from runner.errors import LockedError, ManifestError, UsageError
from runner.manifest import fields
from runner.manifest.expand import MAX_TASKS
from runner.pipeline.context import RunOptions
from runner.report.summary import EXIT_LOCKED, EXIT_USAGE

log = logging.getLogger("runner.cli")


def _positive(kind: type[float] | type[int]) -> Any:
    def parse(text: str) -> float | int:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="seedream-batch", description=__doc__)
    p.add_argument("--version", action="version", version=f"seedream-batch {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    r = sub.add_parser("run", help="submit, poll and download a manifest's tasks (resumable)")
    r.add_argument("manifest", type=Path)
    r.add_argument("--out", type=Path, help="run directory (default outputs/<manifest name>)")
    r.add_argument(
        "--qps",
        type=_positive(float),
        default=10.0,
        help="API calls per second for the whole account (default 10)",
    )
    r.add_argument("--concurrency", type=_positive(int), default=8, help="downloads in flight")
    r.add_argument("--base-url", help="API base URL (else $CHANJING_OPENAPI_BASE_URL, ...)")
    r.add_argument("--deadline", help="stop submitting after this long (90m, 6h) or at 07:00")
    r.add_argument(
        "--grace",
        default="5m",
        help="after the deadline, keep polling in-flight tasks this long (default 5m)",
    )
    r.add_argument("--max-images", type=_positive(int), help="budget: images to submit at most")
    r.add_argument(
        "--retry-failed",
        action="store_true",
        help="resubmit tasks that ended in Error, as new attempts",
    )
    r.add_argument(
        "--simulate",
        action="store_true",
        help="run against the bundled simulator, in-process, with demo credentials",
    )
    r.add_argument(
        "--max-tasks",
        type=_positive(int),
        default=MAX_TASKS,
        help=f"refuse manifests expanding to more tasks (default {MAX_TASKS:,})",
    )
    r.add_argument(
        "--progress-every",
        type=_positive(float),
        default=30.0,
        metavar="SECONDS",
        help="progress line interval when not on a terminal (default 30)",
    )
    r.add_argument(
        "--first-poll",
        type=_positive(float),
        default=5.0,
        metavar="SECONDS",
        help="first check of a task, until generation times are learned (default 5)",
    )
    r.add_argument("--poll-interval", type=_positive(float), default=2.0, metavar="SECONDS")
    r.add_argument(
        "--clock-skew",
        type=_positive(float),
        default=60.0,
        metavar="SECONDS",
        help="allowed clock difference with the API when looking up lost submits",
    )
    r.add_argument(
        "--max-prompt-chars",
        type=_positive(int),
        default=4000,
        metavar="N",
        help="refuse longer prompts before submitting (the API's limit is unpublished)",
    )
    r.add_argument(
        "--max-download-mb",
        type=_positive(float),
        default=64.0,
        metavar="MB",
        help="an output image larger than this is refused (default 64)",
    )
    r.add_argument(
        "--notify-url",
        metavar="URL",
        help="POST summary.json to this URL when the run ends, however it ends",
    )
    r.add_argument(
        "--settle",
        type=_positive(float),
        default=2.0,
        metavar="SECONDS",
        help="wait before looking up a submit whose answer was lost (default 2)",
    )
    r.add_argument(
        "--timeout",
        type=_positive(float),
        default=30.0,
        metavar="SECONDS",
        help="one HTTP exchange with the API (default 30)",
    )
    _output_flags(r)

    for name, text in (
        ("validate", "check a manifest; submits nothing"),
        ("plan", "show the expanded tasks and what a run already did"),
    ):
        c = sub.add_parser(name, help=text)
        c.add_argument("manifest", type=Path)
        if name == "plan":
            c.add_argument("--out", type=Path, help="run directory to compare with")
            c.add_argument("--json", action="store_true")
    s = sub.add_parser("status", help="counts by state, failures, files of a run directory")
    s.add_argument("run_dir", type=Path)
    s.add_argument("--json", action="store_true")
    rep = sub.add_parser("report", help="(re)write summary.json and index.html of a run")
    rep.add_argument("run_dir", type=Path)

    sim = sub.add_parser("simulate", help="serve the bundled API simulator until stopped")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8765)
    sim.add_argument("--qps", type=_positive(float), default=20.0, help="the account's QPS limit")
    sim.add_argument("--gen", default="2-6", help="generation time range, seconds (default 2-6)")
    sim.add_argument("--fail-rate", type=float, default=0.0)
    sim.add_argument("--seed", type=int, default=0)
    for fault in ("error-50000", "reset", "lost-submit", "html-502", "slow", "truncate"):
        sim.add_argument(f"--{fault}-rate", type=float, default=0.0)
    sim.add_argument("--token-lifetime", type=_positive(float), default=86_400.0)
    return p


def _output_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quiet", action="store_true", help="only warnings and the final summary")
    g.add_argument("--verbose", action="store_true", help="debug output")


def _range(text: str) -> tuple[float, float]:
    low, _, high = text.partition("-")
    try:
        a, b = float(low), float(high or low)
    except ValueError:
        raise UsageError(f"{text!r} is not a range like 2-6") from None
    if a < 0 or b < a:
        raise UsageError(f"{text!r} is not a range like 2-6")
    return a, b


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logsetup.setup(quiet=getattr(args, "quiet", False), verbose=getattr(args, "verbose", False))
    try:
        return _dispatch(args)
    except ManifestError as exc:
        for issue in exc.issues:
            print(f"error: {issue}", file=sys.stderr)
        print(f"{len(exc.issues)} problem(s); nothing was submitted", file=sys.stderr)
        return EXIT_USAGE
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except LockedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_LOCKED
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "validate":
        print(inspect_cmds.validate(args.manifest))
        return 0
    if args.command == "plan":
        data = inspect_cmds.plan_data(args.manifest, args.out)
        print(inspect_cmds.dumps(data) if args.json else inspect_cmds.plan_text(data))
        return 0
    if args.command == "status":
        data = inspect_cmds.status_data(args.run_dir)
        print(inspect_cmds.dumps(data) if args.json else inspect_cmds.status_text(data))
        return 0
    if args.command == "report":
        summary = inspect_cmds.report(args.run_dir)
        print(f"wrote {args.run_dir / 'summary.json'} and {args.run_dir / 'index.html'}")
        return int(summary["exit_code"])
    if args.command == "simulate":
        return _simulate(args)
    return _run(args)


def _run(args: argparse.Namespace) -> int:
    fields.set_max_prompt_chars(args.max_prompt_chars)
    options = RunOptions(
        qps=args.qps,
        concurrency=args.concurrency,
        deadline_s=parse_deadline_s(args.deadline) if args.deadline else None,
        grace_s=parse_duration_s(args.grace),
        max_images=args.max_images,
        first_poll_s=args.first_poll,
        poll_interval_s=args.poll_interval,
        clock_skew_s=args.clock_skew,
        settle_s=args.settle,
        timeout_s=args.timeout,
        retry_failed=args.retry_failed,
        max_download_bytes=int(args.max_download_mb * 1024 * 1024),
    )
    request = RunRequest(
        args.manifest,
        args.out,
        options,
        args.max_tasks,
        args.progress_every,
        notify_url=args.notify_url,
        quiet=args.quiet,
    )

    async def go() -> int:
        if not args.simulate:
            return await run(
                request,
                resolve_base_url(args.base_url),
                resolve_credentials,
                logsetup.attach_run_log,
            )
        from runner.simulator import DEMO_APP_ID, DEMO_SECRET_KEY, RunningSimulator, SimConfig

        # The demo account: a QPS limit above --qps, short generation times.
        config = SimConfig(qps_limit=max(20.0, args.qps * 1.5), gen_s=(1.0, 3.0))
        async with RunningSimulator(config) as sim:
            log.info("simulator on %s (demo credentials)", sim.base_url)
            creds = Credentials(app_id=DEMO_APP_ID, secret_key=DEMO_SECRET_KEY, source="simulator")
            return await run(request, sim.base_url, lambda: creds, logsetup.attach_run_log)

    code = anyio.run(go)
    if args.quiet:
        print(f"exit {code}: see {args.out or 'outputs/'} summary.json")
    return code


def _simulate(args: argparse.Namespace) -> int:
    from runner.simulator import SimConfig, serve_forever

    config = SimConfig(
        qps_limit=args.qps,
        gen_s=_range(args.gen),
        fail_rate=args.fail_rate,
        seed=args.seed,
        error_50000_rate=args.error_50000_rate,
        reset_rate=args.reset_rate,
        lost_submit_rate=args.lost_submit_rate,
        html_502_rate=args.html_502_rate,
        slow_rate=args.slow_rate,
        truncate_rate=args.truncate_rate,
        token_lifetime_s=args.token_lifetime,
    )
    anyio.run(serve_forever, config, args.host, args.port)
    return 0
