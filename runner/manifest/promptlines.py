"""Plain lines of a .txt prompts file, held compactly: one block, not an entry a line.

A million-line prompts file would otherwise be a million `Entry` objects, each
with a fields dict and a label string (~510 MB). A block keeps the prompt
strings themselves (which the tasks' requests then share, uncopied) and their
line numbers in an array. A plain line is a prompt alone without `{`/`}`: its
tasks differ from each other in the prompt only. Lines with placeholders stay
entries of their own, between blocks, in file order.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field

from runner.manifest.entries import Entry

NO_POS: dict[str, tuple[int, int]] = {}  # shared by prompt lines; never written to


@dataclass(slots=True, eq=False)
class PromptLines:
    """Consecutive plain lines of one prompts file, in file order."""

    file: str  # the prompts file's path as given, the same string for every line
    name: str  # its file name, for labels: "prompts.txt line 4"
    prompts: list[str] = field(default_factory=list)
    lines: array[int] = field(default_factory=lambda: array("I"))  # 4 bytes a line

    def __len__(self) -> int:
        return len(self.prompts)

    def add(self, prompt: str, line: int) -> None:
        self.prompts.append(prompt)
        self.lines.append(line)

    def label(self, i: int) -> str:
        return f"{self.name} line {self.lines[i]}"

    def entry(self, i: int) -> Entry:
        """The i-th line as the entry it stands for (for the slow path and for errors)."""
        return Entry(self.label(i), self.file, self.lines[i], {"prompt": self.prompts[i]}, NO_POS)

    def entries(self) -> Iterator[Entry]:
        return (self.entry(i) for i in range(len(self.prompts)))

    def source(self, i: int) -> str:
        return f"{self.file}:{self.lines[i]}"
