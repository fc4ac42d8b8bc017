"""A task's record: its state as replayed from the ledger and advanced by a run.

A million of these are held at once, most of them planned or done: a record is
its spec, state, unique_id, attempt, account and whether it has children; what
a task gathers once it is sent (`TaskDetail`) is made only when first set.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import Field, dataclass, fields
from types import MappingProxyType
from typing import Any

from runner.records import Attempt, ImageFile, TaskSpec, TaskState

_NO_FILES: Mapping[int, ImageFile] = MappingProxyType({})
_NO_ERRORS: Mapping[int, str] = MappingProxyType({})


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


_NO_DETAIL = TaskDetail()  # what a record without detail reads; never written to


@dataclass(slots=True, init=False, eq=False)
class TaskRecord:
    """One task's state as replayed from the ledger and advanced by the run.

    A million of these are held at once, most of them planned or done: a record
    is its spec, state, unique_id, attempt, account and whether it has children;
    the rest (`TaskDetail`: times, errors, URLs, files, review decisions, earlier
    attempts) is made the first time one of them is set. Read them as attributes;
    the containers through read-only views (`urls`, `files`, `image_errors`,
    `earlier`), changed through the methods below. Two records are equal when
    all of this is, however they got there.
    """

    spec: TaskSpec
    state: TaskState = TaskState.PLANNED
    unique_id: str | None = None
    attempt: int = 1
    has_children: bool = False  # other tasks take its outputs: keep its URLs once done
    account: str = ""  # label of the account it was sent through ("": the only one)
    detail: TaskDetail | None = None

    def __init__(
        self,
        spec: TaskSpec,
        state: TaskState = TaskState.PLANNED,
        unique_id: str | None = None,
        *,
        attempt: int = 1,
        has_children: bool = False,
        account: str = "",
        **detail: Any,
    ):
        self.spec, self.state, self.unique_id = spec, state, unique_id
        self.attempt, self.has_children, self.account = attempt, has_children, account
        self.detail = TaskDetail(**detail) if detail else None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TaskRecord):
            return NotImplemented
        return self._compared() == other._compared()

    __hash__ = None  # type: ignore[assignment]  # mutable: as a dataclass with eq

    def _compared(self) -> tuple[object, ...]:
        return (
            self.spec,
            self.state,
            self.unique_id,
            self.attempt,
            self.has_children,
            self.account,
            self.detail or _NO_DETAIL,
        )

    def _detail(self) -> TaskDetail:
        if self.detail is None:
            self.detail = TaskDetail()
        return self.detail

    @property
    def intent_at(self) -> float | None:
        return (self.detail or _NO_DETAIL).intent_at

    @intent_at.setter
    def intent_at(self, value: float | None) -> None:
        if value is not None or self.detail is not None:
            self._detail().intent_at = value

    @property
    def submitted_at(self) -> float | None:
        return (self.detail or _NO_DETAIL).submitted_at

    @submitted_at.setter
    def submitted_at(self, value: float | None) -> None:
        if value is not None or self.detail is not None:
            self._detail().submitted_at = value

    @property
    def error(self) -> str | None:
        return (self.detail or _NO_DETAIL).error

    @error.setter
    def error(self, value: str | None) -> None:
        if value is not None or self.detail is not None:
            self._detail().error = value

    @property
    def trace_id(self) -> str | None:
        return (self.detail or _NO_DETAIL).trace_id

    @trace_id.setter
    def trace_id(self, value: str | None) -> None:
        if value is not None or self.detail is not None:
            self._detail().trace_id = value

    @property
    def finished_at(self) -> float | None:
        return (self.detail or _NO_DETAIL).finished_at

    @finished_at.setter
    def finished_at(self, value: float | None) -> None:
        if value is not None or self.detail is not None:
            self._detail().finished_at = value

    @property
    def ref_urls(self) -> dict[str, str] | None:
        return (self.detail or _NO_DETAIL).ref_urls

    @ref_urls.setter
    def ref_urls(self, value: dict[str, str] | None) -> None:
        if value is not None or self.detail is not None:
            self._detail().ref_urls = value

    @property
    def decision(self) -> str | None:
        return (self.detail or _NO_DETAIL).decision

    @decision.setter
    def decision(self, value: str | None) -> None:
        if value is not None or self.detail is not None:
            self._detail().decision = value

    @property
    def reroll_prompt(self) -> str | None:
        return (self.detail or _NO_DETAIL).reroll_prompt

    @reroll_prompt.setter
    def reroll_prompt(self, value: str | None) -> None:
        if value is not None or self.detail is not None:
            self._detail().reroll_prompt = value

    @property
    def sent_refs(self) -> list[str] | None:
        return (self.detail or _NO_DETAIL).sent_refs

    @sent_refs.setter
    def sent_refs(self, value: list[str] | None) -> None:
        if value is not None or self.detail is not None:
            self._detail().sent_refs = value

    @property
    def urls(self) -> Sequence[str]:
        return (self.detail or _NO_DETAIL).urls_ or ()

    @urls.setter
    def urls(self, urls: Sequence[str]) -> None:
        if urls or self.detail is not None:
            self._detail().urls_ = list(urls) or None

    @property
    def files(self) -> Mapping[int, ImageFile]:
        return (self.detail or _NO_DETAIL).files_ or _NO_FILES

    def add_file(self, index: int, image: ImageFile) -> None:
        detail = self._detail()
        if detail.files_ is None:
            detail.files_ = {}
        detail.files_[index] = image

    def drop_file(self, index: int) -> None:
        if self.detail is not None and self.detail.files_ is not None:
            self.detail.files_.pop(index, None)
            self.detail.files_ = self.detail.files_ or None

    @property
    def image_errors(self) -> Mapping[int, str]:
        return (self.detail or _NO_DETAIL).image_errors_ or _NO_ERRORS

    def add_image_error(self, index: int, error: str) -> None:
        detail = self._detail()
        if detail.image_errors_ is None:
            detail.image_errors_ = {}
        detail.image_errors_[index] = error

    def drop_image_error(self, index: int) -> None:
        if self.detail is not None and self.detail.image_errors_ is not None:
            self.detail.image_errors_.pop(index, None)
            self.detail.image_errors_ = self.detail.image_errors_ or None

    def clear_outputs(self) -> None:
        """A new attempt: no URLs, files or image errors yet."""
        if self.detail is not None:
            self.detail.urls_ = self.detail.files_ = self.detail.image_errors_ = None

    @property
    def earlier(self) -> Sequence[Attempt]:
        return (self.detail or _NO_DETAIL).earlier_ or ()

    def add_earlier(self, attempt: Attempt) -> None:
        self._detail().earlier_ = [*self.earlier, attempt]

    def replace_earlier(self, n: int, attempt: Attempt) -> None:
        detail = self._detail()
        assert detail.earlier_ is not None
        detail.earlier_[n] = attempt

    @property
    def key(self) -> str:
        return self.spec.key

    @property
    def images_expected(self) -> int:
        """Files expected on disk: images, or one video."""
        return self.spec.request.outputs


def record_fields() -> list[Field[Any]]:
    """A record's fields as the ledger and its checkpoints know them (all but its
    spec): TaskRecord's own and its TaskDetail's, by name."""
    own = [f for f in fields(TaskRecord) if f.name not in ("spec", "detail")]
    return own + list(fields(TaskDetail))
