"""The limits that decide whether a manifest is accepted, as one value.

`validate`, `plan` and `run` take the same flags (`--max-tasks`,
`--max-prompt-chars`) and pass the same `Limits` down, so they cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_TASKS = 200_000
MAX_PROMPT_CHARS = 4000  # the API's own limit is unpublished; override with --max-prompt-chars


@dataclass(frozen=True, slots=True)
class Limits:
    max_tasks: int = MAX_TASKS  # tasks the manifest may expand to
    max_prompt_chars: int = MAX_PROMPT_CHARS  # characters of a prompt, placeholders filled
    max_images: int | None = None  # run --max-images: a fan-out past it is refused, as past
    # the manifest's own max_images (which it overrides)


DEFAULT_LIMITS = Limits()
