"""Turn task records into summary.json, index.html and the exit code."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from runner.errors import EXIT_FAILED, EXIT_OK, EXIT_STOPPED
from runner.records import TaskRecord, TaskState
from runner.report.gallery import gallery_parts
from runner.rundir.files import commit_file, writing
from runner.rundir.replay import Replay


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


def item_of(rec: TaskRecord) -> dict[str, Any]:
    req = rec.spec.request
    return {
        "key": rec.key,
        "name": rec.spec.name,
        "prompt": req.prompt,
        "status": item_status(rec),
        "state": rec.state.value,
        "unique_id": rec.unique_id,
        "files": [rec.files[i].path for i in sorted(rec.files)],
        "error": rec.error,
        "trace_id": rec.trace_id,
        "attempt": rec.attempt,
        "parameters": {k: v for k, v in req.to_json().items() if k != "prompt"},
        "source": rec.spec.source,
    }


def build_summary(
    name: str,
    records: list[TaskRecord],
    replay: Replay,
    *,
    stopped: str | None = None,
    budget_reached: bool = False,
    api: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything of summary.json but the items (which `write_reports` streams)."""
    statuses = Counter(item_status(r) for r in records)
    return {
        "name": name,
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "exit_code": exit_code(records),
        "tasks": {
            "total": len(records),
            "succeeded": statuses["succeeded"],
            "failed": statuses["failed"],
            "pending": statuses["pending"],
        },
        "images": {
            "expected": sum(r.images_expected for r in records),
            "downloaded": sum(len(r.files) for r in records),
        },
        "in_doubt": {"adopted": replay.adopted, "resubmitted": replay.resubmitted},
        "stopped": stopped,
        "budget_reached": budget_reached,
        "api": api or {},
    }


def write_reports(run_dir: Path, head: dict[str, Any], records: list[TaskRecord]) -> None:
    """summary.json and index.html, written item by item and renamed into place."""
    summary_tmp = run_dir / ".summary.json.tmp"
    with writing(run_dir / "summary.json"), summary_tmp.open("wb") as fh:
        top = orjson.dumps(head, option=orjson.OPT_INDENT_2)
        fh.write(top[:-2] + b',\n  "items": [')  # reopen the object to append the items
        for i, rec in enumerate(records):
            fh.write(b"\n    " if i == 0 else b",\n    ")
            fh.write(orjson.dumps(item_of(rec)))
        fh.write(b"\n  ]\n}\n")
    commit_file(summary_tmp, run_dir / "summary.json")
    gallery_tmp = run_dir / ".index.html.tmp"
    with writing(run_dir / "index.html"), gallery_tmp.open("w", encoding="utf-8") as out:
        for part in gallery_parts(head, (item_of(rec) for rec in records)):
            out.write(part)
    commit_file(gallery_tmp, run_dir / "index.html")
