"""What every stage of one run shares: options, records, ledger, client, counters."""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import anyio

from runner.api.client import ApiClient
from runner.api.limiter import AccountLimiter
from runner.pipeline.gate import RequestGate
from runner.pipeline.reconcile import Reconciler
from runner.records import TaskRecord
from runner.rundir.ledger import Ledger


@dataclass(frozen=True, slots=True)
class RunOptions:
    qps: float = 10.0
    concurrency: int = 8  # downloads in flight
    submit_workers: int = 0  # 0: derived from qps
    deadline_s: float | None = None  # seconds from start; None = no deadline
    grace_s: float = 300.0  # after the deadline, how long in-flight tasks are still polled
    stop_grace_s: float = 3.0  # after SIGINT/SIGTERM, how long to record what is known
    max_images: int | None = None
    first_poll_s: float = 5.0  # before any task has finished, the first check comes this late
    poll_interval_s: float = 2.0  # re-checks of a task that is not done yet
    poll_linger_s: float = 10.0  # while submitting, a partial poll batch waits up to this
    poll_share: float = 0.15  # while submitting, polls use at most this share of the rate
    timeout_s: float = 30.0  # one HTTP exchange with the API
    settle_s: float = 2.0  # before looking up a lost submit
    clock_skew_s: float = 60.0  # allowed difference between our clock and the server's
    max_scan_pages: int = 200
    download_attempts: int = 4  # per image, each after a re-query for fresh URLs
    max_download_bytes: int = 64 * 1024 * 1024
    retry_failed: bool = False
    max_submit_attempts: int = 8
    file_calls_per_min: float = 30.0  # the vendor's limit on the upload endpoints
    checkpoint_events: int = 50_000  # ledger events between two checkpoints
    give_up_after_s: float | None = 900.0  # no successful API call for this long: stop, exit 4

    @property
    def workers(self) -> int:
        return self.submit_workers or max(4, min(64, math.ceil(self.qps)))


@dataclass
class Stats:
    counts: Counter[str] = field(default_factory=Counter)
    started_mono: float = field(default_factory=time.monotonic)


@dataclass
class RunContext:
    run_dir: Path
    ledger: Ledger
    client: ApiClient
    limiter: AccountLimiter
    session: aiohttp.ClientSession
    records: dict[str, TaskRecord]
    options: RunOptions
    reconciler: Reconciler
    gate: RequestGate
    taken: set[str]
    stats: Stats = field(default_factory=Stats)
    stop_reason: str | None = None
    stopping: anyio.Event = field(default_factory=anyio.Event)
    budget_reached: bool = False
    feed_scope: anyio.CancelScope | None = None
    pipeline_done: anyio.Event = field(default_factory=anyio.Event)
    poller: Any = None  # the running Poller, for progress figures
    uploader: Any = None  # the Uploader, when tasks have local reference images

    @property
    def images_dir(self) -> Path:
        return self.run_dir / "images"

    def request_stop(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason
        self.stopping.set()
        if self.feed_scope is not None:
            self.feed_scope.cancel()
