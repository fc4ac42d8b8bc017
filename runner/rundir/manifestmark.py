"""`manifest.mark`: which manifest this run directory's ledger already holds.

Written once a run has recorded the tasks a manifest expands to; it names the
manifest's inputs digest (`manifest.inputs`), the local reference files the
tasks name, and the ledger bytes it was written against. A re-run whose
manifest inputs have the same digest, whose reference files still hash the
same, and whose ledger still starts with those bytes, needs no expansion: the
ledger holds every task already (resuming a million-prompt run: no 10 s and
half a gigabyte spent expanding it again). Anything else (no mark, a mark this
version cannot read, an edited manifest or prompts file, a changed reference
image, a replaced ledger) and the manifest is expanded as always.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from runner.manifest import inputs as manifest_inputs
from runner.manifest.limits import Limits
from runner.manifest.localrefs import LocalFile
from runner.manifest.tasks import Loaded, load_tasks
from runner.names import default_run_dir
from runner.rundir.checkpoint import anchor
from runner.rundir.files import commit_file, fsync_path, sha256_file, writing
from runner.rundir.registry import manifest_digest

log = logging.getLogger("runner.ledger")
MARK_NAME = "manifest.mark"
MARK_VERSION = 1


@dataclass(frozen=True, slots=True)
class RunTasks:
    """A run's tasks: expanded from the manifest, or held by its ledger already."""

    loaded: Loaded
    run_dir: Path
    keys: str  # digest of the task keys (the machine-wide registry's manifest digest)
    inputs: str | None  # the manifest's inputs digest, when it could be taken


def load(manifest: Path, limits: Limits, out: Path | None) -> RunTasks:
    """The manifest's tasks, or (same inputs as the ledger's) the ledger's word for them.

    Reads only: a manifest with problems raises ManifestError and nothing is touched."""
    quick = manifest_inputs.read(manifest, limits)
    if quick is None:
        return _expanded(manifest, limits, out, None)
    run_dir = out or default_run_dir(quick.name)
    reused = reuse(run_dir, quick.digest)
    if reused is None:
        return _expanded(manifest, limits, out, quick.digest)
    return RunTasks(reused[0], run_dir, reused[1], quick.digest)


def expand_again(tasks: RunTasks, manifest: Path, limits: Limits) -> RunTasks:
    """Under the run's lock: a mark read before it may have gone meanwhile (its
    reference files were hashed then; the mark and the ledger are what can change)."""
    if tasks.loaded.expanded or (tasks.inputs and _holds(tasks.run_dir, tasks.inputs)):
        return tasks
    return _expanded(manifest, limits, tasks.run_dir, tasks.inputs)


def _expanded(manifest: Path, limits: Limits, run_dir: Path | None, inputs: str | None) -> RunTasks:
    loaded = load_tasks(manifest, limits)
    keys = manifest_digest(s.key for s in loaded.specs)
    return RunTasks(loaded, run_dir or default_run_dir(loaded.name), keys, inputs)


def write(run_dir: Path, tasks: RunTasks, others: Collection[str]) -> None:
    """Record that the ledger now holds every task of the manifest, and `others`
    (tasks of earlier manifests, already sent) besides.

    Call it only once the tasks' `planned` events are on disk."""
    loaded, inputs, keys = tasks.loaded, tasks.inputs, tasks.keys
    ledger = run_dir / "ledger.jsonl"
    with ledger.open("rb") as fh:
        offset = fh.seek(0, 2)
        head, tail = anchor(fh, offset)
    mark = {
        "mark": MARK_VERSION,
        "inputs": inputs,
        "name": loaded.name,
        "max_images": loaded.max_images,
        "keys": keys,
        "tasks": len(loaded.specs),
        "others": sorted(others),
        "files": [[f.sha256, str(f.path), f.size] for f in loaded.files.values()],
        "ledger": {"offset": offset, "head": head, "anchor": tail},
    }
    temp = run_dir / f".{MARK_NAME}.tmp"
    with writing(temp):
        temp.write_bytes(orjson.dumps(mark))
    commit_file(temp, run_dir / MARK_NAME)


def reuse(run_dir: Path, inputs: str) -> tuple[Loaded, str] | None:
    """The run's tasks as the ledger holds them (Loaded with no specs) and the
    keys digest, when the mark says the ledger holds this very manifest."""
    try:
        mark = _read(run_dir)
        if not _matches(run_dir, mark, inputs):
            return None
        files = {}
        for sha, path, size in mark["files"]:
            if sha256_file(Path(path)) != (sha, size):
                log.info("%s changed since the last run: expanding the manifest again", path)
                return None
            files[sha] = LocalFile(sha, Path(path), size)
        loaded = Loaded(
            mark["name"],
            [],
            mark["max_images"],
            files,
            in_ledger=mark["tasks"],
            others=frozenset(mark["others"]),
        )
        return loaded, mark["keys"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _read(run_dir: Path) -> Any:
    return orjson.loads((run_dir / MARK_NAME).read_bytes())


def _holds(run_dir: Path, inputs: str) -> bool:
    try:
        return _matches(run_dir, _read(run_dir), inputs)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _matches(run_dir: Path, mark: Any, inputs: str) -> bool:
    if not isinstance(mark, dict) or mark.get("mark") != MARK_VERSION:
        return False
    if mark.get("inputs") != inputs:
        return False
    ledger = mark["ledger"]
    with (run_dir / "ledger.jsonl").open("rb") as fh:
        if fh.seek(0, 2) < ledger["offset"]:
            return False
        return anchor(fh, ledger["offset"]) == (ledger["head"], ledger["anchor"])


def forget(run_dir: Path) -> None:
    """Before another manifest's tasks are planned (and some of the marked one's
    dropped): a crash meanwhile must not leave a mark that says the ledger holds it."""
    path = run_dir / MARK_NAME
    if path.exists():
        with writing(path):
            path.unlink()
            fsync_path(run_dir)
