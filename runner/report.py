"""Turn task records into summary.json, index.html and the exit code."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from .files import write_atomic
from .gallery import render_gallery
from .model import TaskRecord, TaskState
from .replay import Replay

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_AUTH, EXIT_STOPPED, EXIT_LOCKED = 0, 1, 2, 3, 4, 75


def item_status(rec: TaskRecord) -> str:
    if rec.state is TaskState.DONE:
        return "succeeded"
    if rec.state is TaskState.FAILED:
        return "failed"
    return "pending"


def exit_code(records: Iterable[TaskRecord]) -> int:
    states = [r.state for r in records]
    if any(not s.final for s in states):
        return EXIT_STOPPED
    if TaskState.FAILED in states:
        return EXIT_FAILED
    return EXIT_OK


def build_summary(
    name: str,
    records: list[TaskRecord],
    replay: Replay,
    *,
    stopped: str | None = None,
    budget_reached: bool = False,
    api: dict[str, Any] | None = None,
) -> dict[str, Any]:
    statuses = [item_status(r) for r in records]
    items = []
    for rec, status in zip(records, statuses, strict=True):
        req = rec.spec.request
        items.append(
            {
                "key": rec.key,
                "name": rec.spec.name,
                "prompt": req.prompt,
                "status": status,
                "state": rec.state.value,
                "unique_id": rec.unique_id,
                "files": [rec.files[i].path for i in sorted(rec.files)],
                "error": rec.error,
                "trace_id": rec.trace_id,
                "attempt": rec.attempt,
                "parameters": {k: v for k, v in req.to_json().items() if k != "prompt"},
                "source": rec.spec.source,
            }
        )
    return {
        "name": name,
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "exit_code": exit_code(records),
        "tasks": {
            "total": len(records),
            "succeeded": statuses.count("succeeded"),
            "failed": statuses.count("failed"),
            "pending": statuses.count("pending"),
        },
        "images": {
            "expected": sum(r.images_expected for r in records),
            "downloaded": sum(len(r.files) for r in records),
        },
        "in_doubt": {"adopted": replay.adopted, "resubmitted": replay.resubmitted},
        "stopped": stopped,
        "budget_reached": budget_reached,
        "api": api or {},
        "items": items,
    }


def write_reports(run_dir: Path, summary: dict[str, Any]) -> None:
    write_atomic(run_dir / "summary.json", orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    write_atomic(run_dir / "index.html", render_gallery(summary).encode("utf-8"))
