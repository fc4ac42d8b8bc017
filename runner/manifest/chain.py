"""Chained tasks: `@name` references to other tasks' outputs, checked before anything is sent.

A task's outputs are known in number before it runs (`Request.outputs`), so
`@name`, `@name[i]` and `for_each: "@name"` become `task:<key>#<i>` references
at expansion, and the entries form a graph. Entries are expanded parents
first, so a child's key hashes its parents' keys (never their URLs): the same
manifest always yields the same keys.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from runner import modeltable
from runner.manifest.entries import Entry, Issues
from runner.manifest.fields import OUTPUT_REF
from runner.records import Request, task_ref


@dataclass(slots=True)
class Draft:
    """One combination of an entry, before its references to other tasks are resolved."""

    entry: Entry
    fields: dict[str, Any]
    prompt: str
    name: str
    refs: tuple[str, ...]
    for_each: str | None


@dataclass(slots=True)
class Node:
    """One entry of the manifest in the graph: the names it makes and the names it needs."""

    names: set[str] = field(default_factory=set)
    needs: dict[str, tuple[tuple[int, int], str]] = field(
        default_factory=dict
    )  # name -> where asked


def parse(ref: str) -> tuple[str, int | None]:
    """`@knight` -> ("knight", None); `@knight[1]` -> ("knight", 1)."""
    match = OUTPUT_REF.match(ref)
    assert match is not None, ref  # checked when the manifest was loaded
    return match.group(1), None if match.group(2) is None else int(match.group(2))


def is_output_ref(ref: str) -> bool:
    return ref.startswith("@")


_ALONE = Node()  # an entry that is a prompt alone: no name, needs nothing (shared)


def graph(groups: Sequence[Sequence[Draft] | None]) -> list[Node]:
    """One node per entry: the names its tasks make and the names they need."""
    nodes = []
    for drafts in groups:
        if drafts is None:
            nodes.append(_ALONE)
            continue
        node = Node()
        for d in drafts:
            if d.name:
                node.names.add(d.name)
            ref_at = d.entry.pos.get("ref_images", (d.entry.line, 1))
            for ref in d.refs:
                if is_output_ref(ref):
                    node.needs.setdefault(parse(ref)[0], (ref_at, "ref_images"))
            if d.for_each:
                at = d.entry.pos.get("for_each", (d.entry.line, 1))
                node.needs.setdefault(parse(d.for_each)[0], (at, "for_each"))
        nodes.append(node)
    return nodes


def order(nodes: Sequence[Node]) -> tuple[list[int], list[list[int]]]:
    """Entries parents first (manifest order among equals), and the cycles left over.

    Kahn's algorithm with the smallest index first: a manifest without
    references keeps its order, hence its keys.
    """
    if not any(node.needs for node in nodes):  # no references: nothing to order (a million)
        return list(range(len(nodes))), []
    makers: dict[str, list[int]] = {}
    for i, node in enumerate(nodes):
        for name in node.names:
            makers.setdefault(name, []).append(i)
    deps = [{m for name in node.needs for m in makers.get(name, ())} for node in nodes]
    waiting = [len(d) for d in deps]
    children: list[list[int]] = [[] for _ in nodes]
    for i, d in enumerate(deps):
        for parent in d:
            children[parent].append(i)
    ready = [i for i, n in enumerate(waiting) if n == 0]
    heapq.heapify(ready)
    done: list[int] = []
    while ready:
        i = heapq.heappop(ready)
        done.append(i)
        for child in children[i]:
            waiting[child] -= 1
            if waiting[child] == 0:
                heapq.heappush(ready, child)
    left = {i for i, n in enumerate(waiting) if n}
    return done, _cycles(left, deps)


def _cycles(left: set[int], deps: list[set[int]]) -> list[list[int]]:
    """One cycle through each group of entries that wait on each other."""
    cycles: list[list[int]] = []
    seen: set[int] = set()
    for start in sorted(left):
        if start in seen:
            continue
        path, at = [start], start
        on_path = {start: 0}
        while True:
            nxt = min(d for d in deps[at] if d in left)  # every left entry waits on a left one
            if nxt in on_path:
                cycle = path[on_path[nxt] :]
                if not seen & set(cycle):
                    cycles.append(cycle)
                seen.update(path)
                break
            on_path[nxt] = len(path)
            path.append(nxt)
            at = nxt
    return cycles


class Outputs:
    """name -> the `task:` references of every output of the tasks with that name."""

    def __init__(self) -> None:
        self.by_name: dict[str, list[str]] = {}

    def add(self, name: str, key: str, request: Request) -> None:
        if name:
            refs = self.by_name.setdefault(name, [])
            refs.extend(task_ref(key, i) for i in range(request.outputs))

    def resolve(
        self, ref: str, where: str, at: tuple[int, int], file: str, issues: Issues
    ) -> list[str] | None:
        name, index = parse(ref)
        outputs = self.by_name.get(name)
        if not outputs:  # no such name (reported by report_dangling) or its tasks had problems
            return None
        if index is None:
            return outputs
        if index >= len(outputs):
            issues.add(
                at,
                where,
                f"{ref}: the tasks named {name!r} make {len(outputs)} output(s), "
                f"numbered 0 to {len(outputs) - 1}",
                file=file,
            )
            return None
        return [outputs[index]]


def report_cycles(
    nodes: Sequence[Node], cycles: list[list[int]], entries: Sequence[Entry | None], issues: Issues
) -> None:
    for cycle in cycles:
        names = [min(nodes[i].names) if nodes[i].names else "?" for i in cycle]
        entry = entries[cycle[0]]
        assert entry is not None  # an entry without tasks makes no names and needs none
        made = set().union(*(nodes[i].names for i in cycle))
        at, key = next(place for name, place in nodes[cycle[0]].needs.items() if name in made)
        issues.add(
            at,
            f"{entry.label}.{key}",
            f"a cycle of references: {' -> '.join([*names, names[0]])}; "
            "none of these tasks could ever be sent",
            "a task can only take the outputs of tasks that do not need its own",
            file=entry.file,
        )


def report_dangling(nodes: Sequence[Node], entries: Sequence[Entry | None], issues: Issues) -> None:
    made = set().union(*(node.names for node in nodes))
    known = ", ".join(sorted(made)) or "no task has a name"
    for node, entry in zip(nodes, entries, strict=True):
        for name, (at, key) in node.needs.items():
            if name not in made and entry is not None:
                issues.add(
                    at,
                    f"{entry.label}.{key}",
                    f"@{name}: no task is named {name!r}",
                    f"named tasks: {known}",
                    file=entry.file,
                )


def takes_references(model_code: str) -> bool:
    """False for a model the table says takes none (an unknown model is given the benefit)."""
    spec = modeltable.find(model_code)
    return spec is None or spec.references.mode != "none"


def resolve(
    draft: Draft, plain: tuple[str, ...] | None, outputs: Outputs, issues: Issues
) -> list[tuple[str, ...]] | None:
    """The ref_images of each task of the draft (one per for_each output), or None.

    `plain`: the draft's URLs and local files, already resolved (None: a problem).
    """
    entry = draft.entry
    ref_at = entry.pos.get("ref_images", (entry.line, 1))
    fan_at = entry.pos.get("for_each", (entry.line, 1))
    ok = plain is not None
    rest = iter(plain or ())
    resolved: list[str] = []
    for ref in draft.refs:
        if not is_output_ref(ref):
            if plain is not None:
                resolved.append(next(rest))
            continue
        found = outputs.resolve(ref, f"{entry.label}.ref_images", ref_at, entry.file, issues)
        ok = ok and found is not None
        resolved.extend(found or ())
    fan: list[tuple[str, ...]] = [()]
    if draft.for_each is not None:
        found = outputs.resolve(
            draft.for_each, f"{entry.label}.for_each", fan_at, entry.file, issues
        )
        ok = ok and found is not None
        fan = [(ref,) for ref in found or ()]
    if not ok:
        return None
    chained = draft.for_each is not None or any(is_output_ref(r) for r in draft.refs)
    if chained and not takes_references(draft.fields["model_code"]):
        issues.add(
            fan_at if draft.for_each else ref_at,
            f"{entry.label}.{'for_each' if draft.for_each else 'ref_images'}",
            f"model {draft.fields['model_code']} takes no reference images, "
            "so it cannot be given other tasks' outputs",
            "pick a model that takes references (see seedream-batch models)",
            file=entry.file,
        )
        return None
    return [(*head, *resolved) for head in fan]


def check_budget(
    draft: Draft, fanned: int, images_after: int, budget: int | None, issues: Issues
) -> None:
    """A fan-out that takes the manifest over max_images is an error, not a surprise at 3 am."""
    if draft.for_each is None or budget is None:
        return
    count = fanned * draft.entry.fields.get("repeat", 1)
    fan_images = count * draft.fields["number_of_images"]
    if images_after - fan_images <= budget < images_after:
        issues.add(
            draft.entry.pos.get("for_each", (draft.entry.line, 1)),
            f"{draft.entry.label}.for_each",
            f"{draft.for_each} fans out to {count} task(s), {fan_images} image(s); "
            f"with the tasks before it that is {images_after}, over the budget of {budget}",
            "raise max_images (or --max-images), or give fewer outputs to fan out over",
            file=draft.entry.file,
        )
