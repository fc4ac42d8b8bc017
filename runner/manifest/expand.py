"""Turn a validated manifest into tasks, each with a key derived from its content.

Entries are expanded parents first (see `chain`; `drafts` has the fields'
precedence): a task that takes another task's outputs gets `task:<key>#<i>`
references, so its key hashes its parents' keys. Keys hash the resolved
request plus how many identical requests came before it, so the same manifest
always yields the same keys, a `repeat` gives distinct keys, and renaming a
task does not make it new work.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any, NamedTuple

from runner import modeltable
from runner.errors import LocalRefProblem, ManifestError, ManifestIssue
from runner.manifest import chain
from runner.manifest.drafts import Plain, drafts, is_plain, matrix_for
from runner.manifest.entries import Entry, Issues
from runner.manifest.fields import REQUEST_FIELDS
from runner.manifest.limits import DEFAULT_LIMITS, Limits
from runner.manifest.load import Manifest, read_manifest
from runner.manifest.localrefs import LocalFiles, is_local
from runner.manifest.modelcheck import check as check_model
from runner.manifest.templates import placeholders
from runner.records import Request, TaskSpec, task_key

log = logging.getLogger("runner.manifest")


class Expanded(NamedTuple):
    specs: list[TaskSpec]
    files: LocalFiles  # the local reference files the tasks need uploaded


def _check_unused_matrix_vars(manifest: Manifest, issues: Issues) -> None:
    if not manifest.matrix_pos:
        return
    used: set[str] = set()
    for entry in manifest.entries:
        for key in ("prompt", "name"):
            if isinstance(entry.fields.get(key), str):
                used |= placeholders(entry.fields[key])
        for ref in entry.fields.get("ref_images", ()):
            if ref.startswith("@"):
                used |= placeholders(ref)
    for key, at in manifest.matrix_pos.items():
        if key not in REQUEST_FIELDS and key != "name" and key not in used:
            issues.add(
                at,
                f"matrix.{key}",
                f"is not a task field and no prompt uses {{{key}}}",
                f"task fields: {', '.join(REQUEST_FIELDS)}",
            )


class _RefResolver:
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


class _ModelChecks:
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


def count_tasks(manifest: Manifest) -> int:
    total = 0
    for entry in manifest.entries:
        combos = 1
        for values in matrix_for(manifest, entry).values():
            combos *= len(values)
        total += combos * entry.fields.get("repeat", 1)
    return total


def expand(manifest: Manifest, limits: Limits = DEFAULT_LIMITS) -> list[TaskSpec]:
    """All tasks of the manifest, in manifest order. Raises ManifestError."""
    return expand_with_files(manifest, limits).specs


def load_and_expand(path: Path, limits: Limits = DEFAULT_LIMITS) -> tuple[Manifest, Expanded]:
    """Read, check and expand a manifest in one pass: every problem at once, or the tasks."""
    manifest, found = read_manifest(path)
    return manifest, expand_with_files(manifest, limits, found)


def expand_with_files(
    manifest: Manifest, limits: Limits = DEFAULT_LIMITS, prior: list[ManifestIssue] | None = None
) -> Expanded:
    """The tasks, parents before their children, and the local files they need uploaded.

    `prior` holds problems found while reading: the tasks are still expanded, as
    far as they can be, to find the rest, and then all are raised together.
    """
    issues = Issues(str(manifest.path))
    issues.items.extend(prior or ())
    _check_unused_matrix_vars(manifest, issues)
    files = LocalFiles(manifest.path.parent)
    resolve = _RefResolver(files, issues)
    model_ok = _ModelChecks(manifest, issues)
    total = count_tasks(manifest)
    if total > limits.max_tasks:
        issues.add(
            (1, 1),
            "tasks",
            f"expands to {total:,} tasks; the cap is {limits.max_tasks:,}",
            "split the manifest, or raise the cap with --max-tasks",
        )
        raise ManifestError(issues.items)  # too many to go through them looking for more
    # A million-line prompts file is a million entries that differ in their prompt
    # alone: once the first of them has gone the whole way, the rest reuse its request.
    groups = [
        None if is_plain(manifest, entry) else drafts(manifest, entry, issues, limits)
        for entry in manifest.entries
    ]
    nodes = chain.graph(groups)
    entry_order, cycles = chain.order(nodes)
    entries = [g[0].entry if g else None for g in groups]
    chain.report_dangling(nodes, entries, issues)
    chain.report_cycles(nodes, cycles, entries, issues)
    occurrences: Counter[bytes] = Counter()
    outputs = chain.Outputs()
    specs: list[TaskSpec] = []
    plain: Plain | None = None
    images = 0
    budget = manifest.max_images if limits.max_images is None else limits.max_images
    for index in entry_order:
        group = groups[index]
        if group is None:  # a prompt alone
            entry = manifest.entries[index]
            if plain is not None:
                request, fingerprint = plain.like(entry.fields["prompt"])
                key = task_key(fingerprint, occurrences[fingerprint])
                occurrences[fingerprint] += 1
                specs.append(TaskSpec(key, "", request, f"{entry.file}:{entry.line}"))
                images += request.outputs
                continue
            group = drafts(manifest, entry, issues, limits)
        for draft in group:
            entry, fields = draft.entry, draft.fields
            ref_at = entry.pos.get("ref_images", (entry.line, 1))
            located = resolve(
                tuple(r for r in draft.refs if not chain.is_output_ref(r)),
                entry.label,
                ref_at,
                entry.file,
            )
            fan = chain.resolve(draft, located, outputs, issues)
            if fan is None:
                break
            for refs in fan:
                if not model_ok(entry, {**fields, "ref_images": refs}):
                    continue
                request = Request(
                    prompt=draft.prompt,
                    ref_images=refs,
                    aspect_ratio=fields["aspect_ratio"],
                    clarity=fields["clarity"],
                    number_of_images=fields["number_of_images"],
                    model_code=fields["model_code"],
                    video_duration=fields.get("video_duration"),
                    quality_mode=fields.get("quality_mode"),
                    extra=fields.get("extra", ""),
                )
                images += _add(specs, occurrences, outputs, draft, request)
                if plain is None and groups[index] is None:
                    plain = Plain(request)
            chain.check_budget(draft, len(fan), images, budget, issues)
    if len(specs) > limits.max_tasks:  # for_each fans out beyond what count_tasks could see
        issues.add(
            (1, 1),
            "tasks",
            f"expands to {len(specs):,} tasks with its fan-outs; the cap is {limits.max_tasks:,}",
            "split the manifest, or raise the cap with --max-tasks",
        )
    if issues.items:
        raise ManifestError(issues.items)
    return Expanded(specs, files)


def _add(
    specs: list[TaskSpec],
    occurrences: Counter[bytes],
    outputs: chain.Outputs,
    draft: chain.Draft,
    request: Request,
) -> int:
    """The draft's tasks for this request (`repeat` of them); returns their outputs."""
    fingerprint = request.fingerprint()
    source = f"{draft.entry.file}:{draft.entry.line}"
    repeat: int = draft.entry.fields.get("repeat", 1)
    for _ in range(repeat):
        key = task_key(fingerprint, occurrences[fingerprint])
        occurrences[fingerprint] += 1
        specs.append(TaskSpec(key, draft.name, request, source))
        outputs.add(draft.name, key, request)
    return repeat * request.outputs
