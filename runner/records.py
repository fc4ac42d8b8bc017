"""Plain values passed between stages: requests, task specs, states, records."""

from __future__ import annotations

import enum
import hashlib
import sys
from collections.abc import Mapping, Sequence
from dataclasses import Field, dataclass, fields
from types import MappingProxyType
from typing import Any

import orjson

from runner import modeltable

DEFAULT_MODEL = "doubao-seedream-4.0"
# Kept for old imports: the union over the model table.
MODEL_CODES = modeltable.codes()
ASPECT_RATIOS = modeltable.all_values("aspect_ratios")
CLARITIES = modeltable.all_values("clarities")
TASK_REF = "task:"  # `task:<parent key>#<output index>`: another task's output, as a reference


def task_ref(key: str, index: int) -> str:
    return f"{TASK_REF}{key}#{index}"


def parse_task_ref(ref: str) -> tuple[str, int] | None:
    """(parent key, output index) of a `task:` reference; None for a URL or local file."""
    if not ref.startswith(TASK_REF):
        return None
    key, _, index = ref[len(TASK_REF) :].partition("#")
    return key, int(index)


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


@dataclass(frozen=True, slots=True)
class Request:
    """Exactly what goes into the submit body; the model table says how.

    The video fields and `extra` are left out of `to_json` while unset, so an
    image request made before they existed keeps its fingerprint (and task key).
    """

    prompt: str
    ref_images: tuple[str, ...] = ()
    aspect_ratio: str = "1:1"
    clarity: int = 2048
    number_of_images: int = 1
    model_code: str = DEFAULT_MODEL
    video_duration: int | None = None
    quality_mode: str | None = None
    extra: str = ""  # model-private body fields: canonical JSON of a mapping, or ""

    @property
    def kind(self) -> str:
        """image or video: from the table; for a model it does not know, from the fields."""
        spec = modeltable.find(self.model_code)
        if spec is not None:
            return spec.kind
        return "video" if self.video_duration is not None or self.quality_mode else "image"

    @property
    def creation_type(self) -> int:
        """3 image, 4 video: the submit's creation_type and the task list's type."""
        spec = modeltable.find(self.model_code)
        if spec is not None:
            return spec.creation_type
        return 4 if self.kind == "video" else 3

    @property
    def outputs(self) -> int:
        """Files the task makes: its images, or one video."""
        return 1 if self.kind == "video" else self.number_of_images

    def extra_fields(self) -> dict[str, Any]:
        return dict(orjson.loads(self.extra)) if self.extra else {}

    def body(self, ref_urls: dict[str, str] | None = None) -> dict[str, Any]:
        """The submit body; local references are replaced by their uploaded URLs."""
        spec = modeltable.find(self.model_code)
        video = self.kind == "video"
        body: dict[str, Any] = {
            "ref_prompt": self.prompt,
            "creation_type": self.creation_type,
            "model_code": self.model_code,
            "aspect_ratio": self.aspect_ratio,
            "clarity": self.clarity,
        }
        if video:
            if self.video_duration is not None:
                body["video_duration"] = self.video_duration
            if self.quality_mode:
                body["quality_mode"] = self.quality_mode
        else:
            body["number_of_images"] = self.number_of_images
        if self.ref_images:  # optional in the API; an empty list is not sent
            urls = ref_urls or {}
            sent = [urls.get(ref, ref) for ref in self.ref_images]
            fields = spec.references.fields if spec else ()
            if fields:  # e.g. start_frame / end_frame: one URL string each
                body.update(zip(fields, sent, strict=False))
            else:
                body["ref_img_url"] = sent
        body.update(self.extra_fields())
        return body

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "prompt": self.prompt,
            "ref_images": list(self.ref_images),
            "aspect_ratio": self.aspect_ratio,
            "clarity": self.clarity,
            "number_of_images": self.number_of_images,
            "model_code": self.model_code,
        }
        if self.video_duration is not None:
            out["video_duration"] = self.video_duration
        if self.quality_mode:
            out["quality_mode"] = self.quality_mode
        if self.extra:
            out["extra"] = self.extra
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Request:
        duration = data.get("video_duration")
        return cls(
            prompt=data["prompt"],
            ref_images=tuple(data.get("ref_images", ())),
            # interned: a million replayed requests share a handful of these strings
            aspect_ratio=sys.intern(data.get("aspect_ratio", "1:1")),
            clarity=int(data.get("clarity", 2048)),
            number_of_images=int(data.get("number_of_images", 1)),
            model_code=sys.intern(data.get("model_code", DEFAULT_MODEL)),
            video_duration=int(duration) if duration is not None else None,
            quality_mode=data.get("quality_mode") or None,
            extra=data.get("extra", ""),
        )

    @property
    def parents(self) -> tuple[str, ...]:
        """Keys of the tasks whose outputs this request takes as references."""
        if not self.ref_images:  # most tasks: asked of every one of a million on each resume
            return ()
        found = (parse_task_ref(ref) for ref in self.ref_images)
        return tuple(dict.fromkeys(p[0] for p in found if p is not None))

    def fingerprint(self) -> bytes:
        """A digest of the request as canonical JSON (to_json's key order is fixed).

        A digest, not the JSON itself: orjson's result keeps a ~4 KB buffer,
        and 100,000 of those would cost 400 MB.
        """
        return hashlib.sha256(orjson.dumps(self.to_json())).digest()


def task_key(fingerprint: bytes, occurrence: int) -> str:
    """Same request, same occurrence -> same key, on every run of the manifest."""
    digest = hashlib.sha256(b"%s#%d" % (fingerprint, occurrence))
    return digest.hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class TaskSpec:
    key: str
    name: str
    request: Request
    source: str = ""  # file:line of the manifest entry it came from


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
