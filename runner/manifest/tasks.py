"""A manifest file to the run's tasks: load, check, expand (what `run`, `validate`
and `plan` all start with)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from runner.gcpause import paused
from runner.manifest.expand import load_and_expand
from runner.manifest.limits import DEFAULT_LIMITS, Limits
from runner.manifest.load import read_manifest
from runner.manifest.localrefs import LocalFile
from runner.names import default_run_dir
from runner.records import TaskSpec

MANIFEST_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True, slots=True)
class Loaded:
    name: str
    specs: list[TaskSpec]
    max_images: int | None
    files: dict[str, LocalFile]  # sha256 -> local reference file
    # Not None: the manifest was not expanded again, since the run directory's
    # ledger holds its tasks already (rundir.manifestmark); `specs` is empty.
    in_ledger: int | None = None
    others: frozenset[str] = frozenset()  # then: keys the ledger holds of other manifests

    @property
    def expanded(self) -> bool:
        return self.in_ledger is None


def load_tasks(path: Path, limits: Limits = DEFAULT_LIMITS) -> Loaded:
    with paused():
        manifest, (specs, files) = load_and_expand(path, limits)
    return Loaded(manifest.name, specs, manifest.max_images, files.by_sha)


def run_dir_for(path: Path) -> Path:
    """A run directory as given, or the one `run` uses for a manifest (outputs/<name>).

    Lets `status` and `report` take the manifest a user just ran, not only its folder.
    """
    if path.is_dir() or path.suffix.lower() not in MANIFEST_SUFFIXES:
        return path
    return default_run_dir(read_manifest(path)[0].name)
