"""A task's record: its state as replayed from the ledger and advanced by a run.

A million of these are held at once, most of them planned or done: a record is
its spec, state, unique_id, attempt, account and whether it has children; what
a task gathers once it is sent (`TaskDetail`) is made only when first set. A
finished task's detail can be parked (`rundir.parking`): it then lives in the
ledger's checkpoint file, and the record holds only where (an int), so that a
run's memory does not grow as its tasks finish. Reading a parked detail reads
it back; changing it unparks it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import Field, dataclass, fields
from types import MappingProxyType
from typing import Any

from runner.records import Attempt, ImageFile, TaskSpec, TaskState
from runner.shelves import read_parked, shelf_of
from runner.taskdetail import NO_DETAIL as _NO_DETAIL
from runner.taskdetail import TaskDetail

__all__ = ["TaskDetail", "TaskRecord", "record_fields"]

_NO_FILES: Mapping[int, ImageFile] = MappingProxyType({})
_NO_ERRORS: Mapping[int, str] = MappingProxyType({})


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
    detail: TaskDetail | int | None = None  # int: parked (rundir.parking)

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
            self._view(),
        )

    def _view(self) -> TaskDetail:
        """The detail to read (never to change: it may be shared)."""
        detail = self.detail
        if detail is None:
            return _NO_DETAIL
        if type(detail) is int:
            return read_parked(detail)
        return detail  # type: ignore[return-value]  # a TaskDetail

    def _detail(self) -> TaskDetail:
        """The detail to change: made, or unparked, first."""
        detail = self.detail
        if detail is None:
            detail = self.detail = TaskDetail()
        elif type(detail) is int:
            detail = shelf_of(detail).unpark(self, detail)
            object.__setattr__(self, "detail", detail)
            object.__setattr__(self, "__class__", TaskRecord)
        return detail  # type: ignore[return-value]  # a TaskDetail

    def _set(self, name: str, value: object) -> None:
        """Set a detail field: no detail is made to hold a None, and a parked one is
        unparked only when the value changes."""
        detail = self.detail
        if detail is None:
            if value is None:
                return
        elif type(detail) is int and getattr(self._view(), name) == value:
            return
        setattr(self._detail(), name, value)

    @property
    def parked(self) -> bool:
        """Its detail lives in the checkpoint file (a finished task)."""
        return type(self.detail) is int

    def unpark(self) -> None:
        """Hold its detail in memory again (a parked one)."""
        if type(self.detail) is int:
            self._detail()

    def live_detail(self) -> TaskDetail | None:
        """Its detail when held in memory; None when it has none or it is parked."""
        detail = self.detail
        return detail if isinstance(detail, TaskDetail) else None

    @property
    def intent_at(self) -> float | None:
        return self._view().intent_at

    @intent_at.setter
    def intent_at(self, value: float | None) -> None:
        self._set("intent_at", value)

    @property
    def submitted_at(self) -> float | None:
        return self._view().submitted_at

    @submitted_at.setter
    def submitted_at(self, value: float | None) -> None:
        self._set("submitted_at", value)

    @property
    def error(self) -> str | None:
        return self._view().error

    @error.setter
    def error(self, value: str | None) -> None:
        self._set("error", value)

    @property
    def trace_id(self) -> str | None:
        return self._view().trace_id

    @trace_id.setter
    def trace_id(self, value: str | None) -> None:
        self._set("trace_id", value)

    @property
    def finished_at(self) -> float | None:
        return self._view().finished_at

    @finished_at.setter
    def finished_at(self, value: float | None) -> None:
        self._set("finished_at", value)

    @property
    def ref_urls(self) -> dict[str, str] | None:
        return self._view().ref_urls

    @ref_urls.setter
    def ref_urls(self, value: dict[str, str] | None) -> None:
        self._set("ref_urls", value)

    @property
    def decision(self) -> str | None:
        return self._view().decision

    @decision.setter
    def decision(self, value: str | None) -> None:
        self._set("decision", value)

    @property
    def reroll_prompt(self) -> str | None:
        return self._view().reroll_prompt

    @reroll_prompt.setter
    def reroll_prompt(self, value: str | None) -> None:
        self._set("reroll_prompt", value)

    @property
    def sent_refs(self) -> list[str] | None:
        return self._view().sent_refs

    @sent_refs.setter
    def sent_refs(self, value: list[str] | None) -> None:
        self._set("sent_refs", value)

    @property
    def urls(self) -> Sequence[str]:
        return self._view().urls_ or ()

    @urls.setter
    def urls(self, urls: Sequence[str]) -> None:
        self._set("urls_", list(urls) or None)

    @property
    def files(self) -> Mapping[int, ImageFile]:
        return self._view().files_ or _NO_FILES

    def add_file(self, index: int, image: ImageFile) -> None:
        detail = self._detail()
        if detail.files_ is None:
            detail.files_ = {}
        detail.files_[index] = image

    def drop_file(self, index: int) -> None:
        if index in self.files:
            detail = self._detail()
            assert detail.files_ is not None
            detail.files_.pop(index, None)
            detail.files_ = detail.files_ or None

    @property
    def image_errors(self) -> Mapping[int, str]:
        return self._view().image_errors_ or _NO_ERRORS

    def add_image_error(self, index: int, error: str) -> None:
        detail = self._detail()
        if detail.image_errors_ is None:
            detail.image_errors_ = {}
        detail.image_errors_[index] = error

    def drop_image_error(self, index: int) -> None:
        if index in self.image_errors:
            detail = self._detail()
            assert detail.image_errors_ is not None
            detail.image_errors_.pop(index, None)
            detail.image_errors_ = detail.image_errors_ or None

    def clear_outputs(self) -> None:
        """A new attempt: no URLs, files or image errors yet."""
        if self.urls or self.files or self.image_errors:
            detail = self._detail()
            detail.urls_ = detail.files_ = detail.image_errors_ = None

    @property
    def earlier(self) -> Sequence[Attempt]:
        return self._view().earlier_ or ()

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
