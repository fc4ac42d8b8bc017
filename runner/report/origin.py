"""Which run, task and prompt made a file: found by its content hash, not its name.

A renamed or moved file still has its bytes; every run's ledger records the
sha256 of each file it downloaded. `find_origins` hashes the given files and
reads the ledgers of the run directories it is told to search (a folder of
run directories, such as outputs/, is searched one level down).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from runner.names import display_name
from runner.rundir import ledger
from runner.rundir.files import sha256_file


def run_dirs(places: Iterable[Path]) -> list[Path]:
    """Run directories at or directly under each place (those holding ledger.jsonl)."""
    found: list[Path] = []
    for place in places:
        if (place / "ledger.jsonl").is_file():
            found.append(place)
        elif place.is_dir():
            found.extend(sorted(p.parent for p in place.glob("*/ledger.jsonl")))
    return found


def _made_in(run_dir: Path, wanted: set[str]) -> dict[str, list[dict[str, Any]]]:
    replay = ledger.read(run_dir / "ledger.jsonl")
    name = next((e["name"] for e in replay.runs if e.get("name")), run_dir.name)
    out: dict[str, list[dict[str, Any]]] = {}
    for rec in replay.records.values():
        req = rec.spec.request
        attempts = [(a.attempt, a.prompt, a.unique_id, a.files, a.decision) for a in rec.earlier]
        current = tuple(rec.files[i] for i in sorted(rec.files))
        attempts.append((rec.attempt, req.prompt, rec.unique_id, current, rec.decision))
        for attempt, prompt, uid, files, decision in attempts:
            for image in files:
                if image.sha256 in wanted:
                    out.setdefault(image.sha256, []).append(
                        {
                            "run": name,
                            "run_dir": str(run_dir),
                            "file": image.path,
                            "key": rec.key,
                            "name": display_name(rec.spec),
                            "attempt": attempt,
                            "prompt": prompt,
                            "model": req.model_code,
                            "parameters": {k: v for k, v in req.to_json().items() if k != "prompt"},
                            "unique_id": uid,
                            "decision": decision,
                        }
                    )
    return out


def find_origins(files: list[Path], places: list[Path]) -> list[dict[str, Any]]:
    """One answer per file: its sha256 and every run task that downloaded those bytes."""
    hashes = {path: sha256_file(path)[0] for path in files}
    wanted = set(hashes.values())
    made: dict[str, list[dict[str, Any]]] = {}
    for run_dir in run_dirs(places):
        for sha, found in _made_in(run_dir, wanted).items():
            made.setdefault(sha, []).extend(found)
    return [
        {"path": str(p), "sha256": sha, "made_by": made.get(sha, [])} for p, sha in hashes.items()
    ]
