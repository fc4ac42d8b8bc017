"""The stages of a chained run: a task's stage is one more than its latest parent's.

Stages are for people (plan, status): the scheduler has no stage barrier.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from runner.records import Request


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
