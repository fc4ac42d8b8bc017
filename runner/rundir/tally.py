"""What `status` prints of a run's tasks, as counters that add and subtract.

A checkpoint keeps the tally of the records it holds in its header, so `status`
on a 1,000,000-task run reads the header and the ledger's tail after it: it
loads only the records the tail touches, subtracts their tally as of the
checkpoint, folds the tail, and adds their tally back. Lists that cannot be
kept small (failures beyond FAILURES_KEPT, chained tasks' stages and blocked
tasks) make the tally `partial`: status then replays everything as before.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from runner.names import display_name
from runner.records import TaskState
from runner.taskrecord import TaskRecord

TALLY_VERSION = 1
FAILURES_KEPT = 2000


def item_status(rec: TaskRecord) -> str:
    if rec.state is TaskState.DONE:
        return "succeeded"
    if rec.state is TaskState.FAILED:
        return "failed"
    if rec.state is TaskState.BLOCKED:
        return "blocked"
    return "pending"


def failure_entry(rec: TaskRecord) -> dict[str, Any]:
    return {
        "key": rec.key,
        "name": display_name(rec.spec),
        "unique_id": rec.unique_id,
        "error": rec.error,
        "trace_id": rec.trace_id,
    }


@dataclass
class Tally:
    since: float | None  # the rates count tasks submitted / finished at or after this
    tasks: int = 0
    states: Counter[str] = field(default_factory=Counter)
    files: Counter[str] = field(default_factory=Counter)  # image_/video_ expected/downloaded
    decisions: Counter[str] = field(default_factory=Counter)
    accounts: dict[str, Counter[str]] = field(default_factory=dict)
    submitted_since: int = 0
    finished_since: int = 0
    max_t: float = 0.0  # latest submitted_at / finished_at of any record counted
    chained: int = 0  # records with parents (their stages need every record)
    # key -> (position among the records, failure entry)
    failures: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)

    def add(self, rec: TaskRecord, pos: int, sign: int = 1) -> None:
        # Called for every record of every checkpoint: kept lean on purpose.
        self.tasks += sign
        state = rec.state
        self.states[state.value] += sign
        request = rec.spec.request
        video = request.kind == "video"
        files = self.files
        files["video_expected" if video else "image_expected"] += sign * (
            1 if video else request.number_of_images
        )
        files["video_downloaded" if video else "image_downloaded"] += sign * len(rec.files)
        self.decisions[rec.decision or "none"] += sign
        if rec.account:
            self.accounts.setdefault(rec.account, Counter())[item_status(rec)] += sign
        since, submitted, finished = self.since, rec.submitted_at, rec.finished_at
        if since is not None:
            if submitted and submitted >= since:
                self.submitted_since += sign
            if finished and finished >= since:
                self.finished_since += sign
        if sign > 0:
            if submitted and submitted > self.max_t:
                self.max_t = submitted
            if finished and finished > self.max_t:
                self.max_t = finished
        if request.parents:
            self.chained += sign
        if state is TaskState.FAILED:
            if sign > 0:
                self.failures[rec.key] = (pos, failure_entry(rec))
            else:
                self.failures.pop(rec.key, None)

    def failures_list(self) -> list[dict[str, Any]]:
        return [entry for _, entry in sorted(self.failures.values(), key=lambda pe: pe[0])]

    def partial(self) -> bool:
        """Counters alone cannot give what status prints: replay every record."""
        return self.chained > 0 or self.states[TaskState.BLOCKED.value] > 0

    def to_json(self) -> dict[str, Any]:
        keep = len(self.failures) <= FAILURES_KEPT
        return {
            "v": TALLY_VERSION,
            "since": self.since,
            "tasks": self.tasks,
            "states": _counts(self.states),
            "files": _counts(self.files),
            "decisions": _counts(self.decisions),
            "accounts": {label: _counts(c) for label, c in self.accounts.items() if +c},
            "submitted_since": self.submitted_since,
            "finished_since": self.finished_since,
            "max_t": self.max_t,
            "chained": self.chained,
            "failures": [[k, p, e] for k, (p, e) in self.failures.items()] if keep else None,
        }

    @classmethod
    def from_json(cls, data: Any) -> Tally | None:
        """None when absent, of another version, or without its failures list."""
        if not isinstance(data, dict) or data.get("v") != TALLY_VERSION:
            return None
        if data.get("failures") is None:
            return None
        return cls(
            since=data["since"],
            tasks=data["tasks"],
            states=Counter(data["states"]),
            files=Counter(data["files"]),
            decisions=Counter(data["decisions"]),
            accounts={label: Counter(c) for label, c in data["accounts"].items()},
            submitted_since=data["submitted_since"],
            finished_since=data["finished_since"],
            max_t=data["max_t"],
            chained=data["chained"],
            failures={k: (p, e) for k, p, e in data["failures"]},
        )


def _counts(counter: Counter[str]) -> dict[str, int]:
    """Its counts, without those subtracted back to 0 (as if never counted)."""
    return {k: n for k, n in counter.items() if n}


def tally_of(records: Iterable[TaskRecord], since: float | None) -> Tally:
    tally = Tally(since)
    for pos, rec in enumerate(records):
        tally.add(rec, pos)
    return tally


def rates_since(runs: list[dict[str, Any]], first_t: float | None) -> float | None:
    """Where the rates start: the latest run's start, or the ledger's first event."""
    starts = [e for e in runs if e.get("what") == "start"]
    return starts[-1]["t"] if starts else first_t
