"""Per-task checks of an expansion: local reference files, and the model's own rules."""

from __future__ import annotations

import logging
from typing import Any

from runner import modeltable
from runner.errors import LocalRefProblem
from runner.manifest.entries import Entry, Issues
from runner.manifest.load import Manifest
from runner.manifest.localrefs import LocalFiles, is_local
from runner.manifest.modelcheck import check as check_model

log = logging.getLogger("runner.manifest")


class RefResolver:
    """Turns local paths in ref_images into `local:<sha256>`, checking each file once."""

    def __init__(self, files: LocalFiles, issues: Issues):
        self.files, self.issues = files, issues
        self._done: dict[tuple[str, ...], tuple[str, ...] | None] = {}

    def __call__(
        self, refs: tuple[str, ...], where: str, at: tuple[int, int], file: str
    ) -> tuple[str, ...] | None:
        """The resolved refs, or None after reporting a problem."""
        if refs in self._done:
            return self._done[refs]
        resolved: list[str] | None = []
        for i, ref in enumerate(refs):
            if not is_local(ref):
                if resolved is not None:
                    resolved.append(ref)
                continue
            try:
                local = self.files.add(ref).ref
            except LocalRefProblem as exc:
                self.issues.add(
                    at,
                    f"{where}.ref_images[{i}]",
                    str(exc),
                    "paths are relative to the manifest's folder",
                    file=file,
                )
                resolved = None
                continue
            if resolved is not None:
                resolved.append(local)
        result = tuple(resolved) if resolved is not None else None
        self._done[refs] = result
        return result


class ModelChecks:
    """Checks each resolved task against its model; reports each problem once, at
    the file, line and field its value came from (defaults, a matrix, the task)."""

    def __init__(self, manifest: Manifest, issues: Issues):
        self.manifest, self.issues = manifest, issues
        self._seen: set[tuple[object, ...]] = set()
        self._warned: set[str] = set()

    def origin(self, entry: Entry, key: str) -> tuple[str, tuple[int, int], str, bool]:
        """file, position, field path of where `key`'s value was set; and whether
        that place is the task itself."""
        m, own = self.manifest, entry.fields.get("matrix")
        if isinstance(own, dict) and key in own:
            return (
                entry.file,
                entry.pos.get("matrix", (entry.line, 1)),
                f"{entry.label}.matrix.{key}",
                True,
            )
        if key in entry.fields:
            return entry.file, entry.pos.get(key, (entry.line, 1)), f"{entry.label}.{key}", True
        if own is not False and key in m.matrix:
            return str(m.path), m.matrix_pos.get(key, (1, 1)), f"matrix.{key}", False
        if key in m.defaults:
            return str(m.path), m.defaults_pos.get(key, (1, 1)), f"defaults.{key}", False
        return entry.file, (entry.line, 1), f"{entry.label}.{key}", True

    def __call__(self, entry: Entry, fields: dict[str, Any]) -> bool:
        """True when the task is fine for its model."""
        problems = check_model(fields, self.manifest.allow_unknown_models)
        code = fields["model_code"]
        if not problems and code not in self._warned and modeltable.find(code) is None:
            self._warned.add(code)
            log.warning(
                "%s: model_code %r is not in the model table; its tasks are sent as "
                "written (allow_unknown_models)",
                self.manifest.path,
                code,
            )
        for problem in problems:
            file, at, path, own = self.origin(entry, problem.field)
            message = problem.message
            if not own:
                message += f" (for {entry.label}, line {entry.line})"
            key = (file, at, path, problem.message)
            if key in self._seen:
                continue
            self._seen.add(key)
            self.issues.add(at, path, message, problem.hint, file=file)
        return not problems
