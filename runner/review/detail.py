"""One task in full for the detail view: parameters, ids, timings, attempts, links."""

from __future__ import annotations

import time
from typing import Any

from runner.review.data import RunIndex, _files, card, parents_of
from runner.taskrecord import TaskRecord


def _iso(t: float | None) -> str | None:
    return None if t is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def ref_entries(refs: tuple[str, ...], names: dict[str, tuple[str, str]]) -> list[dict[str, Any]]:
    """Reference images: URLs as they are; local files by the name the user wrote."""
    out = []
    for ref in refs:
        sha = ref.removeprefix("local:") if ref.startswith("local:") else ""
        name, copy = names.get(sha, ("", "")) if sha else ("", "")
        out.append({"ref": ref, "name": name, "thumb": f"refs/{sha}" if copy else None})
    return out


def detail(index: RunIndex, rec: TaskRecord) -> dict[str, Any]:
    req = rec.spec.request
    params = {k: v for k, v in req.to_json().items() if k not in ("prompt", "ref_images")}
    out = card(rec)
    took = (
        round(rec.finished_at - rec.submitted_at, 1)
        if rec.finished_at is not None and rec.submitted_at is not None
        else None
    )
    out.update(
        parameters=params,
        unique_id=rec.unique_id,
        trace_id=rec.trace_id,
        source=rec.spec.source,
        submitted_at=_iso(rec.submitted_at),
        finished_at=_iso(rec.finished_at),
        generation_s=took,
        image_errors={str(i + 1): e for i, e in sorted(rec.image_errors.items())},
        refs=ref_entries(req.ref_images, index.follower.replay.ref_names),
        attempts=[
            {
                "attempt": a.attempt,
                "prompt": a.prompt,
                "unique_id": a.unique_id,
                "decision": a.decision,
                "error": a.error,
                "submitted_at": _iso(a.submitted_at),
                "finished_at": _iso(a.finished_at),
                "files": _files(rec.key, a.attempt, [f.path for f in a.files]),
            }
            for a in rec.earlier
        ],
        parents=_links(index, parents_of(rec)),
        children=_links(index, _children(index, rec)),
    )
    return out


def _children(index: RunIndex, rec: TaskRecord) -> list[str]:
    found = index.children()
    keys = found.get(rec.key, []) + (found.get(rec.spec.name, []) if rec.spec.name else [])
    return [k for k in dict.fromkeys(keys) if k != rec.key]


def _links(index: RunIndex, refs: list[str]) -> list[dict[str, Any]]:
    """Parents may be recorded by key or by task name; link what resolves."""
    if not refs:
        return []
    by_name = {r.spec.name: r.key for r in index.records.values() if r.spec.name}
    out = []
    for ref in refs:
        bare = ref.lstrip("@").split("[", 1)[0]
        key = ref if ref in index.records else by_name.get(bare)
        rec = index.records.get(key) if key else None
        out.append({"ref": ref, "key": key, "name": rec.spec.name if rec else bare})
    return out
