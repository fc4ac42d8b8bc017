"""`plan`: the expanded tasks and totals, and what an existing run already finished.

Reads the ledger without taking the lock, so it works while a run is going.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from itertools import islice
from operator import attrgetter
from pathlib import Path
from typing import Any, TypeVar

import orjson

from runner.manifest.limits import DEFAULT_LIMITS, Limits
from runner.manifest.tasks import load_tasks
from runner.records import Request, TaskSpec, TaskState, task_ref
from runner.report.planrows import PlanRows
from runner.report.stages import stage_lines, stage_rows
from runner.rundir import ledger
from runner.rundir.files import default_run_dir
from runner.settings import limits_from

# Sent and not finished: in doubt (may exist), on the server, or generated with files missing.
IN_FLIGHT = (TaskState.IN_DOUBT, TaskState.SUBMITTED, TaskState.SUCCEEDED)
CHUNK_ROWS = 4096  # rows a write: a write a row costs seconds for a million
_KEY = attrgetter("key")
_REFS = attrgetter("request.ref_images")
_SHAPE = attrgetter(
    "request.model_code",
    "request.video_duration",
    "request.quality_mode",
    "request.number_of_images",
)
T = TypeVar("T")


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
    rerolls: dict[str, dict[str, Any]] = {}
    if reroll_rejected:
        # the run's own rule; imported here, as it brings aiohttp (0.17 s) for nothing else
        from runner.pipeline.prepare import new_attempt

        rerolls = {
            key: retry
            for key, rec in replay.records.items()
            if (retry := new_attempt(rec, False, True)) is not None
        }
    del replay
    names = {
        f"local:{sha}": str(f.path.relative_to(manifest.resolve().parent))
        if f.path.is_relative_to(manifest.resolve().parent)
        else str(f.path)
        for sha, f in loaded.files.items()
    }
    # most tasks take no references: only those that do are asked for their parents
    chained = any(spec.request.parents for spec in filter(_REFS, specs))
    if chained:  # another task's output is shown as @name[i], as the manifest says it
        made: Counter[str] = Counter()
        for spec in specs:
            for i in range(spec.request.outputs):
                names[task_ref(spec.key, i)] = f"@{spec.name or spec.key}[{made[spec.name]}]"
                made[spec.name] += 1
    counts = Counter(filter(None, map(states.get, map(_KEY, specs)))) if states else Counter()
    done, failed = counts[TaskState.DONE.value], counts[TaskState.FAILED.value]
    in_flight = sum(counts[s.value] for s in IN_FLIGHT)
    images, videos = _made(specs)
    return {
        "name": name,
        "run_dir": str(run_dir),
        "tasks": PlanRows(specs, states, names, rerolls),
        "totals": {
            "tasks": len(specs),
            "images": images,
            "videos": videos,
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


def _made(specs: Iterable[TaskSpec]) -> tuple[int, int]:
    """Images and videos the requests make. `kind` and `outputs` read the model and the
    video fields and number_of_images only: looked up once a shape, not once a task."""
    shapes = Counter(map(_SHAPE, specs))
    images = videos = 0
    for (model_code, duration, quality, number), count in shapes.items():
        shape = Request(
            "",
            (),
            model_code=model_code,
            video_duration=duration,
            quality_mode=quality,
            number_of_images=number,
        )
        if shape.kind == "video":
            videos += count
        else:
            images += count * shape.outputs
    return images, videos


def plan_lines(data: dict[str, Any]) -> Iterator[str]:
    yield from data["tasks"].text()
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
    rows = iter(data["tasks"])
    for i, chunk in enumerate(_batched(rows, CHUNK_ROWS)):
        lead = b"\n    " if i == 0 else b",\n    "
        yield lead + b",\n    ".join(map(orjson.dumps, chunk))
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
        for lines in _batched(plan_lines(data), CHUNK_ROWS):  # a write per line costs seconds
            out.write("\n".join(lines) + "\n")
    return 0


def _batched(items: Iterator[T], size: int) -> Iterator[list[T]]:
    while chunk := list(islice(items, size)):
        yield chunk
