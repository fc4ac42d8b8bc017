"""`plan`: the expanded tasks and totals, and what an existing run already finished.

Reads the ledger without taking the lock, so it works while a run is going.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from runner.manifest.limits import DEFAULT_LIMITS, Limits
from runner.manifest.tasks import load_tasks
from runner.names import display_name
from runner.pipeline.prepare import new_attempt
from runner.records import TaskSpec, TaskState, task_ref
from runner.report.stages import stage_lines, stage_rows
from runner.report.text import short
from runner.rundir import ledger
from runner.rundir.files import default_run_dir
from runner.settings import limits_from

# Sent and not finished: in doubt (may exist), on the server, or generated with files missing.
IN_FLIGHT = (TaskState.IN_DOUBT, TaskState.SUBMITTED, TaskState.SUCCEEDED)


def plan_data(
    manifest: Path,
    out: Path | None,
    limits: Limits = DEFAULT_LIMITS,
    reroll_rejected: bool = False,
) -> dict[str, Any]:
    """Totals, and `tasks`: the rows, made as they are read (a million of them
    are never held at once). With `reroll_rejected`, the rejected tasks that
    `run --reroll-rejected` would resubmit show as `reroll` with their prompt."""
    loaded = load_tasks(manifest, limits)
    name, specs, budget = loaded.name, loaded.specs, loaded.max_images
    run_dir = out or default_run_dir(name)
    replay = ledger.read(run_dir / "ledger.jsonl")
    states = {key: rec.state.value for key, rec in replay.records.items()}
    uploaded = set(replay.uploads)
    rerolls = {
        key: retry
        for key, rec in replay.records.items()
        if reroll_rejected and (retry := new_attempt(rec, False, True)) is not None
    }
    del replay
    names = {
        f"local:{sha}": str(f.path.relative_to(manifest.resolve().parent))
        if f.path.is_relative_to(manifest.resolve().parent)
        else str(f.path)
        for sha, f in loaded.files.items()
    }
    chained = any(spec.request.parents for spec in specs)
    if chained:  # another task's output is shown as @name[i], as the manifest says it
        made: Counter[str] = Counter()
        for spec in specs:
            for i in range(spec.request.outputs):
                names[task_ref(spec.key, i)] = f"@{spec.name or spec.key}[{made[spec.name]}]"
                made[spec.name] += 1
    counts = Counter(states.get(spec.key, "new") for spec in specs)
    done, failed = counts[TaskState.DONE.value], counts[TaskState.FAILED.value]
    in_flight = sum(counts[s.value] for s in IN_FLIGHT)
    return {
        "name": name,
        "run_dir": str(run_dir),
        "tasks": (
            _plan_row(spec, states.get(spec.key, "new"), names, rerolls.get(spec.key))
            for spec in specs
        ),
        "totals": {
            "tasks": len(specs),
            "images": sum(s.request.outputs for s in specs if s.request.kind != "video"),
            "videos": sum(1 for s in specs if s.request.kind == "video"),
            "uploads": len(loaded.files),
            "uploads_done": sum(1 for sha in loaded.files if sha in uploaded),
            "already_done": done,
            "left": len(specs) - done,
            # what a killed run left: sent (the server has them, or may), and where they are
            "submitted": in_flight + done + failed,
            "in_flight": in_flight,
            "failed": failed,
            "unsent": len(specs) - done - failed - in_flight,
            "rerolls": len(rerolls),
            "max_images": budget,
        },
        "stages": stage_rows(
            {s.key: s.request for s in specs}, {s.key: s.name for s in specs}, states
        )
        if chained
        else [],
    }


def _plan_row(
    spec: TaskSpec, state: str, names: dict[str, str], reroll: dict[str, Any] | None = None
) -> dict[str, Any]:
    row: dict[str, Any] = {"key": spec.key, "name": display_name(spec), "state": state}
    row.update(spec.request.to_json())
    row["ref_images"] = [names.get(r, r) for r in spec.request.ref_images]
    if reroll is not None:  # what `run --reroll-rejected` would send
        row.update(state="reroll", attempt=reroll["attempt"])
        row["prompt"] = reroll.get("prompt", row["prompt"])
    return row


def _text_row(t: dict[str, Any]) -> str:
    refs = ""
    if t["ref_images"]:
        shown = ", ".join(short(r.rsplit("/", 1)[-1], 24) for r in t["ref_images"][:3])
        more = f" +{len(t['ref_images']) - 3}" if len(t["ref_images"]) > 3 else ""
        refs = f"  [refs: {shown}{more}]"
    return (
        f"{t['key']:16}  {t['state']:9}  {t['aspect_ratio']:5}  {t['clarity']:4}  "
        f"{t['number_of_images']}  {short(t['name'], 16):16}  "
        f"{short(t['prompt'], 48)}{refs}"
    )


def plan_lines(data: dict[str, Any]) -> Iterator[str]:
    yield f"{'key':16}  {'state':9}  {'ratio':5}  {'clar':4}  n  {'name':16}  prompt"
    for t in data["tasks"]:
        yield _text_row(t)
    tot = data["totals"]
    uploads = (
        f", {tot['uploads']} local images to upload ({tot['uploads_done']} already up)"
        if tot["uploads"]
        else ""
    )
    budget = f"; budget {tot['max_images']} images" if tot["max_images"] else ""
    if tot.get("rerolls"):
        budget += f"; {tot['rerolls']} rejected task(s) to reroll as new attempts"
    videos = f", {tot['videos']} videos" if tot.get("videos") else ""
    if data["stages"]:
        yield "\nstages (a task starts as soon as the tasks it takes outputs from are done):"
        yield from stage_lines(data["stages"])
    yield (
        f"\n{tot['tasks']} tasks, {tot['images']} images{videos}{uploads}{budget}; already done "
        f"{tot['already_done']}, left {tot['left']} ({tot['in_flight']} in flight, "
        f"{tot['failed']} failed, {tot['unsent']} not yet submitted); submitted "
        f"{tot['submitted']} (run directory {data['run_dir']})"
    )


def plan_text(data: dict[str, Any]) -> str:
    return "\n".join(plan_lines(data))


def json_chunks(data: dict[str, Any]) -> Iterator[bytes]:
    """`data` as indented JSON, its task rows streamed one by one."""
    head = {k: v for k, v in data.items() if k != "tasks"}
    yield orjson.dumps(head, option=orjson.OPT_INDENT_2)[:-2] + b',\n  "tasks": ['
    for i, row in enumerate(data["tasks"]):
        yield (b"\n    " if i == 0 else b",\n    ") + orjson.dumps(row)
    yield b"\n  ]\n}\n"


def main(args: argparse.Namespace) -> int:
    data = plan_data(args.manifest, args.out, limits_from(args), args.reroll_rejected)
    out = sys.stdout
    if args.json:
        out.flush()
        for chunk in json_chunks(data):
            out.buffer.write(chunk)
        out.buffer.flush()
    else:
        out.writelines(line + "\n" for line in plan_lines(data))
    return 0
