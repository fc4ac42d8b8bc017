"""The tasks of an expansion, made entry by entry in the order `chain` gives.

A task's key hashes its request and how many identical requests came before it
(`occurrences`). An entry with drafts goes the whole way: references located
and resolved, the model's rules checked, `repeat` copies. A prompt alone (a
bare task, or the lines of a prompts file) goes that way once; the others
reuse its request (see `plain`).
"""

from __future__ import annotations

from collections import Counter
from itertools import islice

from runner.manifest import chain
from runner.manifest.drafts import drafts, too_long
from runner.manifest.entries import Entry, Issues
from runner.manifest.limits import Limits
from runner.manifest.load import Manifest
from runner.manifest.plain import Plain
from runner.manifest.promptlines import PromptLines
from runner.manifest.taskchecks import ModelChecks, RefResolver
from runner.records import Request, TaskSpec, task_key


class Builder:
    def __init__(
        self,
        manifest: Manifest,
        limits: Limits,
        issues: Issues,
        resolve: RefResolver,
        model_ok: ModelChecks,
    ):
        self.manifest, self.limits, self.issues = manifest, limits, issues
        self.resolve, self.model_ok = resolve, model_ok
        self.budget = manifest.max_images if limits.max_images is None else limits.max_images
        self.specs: list[TaskSpec] = []
        # Tasks so far with the same request, by its fingerprint; a request like the
        # first prompt alone's by its prompt, a string its tasks hold anyway (a million
        # 32-byte fingerprints would cost 70 MB).
        self.occurrences: Counter[bytes | str] = Counter()
        self.outputs = chain.Outputs()
        self.images = 0
        self.plain: Plain | None = None  # the first prompt alone's request, once made

    def add_drafts(self, group: list[chain.Draft]) -> Request | None:
        """The tasks of an entry's drafts; returns the last request made, if any."""
        request: Request | None = None
        for draft in group:
            entry, fields = draft.entry, draft.fields
            ref_at = entry.pos.get("ref_images", (entry.line, 1))
            located = self.resolve(
                tuple(r for r in draft.refs if not chain.is_output_ref(r)),
                entry.label,
                ref_at,
                entry.file,
            )
            fan = chain.resolve(draft, located, self.outputs, self.issues)
            if fan is None:
                break
            for refs in fan:
                if not self.model_ok(entry, {**fields, "ref_images": refs}):
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
                self._add(draft, request)
            chain.check_budget(draft, len(fan), self.images, self.budget, self.issues)
        return request

    def _add(self, draft: chain.Draft, request: Request) -> None:
        """The draft's tasks for this request (`repeat` of them)."""
        fingerprint = request.fingerprint()
        file, line = draft.entry.file, draft.entry.line
        repeat: int = draft.entry.fields.get("repeat", 1)
        like_plain = self.plain is not None and self.plain.matches(request)
        counted = request.prompt if like_plain else fingerprint
        for _ in range(repeat):
            key = task_key(fingerprint, self.occurrences[counted])
            self.occurrences[counted] += 1
            self.specs.append(TaskSpec(key, draft.name, request, file=file, line=line))
            self.outputs.add(draft.name, key, request)
        self.images += repeat * request.outputs

    def add_plain(self, entry: Entry) -> None:
        """A prompt alone: the whole way for the first, like it for the others."""
        if self.plain is None:
            first = self.add_drafts(drafts(self.manifest, entry, self.issues, self.limits))
            if first is not None:
                self._count_by_prompt(Plain(first))
            return
        prompt: str = entry.fields["prompt"]
        if too_long(entry, prompt, self.limits, self.issues):
            return
        request, fingerprint = self.plain.like(prompt)
        seen = self.occurrences[prompt]
        self.occurrences[prompt] = seen + 1
        key = task_key(fingerprint, seen)
        self.specs.append(TaskSpec(key, "", request, file=entry.file, line=entry.line))
        self.images += self.plain.outputs

    def _count_by_prompt(self, plain: Plain) -> None:
        """From now on requests like `plain`'s are counted by their prompt: so are
        those made so far (the first of them among them)."""
        self.plain = plain
        for spec in self.specs:
            if plain.matches(spec.request):
                fingerprint = spec.request.fingerprint()
                if fingerprint in self.occurrences:  # once for repeats of one request
                    self.occurrences[spec.request.prompt] = self.occurrences.pop(fingerprint)

    def add_lines(self, block: PromptLines) -> None:
        """A block of prompt lines, as many prompts alone, without an entry for each."""
        start = 0
        while self.plain is None and start < len(block):
            self.add_plain(block.entry(start))
            start += 1
        if self.plain is None or start == len(block):
            return
        skip = self._long_lines(block, start)
        self.images += self.plain.add_lines(block, start, self.occurrences, self.specs, skip)

    def _long_lines(self, block: PromptLines, start: int) -> frozenset[int]:
        """The lines from `start` on whose prompt is over the limit, reported."""
        limit = self.limits.max_prompt_chars
        if max(map(len, islice(block.prompts, start, None)), default=0) <= limit:  # in C
            return frozenset()
        found = [i for i in range(start, len(block)) if len(block.prompts[i]) > limit]
        for i in found:
            too_long(block.entry(i), block.prompts[i], self.limits, self.issues)
        return frozenset(found)
