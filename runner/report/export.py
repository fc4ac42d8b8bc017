"""Hand a run's files on: copies (or hard links) with their prompts and parameters.

`metadata.jsonl` and `metadata.csv` in the destination carry one row a file:
file, sha256, name, prompt, model, parameters, unique_id, run, decision (and
key, attempt). Exporting another run, or the same run again, into the same
folder merges rows by (run, file). Everything is checked before anything is
written: a name already taken by different bytes stops the export untouched.
"""

from __future__ import annotations

import csv
import errno
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from runner.errors import UsageError
from runner.names import display_name
from runner.records import ImageFile, TaskState
from runner.rundir.files import commit_file, fsync_path, sha256_file
from runner.rundir.replay import Replay
from runner.taskrecord import TaskRecord

ONLY = ("kept", "succeeded", "all")
COLUMNS = (
    "file",
    "sha256",
    "name",
    "prompt",
    "model",
    "parameters",
    "unique_id",
    "run",
    "decision",
    "key",
    "attempt",
)


@dataclass(frozen=True, slots=True)
class Pick:
    source: Path
    image: ImageFile
    row: dict[str, Any]


def _attempts(
    rec: TaskRecord,
) -> Iterator[tuple[int, str, str | None, tuple[ImageFile, ...], str | None]]:
    """(attempt, prompt, unique_id, files, decision) of every attempt, the current one last."""
    for a in rec.earlier:
        yield a.attempt, a.prompt, a.unique_id, a.files, a.decision
    current = tuple(rec.files[i] for i in sorted(rec.files))
    yield rec.attempt, rec.spec.request.prompt, rec.unique_id, current, rec.decision


def choose(run_dir: Path, run_name: str, replay: Replay, only: str) -> list[Pick]:
    picks = []
    for rec in replay.records.values():
        req = rec.spec.request
        params = {k: v for k, v in req.to_json().items() if k != "prompt"}
        for attempt, prompt, uid, files, decision in _attempts(rec):
            current = attempt == rec.attempt
            if only == "kept" and decision != "keep":
                continue
            if only == "succeeded" and not (current and rec.state is TaskState.DONE):
                continue
            for image in files:
                row = {
                    "file": Path(image.path).name,
                    "sha256": image.sha256,
                    "name": display_name(rec.spec),
                    "prompt": prompt,
                    "model": req.model_code,
                    "parameters": params,
                    "unique_id": uid,
                    "run": run_name,
                    "decision": decision,
                    "key": rec.key,
                    "attempt": attempt,
                }
                picks.append(Pick(run_dir / image.path, image, row))
    return picks


def _existing(dest: Path) -> list[dict[str, Any]]:
    path = dest / "metadata.jsonl"
    if not path.exists():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def export(
    run_dir: Path, run_name: str, replay: Replay, dest: Path, only: str, link: bool
) -> list[dict[str, Any]]:
    """Copy or link the chosen files into `dest`; returns the rows written for them."""
    picks = choose(run_dir, run_name, replay, only)
    problems = []
    for p in picks:
        if not p.source.is_file():
            problems.append(f"{p.source}: recorded in the ledger but missing on disk")
            continue
        target = dest / p.row["file"]
        if target.exists() and sha256_file(target)[0] != p.image.sha256:
            problems.append(f"{target}: already there with different content")
    if problems:
        raise UsageError("nothing exported:\n  " + "\n  ".join(problems))
    dest.mkdir(parents=True, exist_ok=True)
    for p in picks:
        target = dest / p.row["file"]
        if target.exists():
            continue  # the same bytes: exported before
        if link:
            try:
                os.link(p.source, target)
            except OSError as exc:
                if exc.errno == errno.EXDEV:
                    raise UsageError(
                        f"{dest} is on another file system than {run_dir}: hard links cannot "
                        "cross it; export without --link to copy"
                    ) from None
                raise
        else:
            tmp = dest / f".{p.row['file']}.part"
            shutil.copyfile(p.source, tmp)
            commit_file(tmp, target)
    rows = [p.row for p in picks]
    mine = {(r["run"], r["file"]) for r in rows}
    merged = [r for r in _existing(dest) if (r.get("run"), r.get("file")) not in mine] + rows
    _write_metadata(dest, merged)
    return rows


def _write_metadata(dest: Path, rows: list[dict[str, Any]]) -> None:
    tmp = dest / ".metadata.jsonl.tmp"
    with tmp.open("wb") as fh:
        for row in rows:
            fh.write(orjson.dumps(row) + b"\n")
    commit_file(tmp, dest / "metadata.jsonl")
    tmp = dest / ".metadata.csv.tmp"
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        out = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore")
        out.writeheader()
        for row in rows:
            out.writerow({**row, "parameters": orjson.dumps(row.get("parameters", {})).decode()})
    commit_file(tmp, dest / "metadata.csv")
    fsync_path(dest)
