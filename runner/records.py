"""Plain values passed between stages: requests, task specs, states, files, attempts
(a task's record, built of these, is in `taskrecord`)."""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass

from runner.request import (
    ASPECT_RATIOS,
    CLARITIES,
    DEFAULT_MODEL,
    MODEL_CODES,
    TASK_REF,
    Request,
    RequestForm,
    interned,
    parse_task_ref,
    task_ref,
)

__all__ = [
    "ASPECT_RATIOS",
    "CLARITIES",
    "DEFAULT_MODEL",
    "MODEL_CODES",
    "TASK_REF",
    "Attempt",
    "ImageFile",
    "Request",  # runner.request: records' callers have always found it here
    "RequestForm",
    "TaskSpec",
    "TaskState",
    "interned",
    "parse_task_ref",
    "shared_file",
    "split_source",
    "task_key",
    "task_ref",
]


class TaskState(enum.StrEnum):
    PLANNED = "planned"  # never sent, or known not to exist on the server
    IN_DOUBT = "in_doubt"  # a submit was sent; its answer was not recorded
    SUBMITTED = "submitted"  # the server has it (unique_id known); not finished
    SUCCEEDED = "succeeded"  # generated; some images not yet on disk
    DONE = "done"  # generated and every image on disk
    FAILED = "failed"  # final: rejected, generation error, or an image lost for good
    BLOCKED = "blocked"  # never sent: a task whose outputs it needs failed for good

    @property
    def final(self) -> bool:
        return self in (TaskState.DONE, TaskState.FAILED, TaskState.BLOCKED)


def task_key(fingerprint: bytes, occurrence: int) -> str:
    """Same request, same occurrence -> same key, on every run of the manifest."""
    digest = hashlib.sha256(b"%s#%d" % (fingerprint, occurrence))
    return digest.hexdigest()[:16]


_FILES: dict[str, str] = {}  # one string per manifest or prompts file, for every task


@dataclass(frozen=True, slots=True, init=False)
class TaskSpec:
    """A task as the manifest made it. `source` ("file:line" of the entry it came
    from) is held as the file, one string shared by all its tasks, and the line."""

    key: str
    name: str
    request: Request
    file: str
    line: int  # 0: no line (then `source` is the file alone)

    def __init__(
        self,
        key: str,
        name: str,
        request: Request,
        source: str = "",
        *,
        file: str | None = None,
        line: int = 0,
    ):
        if file is None:
            file, line = split_source(source)
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "request", request)
        object.__setattr__(self, "file", shared_file(file))
        object.__setattr__(self, "line", line)

    @property
    def source(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


def shared_file(file: str) -> str:
    """The one string a file's name is, for all the tasks that came from it."""
    return _FILES.setdefault(file, file)


def split_source(source: str) -> tuple[str, int]:
    """("file", line) of "file:line"; (source, 0) for anything else, so that
    `source` always gives back exactly what was split."""
    file, colon, line = source.rpartition(":")
    if colon and line.isdigit() and line.isascii() and str(int(line)) == line and int(line):
        return file, int(line)
    return source, 0


@dataclass(frozen=True, slots=True)
class ImageFile:
    path: str  # relative to the run directory
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class Attempt:
    """An earlier attempt of a task, kept when --retry-failed or a reroll starts a new one."""

    attempt: int
    prompt: str
    unique_id: str | None
    files: tuple[ImageFile, ...]
    decision: str | None
    error: str | None
    submitted_at: float | None
    finished_at: float | None
