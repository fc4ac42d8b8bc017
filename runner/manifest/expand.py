"""Turn a validated manifest into tasks, each with a key derived from its content.

Precedence for a field, lowest first: built-in default, `defaults:`, the
manifest's `matrix:`, the task's own value, the task's own `matrix:`. A task
that sets a field itself is not swept over it by the manifest's matrix;
`matrix: false` opts a task out of the manifest's matrix entirely.

Keys hash the resolved request plus how many identical requests came before
it, so the same manifest always yields the same keys, a `repeat` gives
distinct keys, and renaming a task does not make it new work.
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import logging
from collections import Counter
from dataclasses import fields as dataclass_fields
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from runner import modeltable
from runner.errors import LocalRefProblem, ManifestError, ManifestIssue, MissingVar
from runner.manifest.entries import Entry, Issues
from runner.manifest.fields import REQUEST_FIELDS
from runner.manifest.limits import DEFAULT_LIMITS, Limits
from runner.manifest.load import Manifest, read_manifest
from runner.manifest.localrefs import LocalFiles, is_local
from runner.manifest.modelcheck import check as check_model
from runner.manifest.modelcheck import with_model_defaults
from runner.manifest.templates import fill, placeholders
from runner.records import DEFAULT_MODEL, Request, TaskSpec, task_key

# aspect_ratio, clarity and the video fields default per model (runner/models.json).
BUILTIN_DEFAULTS: dict[str, Any] = {
    "ref_images": (),
    "number_of_images": 1,
    "model_code": DEFAULT_MODEL,
}
log = logging.getLogger("runner.manifest")


class Expanded(NamedTuple):
    specs: list[TaskSpec]
    files: LocalFiles  # the local reference files the tasks need uploaded


def _combos(matrix: dict[str, list[Any]]) -> list[dict[str, Any]]:
    if not matrix:
        return [{}]
    keys = list(matrix)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*matrix.values())]


def _matrix_for(manifest: Manifest, entry: Entry) -> dict[str, list[Any]]:
    own = entry.fields.get("matrix")
    if own is False:
        return {}
    inherited = {k: v for k, v in manifest.matrix.items() if k not in entry.fields}
    return {**inherited, **(own or {})}


def _check_unused_matrix_vars(manifest: Manifest, issues: Issues) -> None:
    if not manifest.matrix_pos:
        return
    used: set[str] = set()
    for entry in manifest.entries:
        for key in ("prompt", "name"):
            if isinstance(entry.fields.get(key), str):
                used |= placeholders(entry.fields[key])
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
        for values in _matrix_for(manifest, entry).values():
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
    """The tasks, and the local reference files they need uploaded.

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
    occurrences: Counter[bytes] = Counter()
    specs: list[TaskSpec] = []
    # A million-line prompts file is a million entries that differ in their prompt
    # alone: once the first of them has gone the whole way, the rest reuse its request.
    plain: _Plain | None = None
    for entry in manifest.entries:
        if "prompt" not in entry.fields:
            continue  # already reported: no prompt, or not a valid one
        if plain is not None and _is_plain(manifest, entry):
            request, fingerprint = plain.like(entry.fields["prompt"])
            key = task_key(fingerprint, occurrences[fingerprint])
            occurrences[fingerprint] += 1
            specs.append(TaskSpec(key, "", request, f"{entry.file}:{entry.line}"))
            continue
        base = {**BUILTIN_DEFAULTS, **manifest.defaults}
        ref_at = entry.pos.get("ref_images", (entry.line, 1))
        base.update({k: v for k, v in entry.fields.items() if k in REQUEST_FIELDS})
        entry_vars = {**manifest.vars, **entry.fields.get("vars", {})}
        for combo in _combos(_matrix_for(manifest, entry)):
            fields = {**base, **{k: v for k, v in combo.items() if k in REQUEST_FIELDS}}
            fields = with_model_defaults(fields)
            values = {**entry_vars, **{k: str(v) for k, v in combo.items() if k not in fields}}
            name_template = combo.get("name", entry.fields.get("name"))
            filling, known = "prompt", {}
            try:
                prompt = fill(fields["prompt"], values)
                name = ""
                if name_template:
                    filling = "name"
                    known = {k: str(v) for k, v in fields.items() if k != "ref_images"}
                    known["model"] = known["model_code"]
                    name = fill(name_template, {**known, **values})
            except MissingVar as exc:
                at = entry.pos.get(filling, (entry.line, 1))
                usable = set(values) | (set(known) if filling == "name" else set())
                issues.add(
                    at,
                    f"{entry.label}.{filling}",
                    f"uses {{{exc.name}}}, which has no value",
                    _missing_hint(exc.name, usable),
                    file=entry.file,
                )
                break
            if len(prompt) > limits.max_prompt_chars:
                issues.add(
                    entry.pos.get("prompt", (entry.line, 1)),
                    f"{entry.label}.prompt",
                    f"is {len(prompt):,} characters; the limit is {limits.max_prompt_chars:,}",
                    "shorten it, or raise the limit with --max-prompt-chars",
                    file=entry.file,
                )
                break
            if not model_ok(entry, fields):
                continue
            refs = resolve(tuple(fields["ref_images"]), entry.label, ref_at, entry.file)
            if refs is None:
                break
            request = Request(
                prompt=prompt,
                ref_images=refs,
                aspect_ratio=fields["aspect_ratio"],
                clarity=fields["clarity"],
                number_of_images=fields["number_of_images"],
                model_code=fields["model_code"],
                video_duration=fields.get("video_duration"),
                quality_mode=fields.get("quality_mode"),
                extra=fields.get("extra", ""),
            )
            _add(specs, occurrences, entry, request, name, entry.fields.get("repeat", 1))
            if plain is None and _is_plain(manifest, entry):
                plain = _Plain(request)
    if issues.items:
        raise ManifestError(issues.items)
    return Expanded(specs, files)


class _Plain:
    """Requests that differ from a first one in their prompt alone, made fast."""

    def __init__(self, first: Request):
        self.args = [getattr(first, f.name) for f in dataclass_fields(Request)]
        assert dataclass_fields(Request)[0].name == "prompt"
        self.body = first.to_json()
        self.fast = self._digest(first.prompt) == first.fingerprint()

    def _digest(self, prompt: str) -> bytes:
        body = dict(self.body)
        body["prompt"] = prompt
        return hashlib.sha256(orjson.dumps(body)).digest()

    def like(self, prompt: str) -> tuple[Request, bytes]:
        self.args[0] = prompt
        request = Request(*self.args)
        return request, self._digest(prompt) if self.fast else request.fingerprint()


def _is_plain(manifest: Manifest, entry: Entry) -> bool:
    """A prompt and nothing else, with no placeholder, and no matrix to apply."""
    prompt = entry.fields["prompt"]
    return (
        len(entry.fields) == 1 and not manifest.matrix and "{" not in prompt and "}" not in prompt
    )


def _add(
    specs: list[TaskSpec],
    occurrences: Counter[bytes],
    entry: Entry,
    request: Request,
    name: str,
    repeat: int,
) -> None:
    fingerprint = request.fingerprint()
    source = f"{entry.file}:{entry.line}"
    for _ in range(repeat):
        key = task_key(fingerprint, occurrences[fingerprint])
        occurrences[fingerprint] += 1
        specs.append(TaskSpec(key, name, request, source))


def _missing_hint(name: str, usable: set[str]) -> str:
    close = difflib.get_close_matches(name, sorted(usable), n=1, cutoff=0.6)
    if close:
        return f"did you mean {{{close[0]}}}?"
    if usable:
        return f"define it under vars: (defined: {', '.join(sorted(usable))})"
    return f"define it under vars: ({{{{{name}}}}} writes it literally)"
