"""Names made from the manifest: the run directory's, and the one name a task goes by
everywhere (plan, status, summary, gallery, file names).

A task named in the manifest goes by its name; an unnamed one by the start of
its prompt. Either way the name is reduced to a slug (letters, digits, `-` and
`_`, at most 80 bytes), because the same text names its files: what the user
sees in `plan` is the start of what they find in `images/`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path

from runner.records import TaskSpec

MAX_SLUG_BYTES = 80
PROMPT_CHARS = 40  # an unnamed task is called after this much of its prompt


_NOT_NAME = re.compile(r"[^\w\-]+", flags=re.UNICODE)
_DASHES = re.compile(r"-{2,}")
# For ASCII text (plan names a million tasks): every byte that is not a letter, a
# digit, `_` or `-` becomes `-`, as _NOT_NAME does, in one C pass over bytes.
_ASCII_NAME = bytes(b if chr(b).isalnum() or b in b"_-" else ord("-") for b in range(256))
_KEEP_NUL = b"\x00" + _ASCII_NAME[1:]  # for many texts at once: NUL keeps them apart
_CHUNK = 4096


def slug(text: str) -> str:
    if text.isascii():  # NFKC leaves ASCII as it is; bytes go faster (plan names a million)
        # A run of dashes and other characters becomes one dash whichever way it is
        # cut: as _NOT_NAME and _DASHES make it, three to four times faster.
        ascii = text.encode("ascii").translate(_ASCII_NAME)
        while b"--" in ascii:
            ascii = ascii.replace(b"--", b"-")
        ascii = ascii.strip(b"-_")
        if len(ascii) > MAX_SLUG_BYTES:
            ascii = ascii[:MAX_SLUG_BYTES].strip(b"-_")
        return ascii.decode("ascii") or "task"
    text = unicodedata.normalize("NFKC", text)
    out = _NOT_NAME.sub("-", text).strip("-_.")
    out = _DASHES.sub("-", out)
    encoded = out.encode("utf-8")[:MAX_SLUG_BYTES]
    return encoded.decode("utf-8", "ignore").strip("-_") or "task"


def default_run_dir(name: str) -> Path:
    """Where a run of the manifest called `name` lives when --out is not given."""
    return Path("outputs") / slug(name)


def display_name(spec: TaskSpec) -> str:
    """The task's name as every command and file shows it."""
    return slug(spec.name or spec.request.prompt[:PROMPT_CHARS])


def display_names(specs: Iterable[TaskSpec]) -> Iterator[str]:
    """display_name of each task, a few thousand at a time (plan lists a million)."""
    texts = (spec.name or spec.request.prompt[:PROMPT_CHARS] for spec in specs)
    while chunk := list(islice(texts, _CHUNK)):
        yield from slugs(chunk)


def slugs(texts: list[str]) -> list[str]:
    """slug of each text: ASCII texts joined by NUL go through slug's bytes steps once for
    all (a dash never runs across a NUL), then are cut apart; twice as fast."""
    joined = "\x00".join(texts)
    if not joined.isascii() or joined.count("\x00") != len(texts) - 1:
        return [slug(text) for text in texts]
    ascii = joined.encode("ascii").translate(_KEEP_NUL)
    while b"--" in ascii:
        ascii = ascii.replace(b"--", b"-")
    parts = [part.strip(b"-_") for part in ascii.split(b"\x00")]
    return [
        (part if len(part) <= MAX_SLUG_BYTES else part[:MAX_SLUG_BYTES].strip(b"-_")).decode()
        or "task"
        for part in parts
    ]
