"""The stages of a chained run: a task's stage is one more than its latest parent's.

Stages are for people (plan, status): the scheduler has no stage barrier.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from runner.names import display_name
from runner.records import Request
from runner.report.summary import chain_of
from runner.taskrecord import TaskRecord


def stage_of(requests: Mapping[str, Request]) -> dict[str, int]:
    """key -> stage (1 for a task that takes no other task's outputs)."""
    stages: dict[str, int] = {}
    for key in requests:
        stack = [key]
        while stack:  # iterative: a long chain must not hit the recursion limit
            top = stack[-1]
            if top in stages:
                stack.pop()
                continue
            parents = [p for p in requests[top].parents if p in requests]
            todo = [p for p in parents if p not in stages and p not in stack]
            if todo:
                stack.extend(todo)
                continue
            stages[top] = 1 + max((stages.get(p, 0) for p in parents), default=0)
            stack.pop()
    return stages


def stage_rows(
    requests: Mapping[str, Request], names: Mapping[str, str], states: Mapping[str, str]
) -> list[dict[str, Any]]:
    """One row per stage, in order: how many tasks, of which names, in which states."""
    stages = stage_of(requests)
    rows: dict[int, dict[str, Any]] = {}
    for key, stage in stages.items():
        row = rows.setdefault(
            stage, {"stage": stage, "tasks": 0, "names": Counter(), "states": Counter()}
        )
        row["tasks"] += 1
        row["names"][names.get(key) or "(unnamed)"] += 1
        row["states"][states.get(key, "new")] += 1
    return [
        {**row, "names": dict(row["names"]), "states": dict(row["states"])}
        for _, row in sorted(rows.items())
    ]


def stage_lines(rows: list[dict[str, Any]]) -> list[str]:
    lines = []
    for row in rows:
        names = ", ".join(f"{n} ×{c}" if c > 1 else n for n, c in row["names"].items())
        states = ", ".join(f"{s} {c}" for s, c in sorted(row["states"].items()))
        lines.append(f"  stage {row['stage']}: {row['tasks']} task(s) ({names}); {states}")
    return lines


def chain_rows(records: dict[str, TaskRecord]) -> list[dict[str, Any]]:
    """Each chained task with its parents and which of their outputs it was given."""
    rows = []
    for rec in records.values():
        if not rec.spec.request.parents:
            continue
        given = chain_of(rec, records)["given"]
        rows.append(
            {
                "key": rec.key,
                "name": display_name(rec.spec),
                "state": rec.state.value,
                "parents": list(rec.spec.request.parents),
                "given": [{k: g[k] for k in ("parent", "name", "index", "file")} for g in given],
            }
        )
    return rows


def chain_lines(rows: list[dict[str, Any]], most: int = 20) -> list[str]:
    """`child [key] state <- parent #n (file), ...`, at most `most` lines."""
    lines = []
    for row in rows[:most]:
        given = ", ".join(
            f"{g['name']} [{g['parent'][:8]}] #{g['index'] + 1}"
            + (f" ({g['file']})" if g["file"] else " (not downloaded yet)")
            for g in row["given"]
        )
        lines.append(f"  {row['name']} [{row['key'][:8]}] {row['state']} <- {given}")
    if len(rows) > most:
        lines.append(f"  … and {len(rows) - most} more (see --json or summary.json)")
    return lines
