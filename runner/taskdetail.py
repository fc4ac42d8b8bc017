"""What a task gathers once it is sent (its record's detail, held apart from it)."""

from __future__ import annotations

from dataclasses import dataclass

from runner.records import Attempt, ImageFile


@dataclass(slots=True)
class TaskDetail:
    """What a task gathers once it is sent: held apart from its record, so that a
    million planned (or long finished) tasks carry none of it. An emptied
    container is None again."""

    intent_at: float | None = None  # unix time of the unanswered submit, when in doubt
    submitted_at: float | None = None
    urls_: list[str] | None = None  # the generated files' URLs, until they are on disk
    files_: dict[int, ImageFile] | None = None  # output index -> file on disk
    image_errors_: dict[int, str] | None = None  # output index -> why it was lost for good
    error: str | None = None
    trace_id: str | None = None
    finished_at: float | None = None
    ref_urls: dict[str, str] | None = None  # local:<sha256> -> uploaded URL, once uploaded
    decision: str | None = None  # review: "keep" or "reject" of this attempt, or None
    reroll_prompt: str | None = None  # review: the prompt a reroll should send instead
    earlier_: list[Attempt] | None = None  # attempts before this one
    sent_refs: list[str] | None = None  # the references of the latest submit, when resolved


NO_DETAIL = TaskDetail()  # what a record without detail reads; never written to
