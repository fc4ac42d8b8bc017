"""Load and validate a manifest; report every problem at once with its place.

The result keeps only validated values; `expand` turns it into tasks.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.errors import FieldProblem, ManifestError, ManifestIssue, YamlProblem
from runner.manifest import yamlpos
from runner.manifest.entries import Entry, Issues
from runner.manifest.fields import (
    CHECKERS,
    DEFAULT_FIELDS,
    MANIFEST_ALIASES,
    MATRIX_FIELDS,
    TASK_FIELDS,
    check_var_value,
    open_values,
)
from runner.manifest.promptlines import PromptLines
from runner.manifest.prompts_file import read_prompts_file

TOP_KEYS = (
    "name",
    "defaults",
    "vars",
    "matrix",
    "tasks",
    "prompts_file",
    "max_images",
    "allow_unknown_models",
)
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
MINIMAL_HINT = 'the smallest manifest is one line: tasks: ["a red kite over the sea"]'
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(slots=True)
class Manifest:
    path: Path
    name: str
    defaults: dict[str, Any]
    vars: dict[str, str]
    matrix: dict[str, list[Any]]
    matrix_pos: dict[str, tuple[int, int]]
    entries: list[Entry | PromptLines]  # a prompts file's plain lines come in blocks
    max_images: int | None = None
    defaults_pos: dict[str, tuple[int, int]] = field(default_factory=dict)
    allow_unknown_models: bool = False  # a model_code not in the table is sent as written


def _at(node: yamlpos.YNode) -> tuple[int, int]:
    return node.line, node.column


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def check_fields(
    node: yamlpos.YNode, allowed: tuple[str, ...], path: str, issues: Issues
) -> tuple[dict[str, Any], dict[str, tuple[int, int]]]:
    """Validate a mapping of task fields; aliases become canonical names."""
    values: dict[str, Any] = {}
    pos: dict[str, tuple[int, int]] = {}
    for raw_key, child in node.value.items():
        key: str = MANIFEST_ALIASES.get(raw_key) or raw_key
        kpos = node.key_pos[raw_key]
        if key not in allowed:
            issues.unknown_key(kpos, path, raw_key, allowed)
            continue
        if key in values:
            issues.add(kpos, _join(path, raw_key), f"given twice (as {key!r} and its alias)")
            continue
        pos[key] = _at(child)
        if key == "vars":
            values[key] = check_vars(child, _join(path, key), issues)
        elif key == "matrix":
            values[key] = check_matrix(child, _join(path, key), issues, allow_off=True)[0]
        else:
            try:
                values[key] = CHECKERS[key](child.plain())
            except FieldProblem as exc:
                where, at = _join(path, raw_key), pos[key]
                index = exc.index
                if index is not None and isinstance(child.value, list):
                    where, at = f"{where}[{index}]", _at(child.value[index])
                issues.add(at, where, exc.message, exc.hint)
    return values, pos


def check_vars(node: yamlpos.YNode, path: str, issues: Issues) -> dict[str, str]:
    if not isinstance(node.value, dict):
        issues.add(_at(node), path, "must be a mapping of name: value")
        return {}
    out = {}
    for name, child in node.value.items():
        if not _IDENT.match(name):
            issues.add(
                node.key_pos[name], f"{path}.{name}", "a variable name is letters, digits, _"
            )
            continue
        try:
            out[name] = check_var_value(child.value)
        except FieldProblem as exc:
            issues.add(_at(child), f"{path}.{name}", exc.message)
            out[name] = ""  # defined, though wrong: `{name}` is not also reported as undefined
    return out


def check_matrix(
    node: yamlpos.YNode, path: str, issues: Issues, *, allow_off: bool
) -> tuple[dict[str, list[Any]] | bool, dict[str, tuple[int, int]]]:
    """A matrix maps a task field (or a variable) to the list of its values."""
    if allow_off and node.value in (False, None):
        return False, {}
    if not isinstance(node.value, dict) or not node.value:
        hint = "or false to opt out of the manifest's matrix" if allow_off else ""
        issues.add(_at(node), path, "must map a field to a list of values", hint)
        return {}, {}
    out: dict[str, list[Any]] = {}
    pos: dict[str, tuple[int, int]] = {}
    for raw_key, child in node.value.items():
        key: str = MANIFEST_ALIASES.get(raw_key) or raw_key
        where = f"{path}.{raw_key}"
        pos[key] = node.key_pos[raw_key]
        if key not in MATRIX_FIELDS and not _IDENT.match(key):
            issues.unknown_key(node.key_pos[raw_key], path, raw_key, MATRIX_FIELDS)
            continue
        items = child.value if isinstance(child.value, list) else None
        if not items:
            issues.add(_at(child), where, "must be a non-empty list of values")
            continue
        checker: Callable[[Any], Any] = CHECKERS.get(key, check_var_value)
        values = []
        for i, item in enumerate(items):
            try:
                values.append(checker(item.plain()))
            except FieldProblem as exc:
                issues.add(_at(item), f"{where}[{i}]", exc.message, exc.hint)
        out[key] = values
    return out, pos


def _check_entry(node: yamlpos.YNode, index: int, issues: Issues) -> Entry | None:
    path = f"tasks[{index}]"
    if isinstance(node.value, str):  # a bare prompt
        try:
            prompt = CHECKERS["prompt"](node.value)
            return Entry(path, issues.file, node.line, {"prompt": prompt}, {"prompt": _at(node)})
        except FieldProblem as exc:
            issues.add(_at(node), path, exc.message, exc.hint)
            return None
    if not isinstance(node.value, dict):
        issues.add(_at(node), path, "a task is a mapping with a prompt (or a prompt alone)")
        return None
    values, pos = check_fields(node, TASK_FIELDS, path, issues)
    if "prompt" not in values and not any(k in node.value for k in ("prompt", "ref_prompt")):
        issues.add(_at(node), path, "has no prompt", "add `prompt: ...`")
    return Entry(path, issues.file, node.line, values, pos)


def load_manifest(path: Path) -> Manifest:
    """Read and validate; raises ManifestError listing every problem."""
    manifest, issues = read_manifest(path)
    if issues:
        raise ManifestError(issues)
    return manifest


def read_manifest(path: Path) -> tuple[Manifest, list[ManifestIssue]]:
    """The manifest as far as it is valid, and its problems so far.

    Raises ManifestError only when nothing more can be read (no file, not YAML,
    not a mapping); otherwise the caller goes on to expand what is there, so a
    structural problem does not hide a template or file problem behind it.
    """
    issues = Issues(str(path))
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ManifestError(
            [ManifestIssue(str(path), 0, 0, "", f"cannot read: {exc.strerror}")]
        ) from None
    if len(raw) > MAX_MANIFEST_BYTES:
        raise ManifestError([ManifestIssue(str(path), 0, 0, "", "larger than 64 MiB")]) from None
    try:
        root = yamlpos.load(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ManifestError(
            [ManifestIssue(str(path), 0, 0, "", f"not UTF-8 text: {exc}")]
        ) from None
    except YamlProblem as exc:
        raise ManifestError(
            [ManifestIssue(str(path), exc.line, exc.column, "", exc.message, exc.hint)]
        ) from None
    if root is None or not isinstance(root.value, dict):
        at = (root.line, root.column) if root else (1, 1)
        what = "is empty" if root is None else "is not a mapping"
        issues.add(at, "", f"{what}: a manifest is a mapping with `tasks:`", MINIMAL_HINT)
        raise ManifestError(issues.items)
    top = root.value
    allow_unknown = _allow_unknown_models(top, issues)
    with open_values(allow_unknown):
        return _check_top(path, root, issues, allow_unknown)


def _allow_unknown_models(top: dict[str, yamlpos.YNode], issues: Issues) -> bool:
    node = top.get("allow_unknown_models")
    if node is None:
        return False
    if not isinstance(node.value, bool):
        issues.add(_at(node), "allow_unknown_models", "must be true or false")
        return False
    return node.value


def _check_top(
    path: Path, root: yamlpos.YNode, issues: Issues, allow_unknown: bool
) -> tuple[Manifest, list[ManifestIssue]]:
    top = root.value
    for key in top:
        if key not in TOP_KEYS:
            issues.unknown_key(root.key_pos[key], "", key, TOP_KEYS)
    name = path.stem
    if "name" in top:
        try:
            name = CHECKERS["name"](top["name"].value)
        except FieldProblem as exc:
            issues.add(_at(top["name"]), "name", exc.message)
    defaults: dict[str, Any] = {}
    defaults_pos: dict[str, tuple[int, int]] = {}
    if "defaults" in top:
        if isinstance(top["defaults"].value, dict):
            defaults, defaults_pos = check_fields(
                top["defaults"], DEFAULT_FIELDS, "defaults", issues
            )
        else:
            issues.add(_at(top["defaults"]), "defaults", "must be a mapping of field: value")
    variables = check_vars(top["vars"], "vars", issues) if "vars" in top else {}
    matrix: dict[str, list[Any]] = {}
    matrix_pos: dict[str, tuple[int, int]] = {}
    if "matrix" in top:
        found, matrix_pos = check_matrix(top["matrix"], "matrix", issues, allow_off=False)
        matrix = found if isinstance(found, dict) else {}
    max_images = None
    if "max_images" in top:
        value = top["max_images"].value
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            max_images = value
        else:
            issues.add(_at(top["max_images"]), "max_images", "must be a whole number >= 1")
    entries: list[Entry | PromptLines] = []
    if "tasks" in top:
        tasks_node = top["tasks"]
        if isinstance(tasks_node.value, list):
            for i, child in enumerate(tasks_node.value):
                entry = _check_entry(child, i, issues)
                if entry is not None:
                    entries.append(entry)
        else:
            issues.add(_at(tasks_node), "tasks", "must be a list of tasks")
    if "prompts_file" in top:
        entries.extend(read_prompts_file(path.parent, top["prompts_file"], issues))
    if "tasks" not in top and "prompts_file" not in top:
        issues.add((1, 1), "", "no tasks: add `tasks:` or `prompts_file:`")
    manifest = Manifest(
        path,
        name,
        defaults,
        variables,
        matrix,
        matrix_pos,
        entries,
        max_images,
        defaults_pos,
        allow_unknown,
    )
    return manifest, issues.items
