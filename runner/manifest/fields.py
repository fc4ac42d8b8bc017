"""What each task field accepts; one checker per field, shared by defaults,
tasks, matrix values and prompt-file columns."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from runner.errors import FieldProblem
from runner.records import ASPECT_RATIOS, CLARITIES, MODEL_CODES

MAX_PROMPT_CHARS = 4000  # the API's own limit is unpublished; override with --max-prompt-chars
_limits = {"prompt_chars": MAX_PROMPT_CHARS}


def set_max_prompt_chars(limit: int) -> None:
    """--max-prompt-chars: the one setting of validation that comes from the command line."""
    _limits["prompt_chars"] = limit


ALIASES = {"ref_prompt": "prompt", "ref_img_url": "ref_images"}
REQUEST_FIELDS = (
    "prompt",
    "ref_images",
    "aspect_ratio",
    "clarity",
    "number_of_images",
    "model_code",
)
DEFAULT_FIELDS = ("ref_images", "aspect_ratio", "clarity", "number_of_images", "model_code")
ROW_FIELDS = (*REQUEST_FIELDS, "name", "repeat")  # what a prompt-file column may set
TASK_FIELDS = (*REQUEST_FIELDS, "name", "repeat", "vars", "matrix")
MATRIX_FIELDS = (*REQUEST_FIELDS, "name")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_prompt(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise FieldProblem("must be non-empty text", "quote it if it looks like a number")
    if len(value) > _limits["prompt_chars"]:
        raise FieldProblem(
            f"is {len(value):,} characters; the limit is {_limits['prompt_chars']:,}",
            "shorten it, or raise the limit with --max-prompt-chars",
        )
    return value


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
        scheme = item.split(":", 1)[0].lower() if "://" in item else ""
        if scheme and scheme not in ("http", "https"):
            raise FieldProblem(f"{scheme}:// is not allowed", "use an http(s) URL", index=i)
        out.append(item)
    return tuple(out)


def check_aspect_ratio(value: Any) -> str:
    if value not in ASPECT_RATIOS:
        raise FieldProblem(f"{value!r} is not one of {', '.join(ASPECT_RATIOS)}")
    return str(value)


def check_clarity(value: Any) -> int:
    if not _is_int(value) or value not in CLARITIES:
        raise FieldProblem(f"{value!r} is not one of {', '.join(map(str, CLARITIES))}")
    return int(value)


def check_number_of_images(value: Any) -> int:
    if not _is_int(value) or not 1 <= value <= 4:
        raise FieldProblem(f"{value!r} is not a whole number from 1 to 4")
    return int(value)


def check_model_code(value: Any) -> str:
    if value not in MODEL_CODES:
        raise FieldProblem(f"{value!r} is not a known model", f"use {MODEL_CODES[0]}")
    return str(value)


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
    "name": check_name,
    "repeat": check_repeat,
}
