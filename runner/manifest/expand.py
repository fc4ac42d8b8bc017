"""Turn a validated manifest into tasks, each with a key derived from its content.

Entries are expanded parents first (see `chain`; `drafts` has the fields'
precedence): a task that takes another task's outputs gets `task:<key>#<i>`
references, so its key hashes its parents' keys. Keys hash the resolved
request plus how many identical requests came before it, so the same manifest
always yields the same keys, a `repeat` gives distinct keys, and renaming a
task does not make it new work.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple

from runner.errors import ManifestError, ManifestIssue
from runner.manifest import chain
from runner.manifest.builder import Builder
from runner.manifest.drafts import drafts, matrix_for
from runner.manifest.entries import Entry, Issues
from runner.manifest.fields import REQUEST_FIELDS
from runner.manifest.limits import DEFAULT_LIMITS, Limits
from runner.manifest.load import Manifest, read_manifest
from runner.manifest.localrefs import LocalFiles
from runner.manifest.plain import is_plain, manifest_allows
from runner.manifest.promptlines import PromptLines
from runner.manifest.taskchecks import ModelChecks, RefResolver
from runner.manifest.templates import placeholders
from runner.records import TaskSpec


class Expanded(NamedTuple):
    specs: list[TaskSpec]
    files: LocalFiles  # the local reference files the tasks need uploaded


def _check_unused_matrix_vars(manifest: Manifest, issues: Issues) -> None:
    if not manifest.matrix_pos:
        return
    used: set[str] = set()
    for entry in manifest.entries:
        if isinstance(entry, PromptLines):  # no placeholders in plain lines
            continue
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


def count_tasks(manifest: Manifest) -> int:
    total = 0
    for entry in manifest.entries:
        if isinstance(entry, PromptLines):  # prompts alone: the manifest's matrix applies
            total += len(entry) * math.prod(len(v) for v in manifest.matrix.values())
            continue
        combos = 1
        for values in matrix_for(manifest, entry).values():
            combos *= len(values)
        total += combos * entry.fields.get("repeat", 1)
    return total


def _entries(manifest: Manifest) -> list[Entry | PromptLines]:
    """The manifest's entries; a block of prompt lines stays whole while its lines are plain."""
    if manifest_allows(manifest):
        return manifest.entries
    out: list[Entry | PromptLines] = []
    for entry in manifest.entries:
        if isinstance(entry, PromptLines):
            out.extend(entry.entries())
        else:
            out.append(entry)
    return out


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
    total = count_tasks(manifest)
    if total > limits.max_tasks:
        issues.add(
            (1, 1),
            "tasks",
            f"expands to {total:,} tasks; the cap is {limits.max_tasks:,}",
            "split the manifest, or raise the cap with --max-tasks",
        )
        raise ManifestError(issues.items)  # too many to go through them looking for more
    entries = _entries(manifest)
    # A prompt alone (a million-line prompts file) is left to the builder, which
    # takes the first of them the whole way and the rest after it (see `plain`).
    groups = [
        None
        if isinstance(entry, PromptLines) or is_plain(manifest, entry)
        else drafts(manifest, entry, issues, limits)
        for entry in entries
    ]
    nodes = chain.graph(groups)
    entry_order, cycles = chain.order(nodes)
    with_drafts = [g[0].entry if g else None for g in groups]
    chain.report_dangling(nodes, with_drafts, issues)
    chain.report_cycles(nodes, cycles, with_drafts, issues)
    build = Builder(
        manifest, limits, issues, RefResolver(files, issues), ModelChecks(manifest, issues)
    )
    for index in entry_order:
        entry, group = entries[index], groups[index]
        if group is not None:
            build.add_drafts(group)
        elif isinstance(entry, PromptLines):
            build.add_lines(entry)
        else:
            build.add_plain(entry)
    specs = build.specs
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
