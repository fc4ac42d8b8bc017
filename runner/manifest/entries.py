"""A task entry as validated, and the collector of manifest problems."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from runner.errors import ManifestIssue


@dataclass(slots=True)
class Entry:
    """One task entry: its explicit, validated fields and where they stand."""

    label: str  # tasks[3], or prompts.csv row 4
    file: str
    line: int
    fields: dict[str, Any]
    pos: dict[str, tuple[int, int]] = field(default_factory=dict)


class Issues:
    def __init__(self, file: str):
        self.file = file
        self.items: list[ManifestIssue] = []

    def add(
        self, at: tuple[int, int], path: str, message: str, hint: str = "", *, file: str = ""
    ) -> None:
        self.items.append(ManifestIssue(file or self.file, at[0], at[1], path, message, hint))

    def unknown_key(self, at: tuple[int, int], path: str, key: str, valid: tuple[str, ...]) -> None:
        close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}?" if close else f"valid keys: {', '.join(valid)}"
        self.add(at, f"{path}.{key}" if path else key, f"unknown key {key!r}", hint)
