"""The submit endpoint's parameter checks, per model, as the vendor documents them.

The model table (runner/models.json) is the vendor's documentation as data;
the simulator reads it as the real service would apply it: model codes
exactly as written (no aliases), and a 40000 message naming the field.
"""

from __future__ import annotations

from typing import Any

from runner import modeltable
from runner.modeltable import ModelSpec


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _one_of(values: tuple[Any, ...]) -> str:
    return ", ".join(str(v) for v in values)


def _url(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://"))


def check_submit(body: Any) -> str | None:
    """The 40000 message for a bad submit body, or None when it is acceptable."""
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    prompt = body.get("ref_prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        return "ref_prompt: required, a non-empty string"
    code = body.get("model_code")
    spec = modeltable.find(code) if isinstance(code, str) else None
    if spec is None or spec.code != code:
        return f"model_code: must be one of {_one_of(modeltable.codes())}"
    kind = "video" if spec.is_video else "image"
    if not _is_int(body.get("creation_type")) or body.get("creation_type") != spec.creation_type:
        return f"creation_type: must be {spec.creation_type} ({kind}) for {code}"
    problem = _references(body, spec)
    if problem:
        return problem
    if body.get("aspect_ratio", spec.aspect_ratio_default) not in spec.aspect_ratios:
        return f"aspect_ratio: must be one of {_one_of(spec.aspect_ratios)} for {code}"
    clarity = body.get("clarity", spec.clarity_default)
    if not _is_int(clarity) or clarity not in spec.clarities:
        return f"clarity: must be one of {_one_of(spec.clarities)} for {code}"
    return _video(body, spec) if spec.is_video else _image(body, spec)


def _image(body: dict[str, Any], spec: ModelSpec) -> str | None:
    low, high = spec.images
    count = body.get("number_of_images", 1)
    if not _is_int(count) or not low <= count <= high:
        return f"number_of_images: must be an integer from {low} to {high}"
    return None


def _video(body: dict[str, Any], spec: ModelSpec) -> str | None:
    duration = body.get("video_duration", spec.duration_default)
    if duration is None:
        return f"video_duration: required for {spec.code}"
    if not _is_int(duration) or duration not in spec.durations:
        return f"video_duration: must be one of {_one_of(spec.durations)} for {spec.code}"
    mode = body.get("quality_mode")
    if mode is not None and mode not in spec.quality_modes:
        return f"quality_mode: must be one of {_one_of(spec.quality_modes)} for {spec.code}"
    return None


def _references(body: dict[str, Any], spec: ModelSpec) -> str | None:
    refs = spec.references
    listed = body.get("ref_img_url", [])
    if not isinstance(listed, list) or not all(isinstance(u, str) for u in listed):
        return "ref_img_url: must be an array of URL strings"
    for url in listed:
        if not _url(url):
            return f"ref_img_url: not an http(s) URL: {url[:80]}"
    if refs.fields:  # start_frame / end_frame: URL strings instead of ref_img_url
        if listed:
            return f"ref_img_url: not supported by {spec.code}; use {_one_of(refs.fields)}"
        given = [body[f] for f in refs.fields if f in body]
        if not all(_url(u) for u in given):
            return f"{refs.fields[0]}: must be an http(s) URL string"
        count = len(given)
    else:
        count = len(listed)
    if refs.mode == "none" and count:
        return f"ref_img_url: {spec.code} does not support reference images"
    if count < refs.min:
        what = refs.fields[0] if refs.fields else "ref_img_url"
        return f"{what}: required for {spec.code}"
    if count > refs.max:
        return f"ref_img_url: at most {refs.max} images for {spec.code}"
    return None
