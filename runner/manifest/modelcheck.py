"""Check one resolved task against the model table, and fill in the model's defaults.

Each field was checked on its own when the manifest was read; what a field
may be depends on the model, which may come from `defaults:`, a matrix or the
task itself, so this runs on every combination `expand` makes. Problems name
the field; `expand` turns that into the file and line the value came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runner import modeltable
from runner.modeltable import ModelSpec

# A model the table does not know (allow_unknown_models) gets these.
_UNKNOWN_DEFAULTS = {
    "image": {"aspect_ratio": "1:1", "clarity": 2048},
    "video": {"aspect_ratio": "16:9", "clarity": 1080},
}


@dataclass(frozen=True, slots=True)
class Problem:
    field: str
    message: str
    hint: str = ""


def _one_of(values: tuple[Any, ...]) -> str:
    return ", ".join(str(v) for v in values)


def with_model_defaults(fields: dict[str, Any]) -> dict[str, Any]:
    """`fields` with what the task left unset taken from its model's defaults."""
    spec = modeltable.find(fields["model_code"])
    out = dict(fields)
    if spec is None:
        video = out.get("video_duration") is not None or bool(out.get("quality_mode"))
        for key, value in _UNKNOWN_DEFAULTS["video" if video else "image"].items():
            out.setdefault(key, value)
        return out
    out.setdefault("aspect_ratio", spec.aspect_ratio_default)
    out.setdefault("clarity", spec.clarity_default)
    if spec.is_video:
        if out.get("video_duration") is None and spec.duration_default is not None:
            out["video_duration"] = spec.duration_default
        if not out.get("quality_mode") and spec.quality_default:
            out["quality_mode"] = spec.quality_default
    return out


def check(fields: dict[str, Any], allow_unknown: bool) -> list[Problem]:
    """What is wrong with this task for its model (fields as `with_model_defaults` left them)."""
    code = fields["model_code"]
    spec = modeltable.find(code)
    if spec is None:
        if allow_unknown:
            return []
        return [
            Problem(
                "model_code",
                f"{code!r} is not a known model",
                modeltable.suggest(code) + " (or set allow_unknown_models: true)",
            )
        ]
    problems: list[Problem] = []
    if fields["aspect_ratio"] not in spec.aspect_ratios:
        problems.append(
            Problem(
                "aspect_ratio",
                f"{fields['aspect_ratio']!r} is not one of {_one_of(spec.aspect_ratios)}",
                f"aspect_ratio must be one of {_one_of(spec.aspect_ratios)} for {code}",
            )
        )
    if fields["clarity"] not in spec.clarities:
        problems.append(
            Problem(
                "clarity",
                f"{fields['clarity']!r} is not one of {_one_of(spec.clarities)}",
                f"clarity must be one of {_one_of(spec.clarities)} for {code}",
            )
        )
    problems += _video(fields, spec) if spec.is_video else _image(fields, spec)
    problems += _references(fields, spec)
    return problems


def _image(fields: dict[str, Any], spec: ModelSpec) -> list[Problem]:
    problems = []
    low, high = spec.images
    if not low <= fields["number_of_images"] <= high:
        problems.append(
            Problem(
                "number_of_images",
                f"{fields['number_of_images']} is not from {low} to {high}",
                f"{spec.code} makes {low} to {high} images a task",
            )
        )
    for key in ("video_duration", "quality_mode"):
        if fields.get(key) is not None:
            problems.append(
                Problem(key, f"is a video field; {spec.code} makes images", "remove it here")
            )
    return problems


def _video(fields: dict[str, Any], spec: ModelSpec) -> list[Problem]:
    problems = []
    code = spec.code
    if fields["number_of_images"] != 1:
        problems.append(
            Problem(
                "number_of_images",
                f"{code} makes one video a task",
                "use repeat: for more takes",
            )
        )
    duration = fields.get("video_duration")
    durations = _one_of(spec.durations)
    if duration is None:
        problems.append(
            Problem("video_duration", f"is required for {code}", f"one of {durations} (seconds)")
        )
    elif duration not in spec.durations:
        problems.append(
            Problem(
                "video_duration",
                f"{duration} is not one of {durations}",
                f"video_duration must be one of {durations} for {code}",
            )
        )
    mode = fields.get("quality_mode")
    if mode and mode not in spec.quality_modes:
        hint = (
            f"quality_mode must be one of {_one_of(spec.quality_modes)} for {code}"
            if spec.quality_modes
            else f"{code} takes no quality_mode"
        )
        problems.append(Problem("quality_mode", f"{mode!r} is not accepted", hint))
    return problems


def _references(fields: dict[str, Any], spec: ModelSpec) -> list[Problem]:
    refs = spec.references
    count = len(fields.get("ref_images") or ())
    code = spec.code
    if refs.mode == "none":
        if count:
            return [Problem("ref_images", f"{code} takes no reference images", "remove them")]
        return []
    if refs.mode == "start_end":
        if count < refs.min or count > refs.max:
            return [
                Problem(
                    "ref_images",
                    f"{code} takes a start frame and an optional end frame, not {count} images",
                    "ref_images: [start.jpg] or [start.jpg, end.jpg]",
                )
            ]
        return []
    if count < refs.min:
        return [
            Problem(
                "ref_images",
                f"{code} needs at least {refs.min} reference image(s)",
                "add ref_images:",
            )
        ]
    if count > refs.max:
        return [
            Problem(
                "ref_images",
                f"{count} reference images; {code} takes at most {refs.max}",
                "remove some",
            )
        ]
    return []
