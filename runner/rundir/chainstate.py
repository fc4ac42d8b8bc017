"""Chained tasks in the replayed state: which tasks are parents, which are blocked.

Both are derived from the records, never logged: a parent retried with
--retry-failed unblocks its children by itself, and a resume recomputes them.
"""

from __future__ import annotations

from runner.records import TaskSpec, TaskState
from runner.taskrecord import TaskRecord


def mark_parents(records: dict[str, TaskRecord], spec: TaskSpec) -> None:
    """The tasks whose outputs `spec` takes keep their output URLs when done."""
    for key in spec.request.parents:
        parent = records.get(key)
        if parent is not None:
            parent.has_children = True


def settle_blocked(records: dict[str, TaskRecord]) -> int:
    """Tasks waiting on a task that failed for good are blocked; others are not.

    Derived, never logged: a parent retried with --retry-failed unblocks its
    children by itself. Returns how many tasks are blocked.
    """
    memo: dict[str, str | None] = {}

    def blocker(rec: TaskRecord) -> str | None:
        if rec.key in memo:
            return memo[rec.key]
        memo[rec.key] = None  # a cycle cannot be expanded; this only guards the recursion
        reason = None
        for key in rec.spec.request.parents:
            parent = records.get(key)
            if parent is None:
                continue
            if parent.state is TaskState.FAILED:
                reason = f"blocked: {parent.spec.name or key} ({key}) failed: {parent.error}"
            elif parent.state in (TaskState.PLANNED, TaskState.BLOCKED):
                reason = blocker(parent)
            if reason:
                break
        memo[rec.key] = reason
        return reason

    blocked = 0
    waiting = (TaskState.PLANNED, TaskState.BLOCKED)
    for rec in records.values():
        request = rec.spec.request
        # no references, no parents: a million plain tasks pass by on the first test
        if not request.ref_images or rec.state not in waiting or not request.parents:
            continue
        reason = blocker(rec)
        if reason:
            rec.state, rec.error = TaskState.BLOCKED, reason
            blocked += 1
        elif rec.state is TaskState.BLOCKED:
            rec.state, rec.error = TaskState.PLANNED, None
    return blocked
