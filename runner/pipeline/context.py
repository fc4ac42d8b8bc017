"""What every stage of one run shares: options, records, ledger, client, counters."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import aiohttp
import anyio

from runner.api.client import ApiClient
from runner.api.limiter import AccountLimiter
from runner.manifest.localrefs import LocalFile
from runner.pipeline.chain import Chain
from runner.pipeline.gate import RequestGate
from runner.pipeline.pool import Pool
from runner.pipeline.reconcile import Reconciler
from runner.rundir.inflight import InFlight
from runner.rundir.ledger import Ledger
from runner.settings import RunOptions
from runner.taskrecord import TaskRecord


class ReferenceUploads(Protocol):
    """Local reference images put on the server once each (pipeline/upload.Uploader)."""

    async def url_for(self, sha: str) -> str:
        """The uploaded URL of the file with this sha256; raises UploadFailed."""
        ...

    def add(self, file: LocalFile) -> None:
        """A file to upload on demand (a parent task's output, for chained tasks)."""
        ...


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
    resumed_after: float | None = None  # a resume: the time of the ledger's last event before it
    stopping: anyio.Event = field(default_factory=anyio.Event)
    # A stop that cuts the end-of-run audit short too (a signal, a dead API); after a
    # deadline the run still audits what it sent.
    interrupted: anyio.Event = field(default_factory=anyio.Event)
    budget_reached: bool = False
    feed_scope: anyio.CancelScope | None = None
    pipeline_done: anyio.Event = field(default_factory=anyio.Event)
    submits_done: anyio.Event = field(default_factory=anyio.Event)  # every submit answered
    uploader: ReferenceUploads | None = None  # local references, or chained ones
    chain: Chain | None = None  # when tasks take other tasks' outputs

    in_flight: InFlight = field(default_factory=InFlight)  # our submits awaiting their answer
    pool: Pool | None = None  # the accounts; client/limiter/reconciler are its first one's

    def final(self, rec: TaskRecord) -> None:
        """`rec` reached a final state: tasks waiting on its outputs may go (or are blocked)."""
        if self.chain is not None:
            self.chain.finished(rec)

    @property
    def images_dir(self) -> Path:
        return self.run_dir / "images"

    def request_stop(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason
        self.stopping.set()
        if reason != "deadline":
            self.interrupted.set()
        if self.feed_scope is not None:
            self.feed_scope.cancel()
