"""Settings as frozen values, built once from the command line and passed down.

    RunRequest          what `run` is asked to do
    ├── RunOptions      how the pipeline runs: rates, pacing, timeouts, retry policy
    └── Limits          what makes a manifest acceptable (shared with validate, plan)

No module keeps a setting in a global; tests build these values directly.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, field
from pathlib import Path

from runner.api.retry import DEFAULT_POLICY, RetryPolicy
from runner.durations import parse_deadline_s, parse_duration_s
from runner.manifest.limits import DEFAULT_LIMITS, Limits

DEFAULT_QPS = 10.0  # --qps against the real API: safe for an account whose limit is unknown
SIMULATE_QPS = 100.0  # --qps with --simulate: the demo account allows 1.5 times that
# With --simulate, video tasks are checked as the demo account's short video times
# suit (it makes a video in 2-4 s), not on the real models' minutes.
SIMULATE_VIDEO_POLL = (2.0, 1.0)  # first check, interval


@dataclass(frozen=True, slots=True)
class RunOptions:
    qps: float = DEFAULT_QPS
    concurrency: int = 8  # downloads in flight
    submit_workers: int = 0  # 0: derived from qps
    deadline_s: float | None = None  # seconds from start; None = no deadline
    grace_s: float = 300.0  # after the deadline, how long in-flight tasks are still polled
    stop_grace_s: float = 3.0  # after SIGINT/SIGTERM, how long to record what is known
    max_images: int | None = None
    budget_source: str = ""  # what set max_images when not --max-images, for the log line
    first_poll_s: float = 5.0  # before any task has finished, the first check comes this late
    poll_interval_s: float = 2.0  # re-checks of a task that is not done yet
    video_first_poll_s: float | None = None  # video models; None: the model table's value
    video_poll_interval_s: float | None = None  # video models; None: the model table's value
    poll_linger_s: float = 10.0  # while submitting, a partial poll batch waits up to this
    poll_share: float = 0.15  # while submitting, polls use at most this share of the rate
    timeout_s: float = 30.0  # one HTTP exchange with the API
    settle_s: float = 2.0  # before looking up a lost submit
    clock_skew_s: float = 60.0  # allowed difference between our clock and the server's
    max_scan_pages: int = 200
    download_attempts: int = 4  # per image, each after a re-query for fresh URLs
    max_download_bytes: int = 64 * 1024 * 1024  # an image
    max_video_download_bytes: int = 4096 * 1024 * 1024  # a video
    retry_failed: bool = False
    reroll_rejected: bool = False  # resubmit what review rejected, as new attempts
    max_submit_attempts: int = 8
    file_calls_per_min: float = 30.0  # the vendor's limit on the upload endpoints
    checkpoint_events: int = 50_000  # ledger events between two checkpoints
    audit_wait_s: float = 120.0  # the audit waits this long for duplicates still generating
    ref_url_max_age_s: float = 3600.0  # an output URL older than this is uploaded as a file
    allow_concurrent: bool = False  # a second live run of the same manifest on the account
    give_up_after_s: float | None = 900.0  # no successful API call for this long: stop, exit 4
    retry: RetryPolicy = DEFAULT_POLICY  # waits between retries of one call or download

    @property
    def workers(self) -> int:
        return self.submit_workers or max(4, min(64, math.ceil(self.qps)))


@dataclass(frozen=True, slots=True)
class RunRequest:
    manifest: Path
    out: Path | None = None
    options: RunOptions = field(default_factory=RunOptions)
    limits: Limits = DEFAULT_LIMITS  # what makes the manifest acceptable
    progress_interval_s: float = 30.0
    log_to_run_dir: bool = True
    notify_url: str | None = None
    quiet: bool = False
    accounts: Path | None = None  # an accounts file: a pool of accounts (api/accounts.py)


def default_accounts_path() -> Path | None:
    from runner.api.accounts import default_path

    return default_path()


def limits_from(args: argparse.Namespace) -> Limits:
    return Limits(
        max_tasks=args.max_tasks,
        max_prompt_chars=args.max_prompt_chars,
        max_images=getattr(args, "max_images", None),  # run's budget flag
    )


def request_from(args: argparse.Namespace) -> RunRequest:
    """`run`'s flags as one value."""
    options = RunOptions(
        qps=args.qps or (SIMULATE_QPS if args.simulate else DEFAULT_QPS),
        concurrency=args.concurrency,
        deadline_s=parse_deadline_s(args.deadline) if args.deadline else None,
        grace_s=parse_duration_s(args.grace),
        max_images=args.max_images,
        first_poll_s=args.first_poll,
        poll_interval_s=args.poll_interval,
        clock_skew_s=args.clock_skew,
        settle_s=args.settle,
        timeout_s=args.timeout,
        give_up_after_s=parse_duration_s(args.give_up_after) or None,
        allow_concurrent=args.allow_concurrent,
        retry_failed=args.retry_failed,
        reroll_rejected=args.reroll_rejected,
        max_download_bytes=int(args.max_download_mb * 1024 * 1024),
        max_video_download_bytes=int(args.max_video_download_mb * 1024 * 1024),
        video_first_poll_s=args.video_first_poll
        or (SIMULATE_VIDEO_POLL[0] if args.simulate else None),
        video_poll_interval_s=args.video_poll_interval
        or (SIMULATE_VIDEO_POLL[1] if args.simulate else None),
        ref_url_max_age_s=parse_duration_s(args.ref_url_max_age),
    )
    return RunRequest(
        args.manifest,
        args.out,
        options,
        limits_from(args),
        args.progress_every,
        notify_url=args.notify_url,
        quiet=args.quiet,
        accounts=args.accounts or default_accounts_path(),
    )
