"""What each task field accepts; one checker per field, shared by defaults,
tasks, matrix values and prompt-file columns."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import orjson

from runner import modeltable
from runner.errors import FieldProblem
from runner.records import ASPECT_RATIOS, CLARITIES

# allow_unknown_models: true lets aspect_ratio and clarity take values no known model
# takes (a model the table does not know may take them); set while a manifest is read.
_open_values: ContextVar[bool] = ContextVar("open_values", default=False)


@contextmanager
def open_values(on: bool) -> Iterator[None]:
    token = _open_values.set(on)
    try:
        yield
    finally:
        _open_values.reset(token)


ALIASES = {"ref_prompt": "prompt", "ref_img_url": "ref_images"}
# In a manifest `model` is `model_code` too (a prompt file's `model` column stays a variable).
MANIFEST_ALIASES = {**ALIASES, "model": "model_code"}
REQUEST_FIELDS = (
    "prompt",
    "ref_images",
    "aspect_ratio",
    "clarity",
    "number_of_images",
    "model_code",
    "video_duration",
    "quality_mode",
    "extra",
)
DEFAULT_FIELDS = tuple(f for f in REQUEST_FIELDS if f != "prompt")
# Body fields the runner itself writes: `extra:` may not set them.
BODY_FIELDS = frozenset(
    {
        "ref_prompt",
        "creation_type",
        "model_code",
        "ref_img_url",
        "aspect_ratio",
        "clarity",
        "number_of_images",
        "video_duration",
        "quality_mode",
        *(f for spec in modeltable.models() for f in spec.references.fields),
    }
)
ROW_FIELDS = (*REQUEST_FIELDS, "name", "repeat")  # what a prompt-file column may set
TASK_FIELDS = (*REQUEST_FIELDS, "name", "repeat", "vars", "matrix", "for_each")
MATRIX_FIELDS = (*REQUEST_FIELDS, "name")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_prompt(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise FieldProblem("must be non-empty text", "quote it if it looks like a number")
    return value  # its length is checked once placeholders are filled (expand, Limits)


def check_ref_images(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise FieldProblem("must be a list of image URLs or file paths")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise FieldProblem("must be a URL or a file path", index=i)
        item = item.strip()
        if item.startswith("@"):
            check_output_ref(item, index=i)
            out.append(item)
            continue
        scheme = item.split(":", 1)[0].lower() if "://" in item else ""
        if scheme and scheme not in ("http", "https"):
            raise FieldProblem(f"{scheme}:// is not allowed", "use an http(s) URL", index=i)
        out.append(item)
    return tuple(out)


OUTPUT_REF = re.compile(r"^@([^\[\]]+?)(?:\[(\d+)\])?$")


def check_output_ref(value: str, index: int | None = None, *, indexed: bool = True) -> str:
    """`@name` (every output of the tasks named so) or `@name[i]` (one of them)."""
    match = OUTPUT_REF.match(value)
    if match is None or (match.group(2) is not None and not indexed):
        form = "@name or @name[0]" if indexed else "@name"
        raise FieldProblem(f"{value!r} is not a reference to outputs", f"write {form}", index)
    return value


def check_for_each(value: Any) -> str:
    if not isinstance(value, str) or not value.strip().startswith("@"):
        raise FieldProblem("must be a reference to a task's outputs", 'write for_each: "@name"')
    return check_output_ref(value.strip(), indexed=False)


def check_aspect_ratio(value: Any) -> str:
    if _open_values.get() and isinstance(value, str) and value.count(":") == 1:
        return value
    if value not in ASPECT_RATIOS:
        raise FieldProblem(f"{value!r} is not one of {', '.join(ASPECT_RATIOS)}")
    return str(value)


def check_clarity(value: Any) -> int:
    if _open_values.get() and _is_int(value) and value > 0:
        return int(value)
    if not _is_int(value) or value not in CLARITIES:
        raise FieldProblem(f"{value!r} is not one of {', '.join(map(str, CLARITIES))}")
    return int(value)


def check_number_of_images(value: Any) -> int:
    top = modeltable.max_images()
    if not _is_int(value) or not 1 <= value <= top:
        raise FieldProblem(f"{value!r} is not a whole number from 1 to {top}")
    return int(value)


def check_model_code(value: Any) -> str:
    """A model code or one of its aliases (made the code); whether the model is
    known, and what it takes, is checked per task against the model table."""
    if not isinstance(value, str) or not value.strip():
        raise FieldProblem("must be a model code", modeltable.suggest(""))
    spec = modeltable.find(value.strip())
    return spec.code if spec else value.strip()


def check_video_duration(value: Any) -> int:
    if not _is_int(value) or not 1 <= value <= 3600:
        raise FieldProblem(f"{value!r} is not a whole number of seconds")
    return int(value)


def check_quality_mode(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise FieldProblem("must be text, such as std or pro")
    return value.strip()


def check_extra(value: Any) -> str:
    """Model-private body fields, sent verbatim; kept as canonical JSON."""
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise FieldProblem("must be a mapping of body field: value")
    clash = sorted(BODY_FIELDS & set(value))
    if clash:
        raise FieldProblem(
            f"may not set {', '.join(clash)}",
            "extra: is for model-private fields; set known fields as task fields",
        )
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode() if value else ""
    except TypeError as exc:
        raise FieldProblem(f"cannot be sent as JSON: {exc}") from None


def check_name(value: Any) -> str:
    if _is_int(value) or isinstance(value, float):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise FieldProblem("must be non-empty text")
    return value.strip()


def check_repeat(value: Any) -> int:
    if not _is_int(value) or not 1 <= value <= 10_000:
        raise FieldProblem(f"{value!r} is not a whole number from 1 to 10000")
    return int(value)


def check_var_value(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise FieldProblem("a variable must be text or a number")
    return str(value)


CHECKERS: dict[str, Callable[[Any], Any]] = {
    "prompt": check_prompt,
    "ref_images": check_ref_images,
    "aspect_ratio": check_aspect_ratio,
    "clarity": check_clarity,
    "number_of_images": check_number_of_images,
    "model_code": check_model_code,
    "video_duration": check_video_duration,
    "quality_mode": check_quality_mode,
    "extra": check_extra,
    "name": check_name,
    "repeat": check_repeat,
    "for_each": check_for_each,
}
