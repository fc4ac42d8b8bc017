"""`plan`'s task rows: as dicts for `--json`, as text lines for people.

A million tasks are a million rows: the text lines are formatted straight from
the tasks (no dict a row), with what the tasks share (a template's references,
the columns of one state and request shape) formatted once.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from runner.names import display_name, display_names
from runner.records import Request, TaskSpec
from runner.report.text import short

HEADER = f"{'key':16}  {'state':9}  {'ratio':5}  {'clar':4}  n  {'name':16}  prompt"


class PlanRows:
    """The rows of the tasks, made as they are read (a million are never held at once).

    `states`: key -> state in the ledger (absent: new); `names`: how a reference
    is shown (a local file by its path, another task's output as @name[i]);
    `rerolls`: key -> the new attempt `run --reroll-rejected` would send.
    """

    def __init__(
        self,
        specs: Sequence[TaskSpec],
        states: Mapping[str, str],
        names: Mapping[str, str],
        rerolls: Mapping[str, dict[str, Any]],
    ):
        self.specs, self.states, self.names, self.rerolls = specs, states, names, rerolls

    def __iter__(self) -> Iterator[dict[str, Any]]:
        states, rerolls = self.states, self.rerolls
        for spec in self.specs:
            yield self._row(spec, states.get(spec.key, "new"), rerolls.get(spec.key))

    def _row(self, spec: TaskSpec, state: str, reroll: dict[str, Any] | None) -> dict[str, Any]:
        row: dict[str, Any] = {"key": spec.key, "name": display_name(spec), "state": state}
        row.update(spec.request.to_json())
        row["ref_images"] = [self.names.get(r, r) for r in spec.request.ref_images]
        if reroll is not None:  # what `run --reroll-rejected` would send
            row.update(state="reroll", attempt=reroll["attempt"])
            row["prompt"] = reroll.get("prompt", row["prompt"])
        return row

    def text(self) -> Iterator[str]:
        """The header and a line a task."""
        yield HEADER
        states, rerolls = self.states, self.rerolls
        columns: dict[tuple[str, str, int, int], str] = {}
        refs_shown: dict[tuple[str, ...], str] = {(): ""}
        for spec, name in zip(self.specs, display_names(self.specs), strict=True):
            key, request = spec.key, spec.request
            state, prompt = states.get(key, "new"), request.prompt
            if rerolls and (reroll := rerolls.get(key)) is not None:
                state, prompt = "reroll", reroll.get("prompt", prompt)
            shape = (state, request.aspect_ratio, request.clarity, request.number_of_images)
            middle = columns.get(shape)
            if middle is None:
                middle = columns[shape] = _columns(*shape)
            refs = refs_shown.get(request.ref_images)
            if refs is None:
                if len(refs_shown) > 4096:  # chained tasks: each its own; keep it small
                    refs_shown = {(): ""}
                refs = refs_shown[request.ref_images] = self._refs(request)
            if len(name) > 16:  # a slug is one word: all short() would do is cut it
                name = name[:15] + "…"
            yield f"{key:16}{middle}{name:16}  {short(prompt, 48)}{refs}"

    def _refs(self, request: Request) -> str:
        shown_refs = [self.names.get(r, r) for r in request.ref_images]
        shown = ", ".join(short(r.rsplit("/", 1)[-1], 24) for r in shown_refs[:3])
        more = f" +{len(shown_refs) - 3}" if len(shown_refs) > 3 else ""
        return f"  [refs: {shown}{more}]"


def _columns(state: str, aspect_ratio: str, clarity: int, number_of_images: int) -> str:
    """The columns between the key and the name, with the spaces around them."""
    return f"  {state:9}  {aspect_ratio:5}  {clarity:4}  {number_of_images}  "
