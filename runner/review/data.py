"""What the review page asks for: filtered pages of tasks, and one task in full.

The grid never holds the whole run: the page asks for `limit` cards at an
offset. Each task's filter fields sit in a small row that is rebuilt only when
a ledger event touches the task, so a page of a 100,000-task run is a scan of
those rows (a few ms), and the last few answers are kept until the ledger moves.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from runner.report.summary import VIDEO_SUFFIXES, kind_of
from runner.review.follow import LedgerFollower
from runner.rundir.tally import item_status
from runner.taskrecord import TaskRecord

STATUSES = ("succeeded", "failed", "pending")
DECISIONS = ("keep", "reject", "none")
SORTS = ("order", "failed")
MAX_LIMIT = 500


def parents_of(rec: TaskRecord) -> list[str]:
    """Chained tasks' parents, when the records carry them (`parents`: keys or names)."""
    found = (
        getattr(rec.spec.request, "parents", None)  # chained tasks: keys from @name references
        or getattr(rec, "parents", None)
        or getattr(rec.spec, "parents", None)
        or ()
    )
    return [str(p) for p in found]


class Row(NamedTuple):
    status: str
    decision: str
    model: str
    kind: str
    text: str  # lower-cased name, prompt and key: what the text filter searches


def row_of(rec: TaskRecord) -> Row:
    req = rec.spec.request
    text = f"{rec.spec.name}\n{req.prompt}\n{rec.key}".lower()
    return Row(item_status(rec), rec.decision or "none", req.model_code, kind_of(rec), text)


@dataclass(frozen=True, slots=True)
class Query:
    status: str = ""
    decision: str = ""
    model: str = ""
    kind: str = ""
    text: str = ""
    sort: str = "order"

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> Query:
        """Checked values from a query string; anything unknown is a ValueError."""
        q = cls(
            status=params.get("status", ""),
            decision=params.get("decision", ""),
            model=params.get("model", "")[:200],
            kind=params.get("kind", ""),
            text=" ".join(params.get("q", "").lower().split())[:500],
            sort=params.get("sort", "order") or "order",
        )
        for value, allowed, field in (
            (q.status, STATUSES, "status"),
            (q.decision, DECISIONS, "decision"),
            (q.kind, ("image", "video"), "kind"),
            (q.sort, SORTS, "sort"),
        ):
            if value and value not in allowed:
                raise ValueError(f"{field} must be one of {', '.join(allowed)}, not {value!r}")
        return q

    def matches(self, row: Row) -> bool:
        return (
            (not self.status or row.status == self.status)
            and (not self.decision or row.decision == self.decision)
            and (not self.model or row.model == self.model)
            and (not self.kind or row.kind == self.kind)
            and all(word in row.text for word in self.text.split())
        )


class RunIndex:
    def __init__(self, follower: LedgerFollower):
        self.follower = follower
        self.rows: dict[str, Row] = {}
        self._answers: dict[Query, list[str]] = {}
        self._facets: dict[str, dict[str, int]] | None = None
        self._children: dict[str, list[str]] | None = None

    @property
    def records(self) -> dict[str, TaskRecord]:
        return self.follower.replay.records

    def sync(self) -> None:
        """Take in what the ledger gained since the last call."""
        touched = self.follower.refresh()
        if touched is None:
            self.rows = {key: row_of(rec) for key, rec in self.records.items()}
        elif touched:
            for key in touched:
                rec = self.records.get(key)
                if rec is None:
                    self.rows.pop(key, None)
                else:
                    self.rows[key] = row_of(rec)
            if len(self.rows) != len(self.records):  # new tasks keep the manifest's order
                self.rows = {
                    key: self.rows.get(key) or row_of(r) for key, r in self.records.items()
                }
        else:
            return
        self._answers.clear()
        self._facets = None
        self._children = None

    def select(self, q: Query) -> list[str]:
        keys = self._answers.get(q)
        if keys is None:
            keys = [key for key, row in self.rows.items() if q.matches(row)]
            if q.sort == "failed":
                rank = {"failed": 0, "pending": 1, "succeeded": 2}
                keys.sort(key=lambda k: rank[self.rows[k].status])  # stable: order within
            if len(self._answers) >= 16:
                self._answers.clear()
            self._answers[q] = keys
        return keys

    def facets(self) -> dict[str, dict[str, int]]:
        if self._facets is None:
            rows = self.rows.values()
            self._facets = {
                "status": dict(Counter(r.status for r in rows)),
                "decision": dict(Counter(r.decision for r in rows)),
                "model": dict(Counter(r.model for r in rows)),
                "kind": dict(Counter(r.kind for r in rows)),
            }
        return self._facets

    def children(self) -> dict[str, list[str]]:
        """Parent key or name -> the keys of the tasks that take its outputs."""
        if self._children is None:
            found: dict[str, list[str]] = {}
            for key, rec in self.records.items():
                for parent in parents_of(rec):
                    found.setdefault(parent, []).append(key)
            self._children = found
        return self._children

    def page(self, q: Query, offset: int, limit: int) -> dict[str, Any]:
        keys = self.select(q)
        offset = max(0, min(offset, len(keys)))
        chosen = keys[offset : offset + max(1, min(limit, MAX_LIMIT))]
        return {
            "total": len(keys),
            "all": len(self.rows),
            "offset": offset,
            "version": self.follower.version,
            "items": [card(self.records[k]) for k in chosen],
            "facets": self.facets(),
        }

    def position(self, q: Query, key: str) -> int:
        """Where a task is in a filtered list (-1 when it is not in it)."""
        try:
            return self.select(q).index(key)
        except ValueError:
            return -1


def file_url(key: str, attempt: int, index: int) -> str:
    return f"files/{key}/{attempt}/{index}"


def _files(key: str, attempt: int, paths: list[str]) -> list[dict[str, Any]]:
    return [
        {"url": file_url(key, attempt, i), "video": p.lower().endswith(VIDEO_SUFFIXES), "name": p}
        for i, p in enumerate(paths)
    ]


def card(rec: TaskRecord) -> dict[str, Any]:
    req = rec.spec.request
    return {
        "key": rec.key,
        "name": rec.spec.name,
        "prompt": req.prompt,
        "status": item_status(rec),
        "state": rec.state.value,
        "decision": rec.decision,
        "reroll_prompt": rec.reroll_prompt,
        "model": req.model_code,
        "kind": kind_of(rec),
        "attempt": rec.attempt,
        "earlier": len(rec.earlier),
        "files": _files(rec.key, rec.attempt, [rec.files[i].path for i in sorted(rec.files)]),
        "error": rec.error,
    }
