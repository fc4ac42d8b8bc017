"""`seedream-batch models [--json]`: the model table, as people and scripts read it."""

from __future__ import annotations

import argparse
from typing import Any

import orjson

from runner import modeltable
from runner.modeltable import ModelSpec


def models_data() -> dict[str, Any]:
    return {"models": [spec.to_json() for spec in modeltable.models()]}


def models_json() -> str:
    return orjson.dumps(models_data(), option=orjson.OPT_INDENT_2).decode()


def _values(values: tuple[Any, ...], default: Any) -> str:
    return " ".join(f"[{v}]" if v == default else str(v) for v in values)


def _describe(spec: ModelSpec) -> list[str]:
    lines = [f"{spec.code}  ({spec.kind}, creation_type {spec.creation_type})"]
    if spec.aliases:
        lines.append(f"  model:            {', '.join(spec.aliases)}")
    lines.append(f"  aspect_ratio:     {_values(spec.aspect_ratios, spec.aspect_ratio_default)}")
    lines.append(f"  clarity:          {_values(spec.clarities, spec.clarity_default)}")
    if spec.is_video:
        required = "" if spec.duration_default is not None else "  (required)"
        lines.append(
            f"  video_duration:   {_values(spec.durations, spec.duration_default)}{required}"
        )
        if spec.quality_modes:
            modes = _values(spec.quality_modes, spec.quality_default)
            lines.append(f"  quality_mode:     {modes}")
    else:
        lines.append(f"  number_of_images: {spec.images[0]} to {spec.images[1]}")
    lines.append(f"  ref_images:       {spec.references.describe()}")
    if spec.private_fields:
        lines.append(f"  extra:            {', '.join(spec.private_fields)}")
    flags = (
        "--video-first-poll, --video-poll-interval"
        if spec.is_video
        else "--first-poll, --poll-interval"
    )
    lines.append(
        f"  polled:           first after {spec.first_poll_s:g} s, then every "
        f"{spec.poll_interval_s:g} s ({flags})"
    )
    if spec.note:
        lines.append(f"  note:             {spec.note}")
    return lines


def models_text() -> str:
    blocks = ["\n".join(_describe(spec)) for spec in modeltable.models()]
    footer = (
        "[x] = default. Use `model:` (a code or alias) in defaults, a task or a matrix;\n"
        "`extra:` passes other body fields through; allow_unknown_models: true sends\n"
        "codes not listed here as written."
    )
    return "\n\n".join([*blocks, footer])


def main(args: argparse.Namespace) -> int:
    print(models_json() if args.json else models_text())
    return 0
