"""`prompts_file:` — prompts from a .txt, .csv or .jsonl file beside the manifest.

.txt: one prompt a line; `#` comments and blank lines are skipped.
.csv / .jsonl: a `prompt` (or `ref_prompt`) column; any task field may be a
column; every other column becomes a variable for `{placeholders}`.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import orjson

from runner.errors import FieldProblem
from runner.manifest.entries import Entry, Issues
from runner.manifest.fields import ALIASES, CHECKERS, ROW_FIELDS, check_var_value
from runner.manifest.promptlines import NO_POS, PromptLines
from runner.manifest.yamlpos import YNode

_INT_FIELDS = ("clarity", "number_of_images", "repeat")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def read_prompts_file(base: Path, node: YNode, issues: Issues) -> list[Entry | PromptLines]:
    at = (node.line, node.column)
    if not isinstance(node.value, str) or not node.value.strip():
        issues.add(at, "prompts_file", "must be a file path")
        return []
    path = base / node.value
    suffix = path.suffix.lower()
    if suffix not in (".txt", ".csv", ".jsonl"):
        issues.add(
            at,
            "prompts_file",
            f"{suffix or 'no extension'}: not supported",
            "use .txt, .csv or .jsonl",
        )
        return []
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        issues.add(at, "prompts_file", f"cannot read {path}: {exc}")
        return []
    if suffix == ".txt":
        return _txt(path, text, issues)
    rows = _csv_rows(path, text, issues) if suffix == ".csv" else _jsonl_rows(path, text, issues)
    entries = [_row_entry(path, line, row, issues) for line, row in rows]
    if not entries and not any(i.file == str(path) for i in issues.items):
        issues.add((0, 0), "prompts_file", f"{path} has no prompts", file=str(path))
    return [e for e in entries if e is not None]


def _txt(path: Path, text: str, issues: Issues) -> list[Entry | PromptLines]:
    """Plain lines go into blocks (see promptlines); a line with `{` or `}` is an entry."""
    items: list[Entry | PromptLines] = []
    file, check = str(path), CHECKERS["prompt"]  # one file string for a million lines
    block = PromptLines(file, path.name)
    add = block.add
    for lineno, line in enumerate(text.splitlines(), 1):
        prompt = line.strip()
        if not prompt or prompt[0] == "#":
            continue
        if "{" not in prompt and "}" not in prompt:
            add(prompt, lineno)  # stripped and not empty: check_prompt has nothing to say
            continue
        try:
            checked = check(prompt)
        except FieldProblem as exc:
            issues.add((lineno, 1), "prompt", exc.message, exc.hint, file=file)
            continue
        if block.prompts:
            items.append(block)
            block = PromptLines(file, path.name)
            add = block.add
        items.append(Entry(f"{path.name} line {lineno}", file, lineno, {"prompt": checked}, NO_POS))
    if block.prompts:
        items.append(block)
    if not items:
        issues.add((0, 0), "prompts_file", f"{path} has no prompts", file=str(path))
    return items


def _csv_rows(path: Path, text: str, issues: Issues) -> list[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    if not {"prompt", "ref_prompt"} & set(header):
        issues.add((1, 1), "", "no `prompt` column in the header", file=str(path))
        return []
    rows = []
    for row in reader:
        if None in row:
            issues.add((reader.line_num, 1), "", "more cells than header columns", file=str(path))
            continue
        cleaned = {k: v for k, v in row.items() if v not in (None, "")}
        for key in _INT_FIELDS:
            if key in cleaned and re.fullmatch(r"\s*\d+\s*", cleaned[key]):
                cleaned[key] = int(cleaned[key])
        for key in ("ref_images", "ref_img_url"):
            if key in cleaned:
                cleaned[key] = [u for u in re.split(r"[\s|;]+", cleaned[key]) if u]
        rows.append((reader.line_num, cleaned))
    return rows


def _jsonl_rows(path: Path, text: str, issues: Issues) -> list[tuple[int, dict[str, Any]]]:
    rows = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            issues.add((lineno, 1), "", f"not valid JSON: {exc}", file=str(path))
            continue
        if not isinstance(value, dict):
            issues.add((lineno, 1), "", "each line must be a JSON object", file=str(path))
            continue
        rows.append((lineno, {k: v for k, v in value.items() if v is not None}))
    return rows


def _row_entry(path: Path, line: int, row: dict[str, Any], issues: Issues) -> Entry | None:
    fields: dict[str, Any] = {}
    variables: dict[str, str] = {}
    ok = True
    for column, (raw_key, value) in enumerate(row.items(), 1):
        key = ALIASES.get(raw_key, raw_key)
        try:
            if key in ROW_FIELDS:
                fields[key] = CHECKERS[key](value)
            elif _IDENT.match(key):
                variables[key] = check_var_value(value)
            else:
                raise FieldProblem("a column is a task field or a variable name (letters, _)")
        except FieldProblem as exc:
            issues.add((line, column), raw_key, exc.message, exc.hint, file=str(path))
            ok = False
    if "prompt" not in fields:
        if ok:
            issues.add((line, 1), "prompt", "empty", file=str(path))
        return None
    if variables:
        fields["vars"] = variables
    return Entry(f"{path.name} line {line}", str(path), line, fields) if ok else None
