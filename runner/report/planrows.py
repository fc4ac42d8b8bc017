"""`plan`'s task rows: as dicts for `--json`, as text lines for people.

A million tasks are a million rows: the text lines are formatted straight from
the tasks (no dict a row), with what the tasks share (a template's references,
the columns of one state and request shape) formatted once.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from itertools import islice
from typing import Any

from runner.names import display_name, display_names
from runner.records import Request, TaskSpec
from runner.report.text import short, shorts

CHUNK = 4096  # rows formatted together
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
        specs = iter(self.specs)
        columns: dict[tuple[str, str, int, int], str] = {}
        refs_shown: dict[tuple[str, ...], str] = {(): ""}
        while chunk := list(islice(specs, CHUNK)):
            states, prompts = self._states_prompts(chunk)
            for spec, state, name, prompt in zip(
                chunk, states, display_names(chunk), shorts(prompts, 48), strict=True
            ):
                request = spec.request
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
                yield f"{spec.key:16}{middle}{name:16}  {prompt}{refs}"

    def _states_prompts(self, chunk: list[TaskSpec]) -> tuple[list[str], list[str]]:
        """Each task's state, and the prompt it will be sent with."""
        states = [self.states.get(spec.key, "new") for spec in chunk]
        prompts = [spec.request.prompt for spec in chunk]
        if self.rerolls:
            for i, spec in enumerate(chunk):
                if (reroll := self.rerolls.get(spec.key)) is not None:
                    states[i], prompts[i] = "reroll", reroll.get("prompt", prompts[i])
        return states, prompts

    def _refs(self, request: Request) -> str:
        shown_refs = [self.names.get(r, r) for r in request.ref_images]
        shown = ", ".join(short(r.rsplit("/", 1)[-1], 24) for r in shown_refs[:3])
        more = f" +{len(shown_refs) - 3}" if len(shown_refs) > 3 else ""
        return f"  [refs: {shown}{more}]"


def _columns(state: str, aspect_ratio: str, clarity: int, number_of_images: int) -> str:
    """The columns between the key and the name, with the spaces around them."""
    return f"  {state:9}  {aspect_ratio:5}  {clarity:4}  {number_of_images}  "
