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
from pathlib import Path

from runner.records import TaskSpec

MAX_SLUG_BYTES = 80
PROMPT_CHARS = 40  # an unnamed task is called after this much of its prompt


_NOT_NAME = re.compile(r"[^\w\-]+", flags=re.UNICODE)
_DASHES = re.compile(r"-{2,}")


def slug(text: str) -> str:
    if not text.isascii():  # NFKC leaves ASCII as it is (plan names a million tasks)
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
