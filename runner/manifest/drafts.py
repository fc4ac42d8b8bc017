"""A manifest entry's combinations, with fields, prompt, name and references filled in.

Precedence for a field, lowest first: built-in default, `defaults:`, the
manifest's `matrix:`, the task's own value, the task's own `matrix:`. A task
that sets a field itself is not swept over it by the manifest's matrix;
`matrix: false` opts a task out of the manifest's matrix entirely. A draft's
references to other tasks' outputs (`@name`) are still names: `expand`
resolves them once the tasks they name have keys.
"""

from __future__ import annotations

import difflib
import itertools
from typing import Any

from runner.errors import MissingVar
from runner.manifest import chain
from runner.manifest.entries import Entry, Issues
from runner.manifest.fields import REQUEST_FIELDS
from runner.manifest.limits import Limits
from runner.manifest.load import Manifest
from runner.manifest.modelcheck import with_model_defaults
from runner.manifest.templates import fill
from runner.records import DEFAULT_MODEL

# aspect_ratio, clarity and the video fields default per model (runner/models.json).
BUILTIN_DEFAULTS: dict[str, Any] = {
    "ref_images": (),
    "number_of_images": 1,
    "model_code": DEFAULT_MODEL,
}


def combos(matrix: dict[str, list[Any]]) -> list[dict[str, Any]]:
    if not matrix:
        return [{}]
    keys = list(matrix)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*matrix.values())]


def matrix_for(manifest: Manifest, entry: Entry) -> dict[str, list[Any]]:
    own = entry.fields.get("matrix")
    if own is False:
        return {}
    inherited = {k: v for k, v in manifest.matrix.items() if k not in entry.fields}
    return {**inherited, **(own or {})}


def drafts(manifest: Manifest, entry: Entry, issues: Issues, limits: Limits) -> list[chain.Draft]:
    """The entry's combinations; [] after reporting a problem that stops the entry."""
    if "prompt" not in entry.fields:
        return []  # already reported: no prompt, or not a valid one
    base = {**BUILTIN_DEFAULTS, **manifest.defaults}
    base.update({k: v for k, v in entry.fields.items() if k in REQUEST_FIELDS})
    entry_vars = {**manifest.vars, **entry.fields.get("vars", {})}
    out = []
    for combo in combos(matrix_for(manifest, entry)):
        fields = {**base, **{k: v for k, v in combo.items() if k in REQUEST_FIELDS}}
        fields = with_model_defaults(fields)
        values = {**entry_vars, **{k: str(v) for k, v in combo.items() if k not in fields}}
        name_template = combo.get("name", entry.fields.get("name"))
        filling, known = "prompt", {}
        try:
            prompt = fill(fields["prompt"], values)
            name = ""
            known = {k: str(v) for k, v in fields.items() if k != "ref_images"}
            known["model"] = known["model_code"]
            if name_template:
                filling = "name"
                name = fill(name_template, {**known, **values})
            filling = "ref_images"
            refs = tuple(
                fill(r, {**known, **values}) if chain.is_output_ref(r) else r
                for r in fields["ref_images"]
            )
        except MissingVar as exc:
            at = entry.pos.get(filling, (entry.line, 1))
            usable = set(values) | (set(known) if filling != "prompt" else set())
            issues.add(
                at,
                f"{entry.label}.{filling}",
                f"uses {{{exc.name}}}, which has no value",
                missing_hint(exc.name, usable),
                file=entry.file,
            )
            return []
        if too_long(entry, prompt, limits, issues):
            return []
        out.append(chain.Draft(entry, fields, prompt, name, refs, entry.fields.get("for_each")))
    return out


def too_long(entry: Entry, prompt: str, limits: Limits, issues: Issues) -> bool:
    """Reports a prompt over the limit (placeholders filled) at its entry."""
    if len(prompt) <= limits.max_prompt_chars:
        return False
    issues.add(
        entry.pos.get("prompt", (entry.line, 1)),
        f"{entry.label}.prompt",
        f"is {len(prompt):,} characters; the limit is {limits.max_prompt_chars:,}",
        "shorten it, or raise the limit with --max-prompt-chars",
        file=entry.file,
    )
    return True


def missing_hint(name: str, usable: set[str]) -> str:
    close = difflib.get_close_matches(name, sorted(usable), n=1, cutoff=0.6)
    if close:
        return f"did you mean {{{close[0]}}}?"
    if usable:
        return f"define it under vars: (defined: {', '.join(sorted(usable))})"
    return f"define it under vars: ({{{{{name}}}}} writes it literally)"
