"""`validate`, `plan`, `status`, `report`: commands that read, never submit.

`status` and `plan` read the ledger without taking the lock, so they work
while a run is going.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from runner.commands.run import default_run_dir, load_tasks
from runner.records import TaskSpec, TaskState
from runner.report.summary import build_summary, exit_code, item_status, write_reports
from runner.rundir import ledger
from runner.rundir.lock import RunLock
from runner.rundir.replay import Replay


def _short(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def validate(manifest: Path) -> str:
    loaded = load_tasks(manifest)
    images = sum(s.request.number_of_images for s in loaded.specs)
    uploads = f", {len(loaded.files)} local images to upload" if loaded.files else ""
    return (
        f"{manifest}: OK, {len(loaded.specs)} tasks, {images} images{uploads} "
        f"(run name {loaded.name!r})"
    )


def plan_data(manifest: Path, out: Path | None) -> dict[str, Any]:
    loaded = load_tasks(manifest)
    name, specs, budget = loaded.name, loaded.specs, loaded.max_images
    run_dir = out or default_run_dir(name)
    replay = ledger.read(run_dir / "ledger.jsonl")
    states = {key: rec.state.value for key, rec in replay.records.items()}
    names = {
        f"local:{sha}": str(f.path.relative_to(manifest.resolve().parent))
        if f.path.is_relative_to(manifest.resolve().parent)
        else str(f.path)
        for sha, f in loaded.files.items()
    }
    tasks = [_plan_row(spec, states.get(spec.key, "new"), names) for spec in specs]
    done = sum(1 for t in tasks if t["state"] == TaskState.DONE.value)
    return {
        "name": name,
        "run_dir": str(run_dir),
        "tasks": tasks,
        "totals": {
            "tasks": len(specs),
            "images": sum(s.request.number_of_images for s in specs),
            "uploads": len(loaded.files),
            "uploads_done": sum(1 for sha in loaded.files if sha in replay.uploads),
            "already_done": done,
            "left": len(specs) - done,
            "max_images": budget,
        },
    }


def _plan_row(spec: TaskSpec, state: str, names: dict[str, str]) -> dict[str, Any]:
    row = {"key": spec.key, "name": spec.name, "state": state, **spec.request.to_json()}
    row["ref_images"] = [names.get(r, r) for r in spec.request.ref_images]
    return row


def plan_text(data: dict[str, Any]) -> str:
    lines = [f"{'key':16}  {'state':9}  {'ratio':5}  {'clar':4}  n  {'name':16}  prompt"]
    for t in data["tasks"]:
        refs = ""
        if t["ref_images"]:
            shown = ", ".join(_short(r.rsplit("/", 1)[-1], 24) for r in t["ref_images"][:3])
            more = f" +{len(t['ref_images']) - 3}" if len(t["ref_images"]) > 3 else ""
            refs = f"  [refs: {shown}{more}]"
        lines.append(
            f"{t['key']:16}  {t['state']:9}  {t['aspect_ratio']:5}  {t['clarity']:4}  "
            f"{t['number_of_images']}  {_short(t['name'] or '-', 16):16}  "
            f"{_short(t['prompt'], 48)}{refs}"
        )
    tot = data["totals"]
    uploads = (
        f", {tot['uploads']} local images to upload ({tot['uploads_done']} already up)"
        if tot["uploads"]
        else ""
    )
    budget = f"; budget {tot['max_images']} images" if tot["max_images"] else ""
    lines.append(
        f"\n{tot['tasks']} tasks, {tot['images']} images{uploads}{budget}; already done "
        f"{tot['already_done']}, left {tot['left']} (run directory {data['run_dir']})"
    )
    return "\n".join(lines)


def status_data(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "ledger.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"{run_dir}: no ledger.jsonl here; is it a run directory?")
    replay = ledger.read(path)
    records = list(replay.records.values())
    states = Counter(rec.state.value for rec in records)
    failures = [
        {
            "key": r.key,
            "name": r.spec.name,
            "unique_id": r.unique_id,
            "error": r.error,
            "trace_id": r.trace_id,
        }
        for r in records
        if r.state is TaskState.FAILED
    ]
    starts = [e for e in replay.runs if e.get("what") == "start"]
    ends = [e for e in replay.runs if e.get("what") == "end"]
    return {
        "run_dir": str(run_dir),
        "tasks": len(records),
        "states": {s.value: states.get(s.value, 0) for s in TaskState},
        "images": {
            "expected": sum(r.images_expected for r in records),
            "downloaded": sum(len(r.files) for r in records),
        },
        "failures": failures,
        "in_doubt": {"adopted": replay.adopted, "resubmitted": replay.resubmitted},
        "first_started": _iso(replay.first_t),
        "last_run_started": _iso(starts[-1]["t"]) if starts else None,
        "last_progress": _iso(replay.last_progress_t),
        "rates": _rates(
            records, starts[-1]["t"] if starts else replay.first_t, replay.last_progress_t
        ),
        "last_run_api": ends[-1].get("api") if ends and ends[-1]["t"] >= starts[-1]["t"] else None,
        "running": RunLock(run_dir).held(),
        "exit_code": exit_code(records),
        "ledger_events": replay.events,
        "bad_ledger_lines": replay.bad_lines,
    }


def _rates(records: list[Any], since: float | None, until: float | None) -> dict[str, float]:
    """Tasks submitted and finished per minute in the latest run, from the ledger."""
    if since is None or until is None or until <= since:
        return {"submitted_per_min": 0.0, "finished_per_min": 0.0}
    minutes = (until - since) / 60
    submitted = sum(1 for r in records if r.submitted_at and r.submitted_at >= since)
    finished = sum(1 for r in records if r.finished_at and r.finished_at >= since)
    return {
        "submitted_per_min": round(submitted / minutes, 1),
        "finished_per_min": round(finished / minutes, 1),
    }


def _iso(t: float | None) -> str | None:
    return None if t is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def status_text(data: dict[str, Any]) -> str:
    lines = [
        f"run {data['run_dir']}: {data['tasks']} tasks"
        + (" (a run is going)" if data["running"] else "")
    ]
    for state, n in data["states"].items():
        if n:
            lines.append(f"  {state:10} {n}")
    img = data["images"]
    lines.append(f"  images     {img['downloaded']}/{img['expected']}")
    lines.append(f"  started {data['first_started']}, last progress {data['last_progress']}")
    rates = data["rates"]
    lines.append(
        f"  latest run: {rates['submitted_per_min']} submitted/min, "
        f"{rates['finished_per_min']} finished/min"
    )
    if data["last_run_api"]:
        api = data["last_run_api"]
        lines.append(f"  API calls {api.get('calls')}, 40001 answers {api.get('throttled_40001')}")
    if data["failures"]:
        lines.append("failures:")
        for f in data["failures"][:50]:
            trace = f" [trace_id {f['trace_id']}]" if f["trace_id"] else ""
            lines.append(f"  {f['key']} {f['name'] or ''}: {f['error']}{trace}")
        if len(data["failures"]) > 50:
            lines.append(f"  … and {len(data['failures']) - 50} more (see --json)")
    return "\n".join(lines)


def report(run_dir: Path) -> dict[str, Any]:
    replay: Replay = ledger.read(run_dir / "ledger.jsonl")
    if not replay.records:
        raise FileNotFoundError(f"{run_dir}: no tasks in ledger.jsonl")
    name = next((e["name"] for e in replay.runs if e.get("name")), run_dir.name)
    summary = build_summary(name, list(replay.records.values()), replay)
    write_reports(run_dir, summary, list(replay.records.values()))
    return summary


def dumps(data: Any) -> str:
    return orjson.dumps(data, option=orjson.OPT_INDENT_2).decode()


__all__ = [
    "item_status",
    "plan_data",
    "plan_text",
    "report",
    "status_data",
    "status_text",
    "validate",
]
