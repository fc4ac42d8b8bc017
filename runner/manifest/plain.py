"""Tasks that differ from a first one in their prompt alone, made fast.

A million-line prompts file is a million tasks whose requests differ in the
prompt only. Once the first of them has gone the whole way (drafts, references,
model checks), the rest reuse its request: a copy with another prompt, its
fingerprint hashed from the first one's JSON around the new prompt, its kind
and outputs known once for all.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from itertools import islice

import orjson

from runner.manifest import chain
from runner.manifest.entries import Entry
from runner.manifest.load import Manifest
from runner.manifest.promptlines import PromptLines
from runner.records import Request, TaskSpec, task_key

_PROMPT_HEAD = b'{"prompt":'


class Plain:
    """The first plain task's request, as the template of the others."""

    def __init__(self, first: Request):
        self.form = first.form  # everything but the prompt, shared by all of them
        self.outputs = first.outputs  # the same for every prompt: one model table lookup
        body = first.to_json()
        body["prompt"] = ""
        around = orjson.dumps(body)  # to_json's key order is fixed, with the prompt first
        self._head = hashlib.sha256(_PROMPT_HEAD)
        self._tail = around[len(_PROMPT_HEAD) + 2 :]
        self.fast = around.startswith(_PROMPT_HEAD + b'""') and (
            self._digest(first.prompt) == first.fingerprint()
        )

    def _digest(self, prompt: str) -> bytes:
        hasher = self._head.copy()
        hasher.update(orjson.dumps(prompt))
        hasher.update(self._tail)
        return hasher.digest()

    def matches(self, request: Request) -> bool:
        """The request is the first one's but for its prompt."""
        return request.form == self.form

    def like(self, prompt: str) -> tuple[Request, bytes]:
        request = Request(prompt, form=self.form)
        return request, self._digest(prompt) if self.fast else request.fingerprint()

    def add_lines(
        self,
        block: PromptLines,
        start: int,
        occurrences: Counter[bytes | str],
        specs: list[TaskSpec],
        skip: frozenset[int] = frozenset(),
    ) -> int:
        """The tasks of the block's lines from `start` on (but those in `skip`);
        returns how many files they make."""
        form, file, digest, made = self.form, block.file, self._digest, 0
        get, append = occurrences.get, specs.append
        rows = zip(
            islice(block.prompts, start, None), islice(block.lines, start, None), strict=True
        )
        for i, (prompt, line) in enumerate(rows, start):
            if skip and i in skip:
                continue
            request = Request(prompt, form=form)
            fingerprint = digest(prompt) if self.fast else request.fingerprint()
            seen = get(prompt, 0)  # a request like the first is counted by its prompt
            occurrences[prompt] = seen + 1
            append(TaskSpec(task_key(fingerprint, seen), "", request, file=file, line=line))
            made += 1
        return made * self.outputs


def manifest_allows(manifest: Manifest) -> bool:
    """No matrix to apply, and the defaults take no other task's outputs (then every
    task would be a child of another)."""
    refs = manifest.defaults.get("ref_images", ())
    return not manifest.matrix and not any(chain.is_output_ref(r) for r in refs)


def is_plain(manifest: Manifest, entry: Entry) -> bool:
    """A prompt and nothing else, with no placeholder, and no matrix to apply."""
    prompt = entry.fields.get("prompt")
    return (
        isinstance(prompt, str)
        and len(entry.fields) == 1
        and "{" not in prompt
        and "}" not in prompt
        and manifest_allows(manifest)
    )
