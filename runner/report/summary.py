"""Turn task records into summary.json, index.html and the exit code."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from runner.errors import EXIT_FAILED, EXIT_OK, EXIT_STOPPED
from runner.names import display_name
from runner.records import TaskState, parse_task_ref
from runner.report.gallery import write_gallery
from runner.rundir.files import commit_file, writing
from runner.rundir.replay import Replay
from runner.rundir.tally import item_status
from runner.taskrecord import TaskRecord


def exit_code(records: Iterable[TaskRecord]) -> int:
    states = [r.state for r in records]
    if any(not s.final for s in states):
        return EXIT_STOPPED
    if TaskState.FAILED in states or TaskState.BLOCKED in states:
        return EXIT_FAILED
    return EXIT_OK


def chain_of(rec: TaskRecord, by_key: dict[str, TaskRecord]) -> dict[str, Any]:
    """A chained task's parents, and which of their outputs it was given (file, URL sent)."""
    given = []
    for pos, ref in enumerate(rec.spec.request.ref_images):
        found = parse_task_ref(ref)
        if found is None:
            continue
        parent = by_key.get(found[0])
        image = parent.files.get(found[1]) if parent is not None else None
        sent = rec.sent_refs[pos] if rec.sent_refs and pos < len(rec.sent_refs) else None
        given.append(
            {
                "ref": ref,
                "parent": found[0],
                "name": parent.spec.name if parent is not None else "",
                "index": found[1],
                "file": image.path if image is not None else None,
                "url": sent,
            }
        )
    return {"parents": list(rec.spec.request.parents), "given": given}


def item_of(
    rec: TaskRecord,
    references: dict[str, Any] | None = None,
    by_key: dict[str, TaskRecord] | None = None,
) -> dict[str, Any]:
    """One task of summary.json (and of the gallery's data).

    `references` (summary's top-level `references`) names local reference
    images: `parameters.ref_images` keeps `local:<sha256>`, `refs` adds the file
    name the user wrote and the thumbnail copied into the run directory.
    `by_key` finds a chained task's parents: `parents` and `given` say which of
    their outputs it was given, and its `refs` show those files.
    """
    req = rec.spec.request
    chain = chain_of(rec, by_key or {})
    known = dict(references or {})
    for g in chain["given"]:
        label = f"from {g['name'] or g['parent']} #{g['index'] + 1}"
        known[g["ref"]] = {"name": label, "thumb": g["file"], "parent": g["parent"]}
    return {
        "key": rec.key,
        "name": display_name(rec.spec),
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
        "model_code": req.model_code,
        "kind": kind_of(rec),
        "decision": rec.decision,
        "reroll_prompt": rec.reroll_prompt,
        "refs": [{"ref": r, **known.get(r, {})} for r in req.ref_images],
        "attempts": [
            {
                "attempt": a.attempt,
                "prompt": a.prompt,
                "unique_id": a.unique_id,
                "files": [f.path for f in a.files],
                "decision": a.decision,
                "error": a.error,
            }
            for a in rec.earlier
        ],
        **chain,
        "account": rec.account or None,
    }


def account_counts(records: Iterable[TaskRecord]) -> dict[str, dict[str, int]]:
    """Tasks per pool account label and status; {} when no task names an account."""
    counts: dict[str, Counter[str]] = {}
    for rec in records:
        if rec.account:
            counts.setdefault(rec.account, Counter())[item_status(rec)] += 1
    return {
        label: {"tasks": c.total(), **{s: c[s] for s in ("succeeded", "failed", "pending")}}
        for label, c in sorted(counts.items())
    }


VIDEO_SUFFIXES = (".mp4", ".webm", ".mov")


def kind_of(rec: TaskRecord) -> str:
    """image or video, as the model table says of the task's model."""
    return rec.spec.request.kind


def counts(records: Iterable[TaskRecord]) -> dict[str, Any]:
    """Decisions, and files expected and on disk of images and of videos, in one
    pass: a done task's detail may be parked (rundir.parking), read back once."""
    decisions: Counter[str] = Counter()
    files = {"image": [0, 0], "video": [0, 0]}  # expected, downloaded
    for rec in records:
        decisions[rec.decision or "none"] += 1
        kind = files["video" if rec.spec.request.kind == "video" else "image"]
        kind[0] += rec.images_expected
        kind[1] += len(rec.files)
    return {
        "images": {"expected": files["image"][0], "downloaded": files["image"][1]},
        "videos": {"expected": files["video"][0], "downloaded": files["video"][1]},
        "decisions": {d: decisions[d] for d in ("keep", "reject", "none")},
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
    counted = counts(records)
    return {
        "name": name,
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "exit_code": exit_code(records),
        "tasks": {
            "total": len(records),
            "succeeded": statuses["succeeded"],
            "failed": statuses["failed"],
            "pending": statuses["pending"],
            "blocked": statuses["blocked"],
        },
        "images": counted["images"],
        "videos": counted["videos"],
        "in_doubt": {"adopted": replay.adopted, "resubmitted": replay.resubmitted},
        "decisions": counted["decisions"],
        "references": {
            f"local:{sha}": {"name": name, "thumb": copy}
            for sha, (name, copy) in replay.ref_names.items()
        },
        # Tasks the audit found created twice (paid twice); their images are kept too.
        "duplicates_billed": replay.duplicates_billed(),
        "duplicates": [{"unique_id": uid, **d} for uid, d in replay.duplicates.items()],
        "stopped": stopped,
        "budget_reached": budget_reached,
        "api": api or {},
        **({"accounts": accounts} if (accounts := account_counts(records)) else {}),
    }


ITEMS_MARK = b',\n  "items": ['  # a raw newline is never inside a JSON string


def read_head(path: Path) -> dict[str, Any]:
    """summary.json without its items (the counts, the duplicates ...), read only up to
    them: a one-line report of a 100,000-task run does not load every task."""
    buf = bytearray()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 16):
            buf += chunk
            at = buf.find(ITEMS_MARK, max(0, len(buf) - len(chunk) - len(ITEMS_MARK)))
            if at >= 0:
                head = orjson.loads(bytes(buf[:at]) + b"\n}")
                break
        else:
            head = orjson.loads(bytes(buf))
    if not isinstance(head, dict):
        raise ValueError(f"{path}: not a summary")
    head.pop("items", None)
    return head


def write_reports(run_dir: Path, head: dict[str, Any], records: list[TaskRecord]) -> None:
    """summary.json and index.html, written item by item and renamed into place."""
    refs = head.get("references")
    # chained tasks name their parents: find them by key (no copy of a million keys else)
    chained = any(rec.spec.request.parents for rec in records)
    by_key = {rec.key: rec for rec in records} if chained else {}
    summary_tmp = run_dir / ".summary.json.tmp"
    with writing(run_dir / "summary.json"), summary_tmp.open("wb") as fh:
        top = orjson.dumps(head, option=orjson.OPT_INDENT_2)
        fh.write(top[:-2] + ITEMS_MARK)  # reopen the object to append the items
        for i, rec in enumerate(records):
            fh.write(b"\n    " if i == 0 else b",\n    ")
            fh.write(orjson.dumps(item_of(rec, refs, by_key)))
        fh.write(b"\n  ]\n}\n")
    commit_file(summary_tmp, run_dir / "summary.json")
    with writing(run_dir / "index.html"):
        write_gallery(run_dir, head, records, lambda rec: item_of(rec, refs, by_key), item_status)
