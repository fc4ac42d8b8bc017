"""A request: exactly what one submit asks for, and the model table's word on it.

Its prompt is its own; the rest (references, aspect ratio, clarity, count,
model, video fields, extra body fields) is a `RequestForm` shared by every
request that has the same: a million prompts-file tasks hold one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class RequestForm:
    """A request less its prompt. A million prompts-file tasks share one: each
    request holds its prompt and a reference to its (interned) form."""

    ref_images: tuple[str, ...] = ()
    aspect_ratio: str = "1:1"
    clarity: int = 2048
    number_of_images: int = 1
    model_code: str = DEFAULT_MODEL
    video_duration: int | None = None
    quality_mode: str | None = None
    extra: str = ""  # model-private body fields: canonical JSON of a mapping, or ""


_FORMS: dict[RequestForm, RequestForm] = {}


def interned(form: RequestForm) -> RequestForm:
    """The one copy of an equal form (a handful for a whole run, mostly)."""
    return _FORMS.setdefault(form, form)


@dataclass(frozen=True, slots=True, init=False)
class Request:
    """Exactly what goes into the submit body; the model table says how.

    Made as `Request(prompt, ref_images=..., aspect_ratio=..., ...)`, or from a
    prompt and another request's form (`Request(prompt, form=other.form)`), and
    read field by field as before. The video fields and `extra` are left out of
    `to_json` while unset, so an image request made before they existed keeps
    its fingerprint (and task key).
    """

    prompt: str
    form: RequestForm

    def __init__(
        self,
        prompt: str,
        ref_images: tuple[str, ...] = (),
        aspect_ratio: str = "1:1",
        clarity: int = 2048,
        number_of_images: int = 1,
        model_code: str = DEFAULT_MODEL,
        video_duration: int | None = None,
        quality_mode: str | None = None,
        extra: str = "",
        *,
        form: RequestForm | None = None,
    ):
        if form is None:
            form = interned(
                RequestForm(
                    ref_images,
                    aspect_ratio,
                    clarity,
                    number_of_images,
                    model_code,
                    video_duration,
                    quality_mode,
                    extra,
                )
            )
        object.__setattr__(self, "prompt", prompt)
        object.__setattr__(self, "form", form)

    @property
    def ref_images(self) -> tuple[str, ...]:
        return self.form.ref_images

    @property
    def aspect_ratio(self) -> str:
        return self.form.aspect_ratio

    @property
    def clarity(self) -> int:
        return self.form.clarity

    @property
    def number_of_images(self) -> int:
        return self.form.number_of_images

    @property
    def model_code(self) -> str:
        return self.form.model_code

    @property
    def video_duration(self) -> int | None:
        return self.form.video_duration

    @property
    def quality_mode(self) -> str | None:
        return self.form.quality_mode

    @property
    def extra(self) -> str:
        return self.form.extra

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
            aspect_ratio=data.get("aspect_ratio", "1:1"),
            clarity=int(data.get("clarity", 2048)),
            number_of_images=int(data.get("number_of_images", 1)),
            model_code=data.get("model_code", DEFAULT_MODEL),
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
