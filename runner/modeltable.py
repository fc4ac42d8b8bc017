"""The model table: every model of the submit endpoint, read from `models.json`.

Data, not branches: validation, request bodies, polling and the simulator all
ask this table what a model takes. A new vendor model is one more entry in the
JSON file; this module only reads it and answers questions about it.
"""

from __future__ import annotations

import difflib
import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from runner.errors import ModelTableError

REFERENCE_MODES = ("none", "optional", "required", "start_end")
KINDS = ("image", "video")


@dataclass(frozen=True, slots=True)
class References:
    mode: str  # none | optional | required | start_end
    min: int = 0
    max: int = 0
    fields: tuple[str, ...] = ()  # start_end sent as these fields instead of ref_img_url

    def describe(self) -> str:
        if self.mode == "none":
            return "none"
        if self.mode == "start_end":
            where = " as " + " / ".join(self.fields) if self.fields else ""
            return f"start frame, optional end frame{where}"
        count = f"up to {self.max}" if self.mode == "optional" else f"{self.min} to {self.max}"
        return f"{self.mode}, {count}"


@dataclass(frozen=True, slots=True)
class ModelSpec:
    code: str
    kind: str  # image | video
    creation_type: int
    aliases: tuple[str, ...]
    aspect_ratios: tuple[str, ...]
    aspect_ratio_default: str
    clarities: tuple[int, ...]
    clarity_default: int
    references: References
    first_poll_s: float
    poll_interval_s: float
    gen_s: tuple[float, float]
    sim_format: str
    images: tuple[int, int] = (1, 1)  # number_of_images range (images)
    durations: tuple[int, ...] = ()  # video_duration values (videos)
    duration_default: int | None = None  # None with durations: the field is required
    quality_modes: tuple[str, ...] = ()
    quality_default: str | None = None
    private_fields: tuple[str, ...] = ()
    note: str = ""

    @property
    def is_video(self) -> bool:
        return self.kind == "video"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "code": self.code,
            "kind": self.kind,
            "creation_type": self.creation_type,
            "aliases": list(self.aliases),
            "aspect_ratios": list(self.aspect_ratios),
            "aspect_ratio_default": self.aspect_ratio_default,
            "clarities": list(self.clarities),
            "clarity_default": self.clarity_default,
            "references": {
                "mode": self.references.mode,
                "min": self.references.min,
                "max": self.references.max,
                "fields": list(self.references.fields) or ["ref_img_url"],
            },
            "poll": {"first_s": self.first_poll_s, "interval_s": self.poll_interval_s},
            "gen_s": list(self.gen_s),
            "note": self.note,
        }
        if self.is_video:
            out["durations"] = list(self.durations)
            out["duration_default"] = self.duration_default
            out["quality_modes"] = list(self.quality_modes)
            out["quality_default"] = self.quality_default
        else:
            out["images"] = list(self.images)
        out["private_fields"] = list(self.private_fields)
        return out


def _spec(raw: dict[str, Any]) -> ModelSpec:
    code = raw["code"]
    refs_raw = raw["references"]
    mode = refs_raw["mode"]
    if raw["kind"] not in KINDS or mode not in REFERENCE_MODES:
        raise ModelTableError(f"{code}: kind {raw['kind']!r} or references {mode!r} is unknown")
    default_max = {"none": 0, "start_end": 2}.get(mode, 10)
    refs = References(
        mode,
        int(refs_raw.get("min", 1 if mode in ("required", "start_end") else 0)),
        int(refs_raw.get("max", default_max)),
        tuple(refs_raw.get("fields", ())),
    )
    spec = ModelSpec(
        code=code,
        kind=raw["kind"],
        creation_type=int(raw["creation_type"]),
        aliases=tuple(raw.get("aliases", ())),
        aspect_ratios=tuple(raw["aspect_ratios"]),
        aspect_ratio_default=raw["aspect_ratio_default"],
        clarities=tuple(int(c) for c in raw["clarities"]),
        clarity_default=int(raw["clarity_default"]),
        references=refs,
        first_poll_s=float(raw["poll"]["first_s"]),
        poll_interval_s=float(raw["poll"]["interval_s"]),
        gen_s=(float(raw["gen_s"][0]), float(raw["gen_s"][1])),
        sim_format=raw.get("sim_format", "mp4" if raw["kind"] == "video" else "png"),
        images=(int(raw["images"][0]), int(raw["images"][1])) if "images" in raw else (1, 1),
        durations=tuple(int(d) for d in raw.get("durations", ())),
        duration_default=raw.get("duration_default"),
        quality_modes=tuple(raw.get("quality_modes", ())),
        quality_default=raw.get("quality_default"),
        private_fields=tuple(raw.get("private_fields", ())),
        note=raw.get("note", ""),
    )
    if spec.aspect_ratio_default not in spec.aspect_ratios or (
        spec.clarity_default not in spec.clarities
    ):
        raise ModelTableError(f"{code}: a default is not among its own values")
    if spec.is_video and not spec.durations:
        raise ModelTableError(f"{code}: a video model needs durations")
    return spec


@functools.cache
def models() -> tuple[ModelSpec, ...]:
    """Every model, in the table's order."""
    text = resources.files("runner").joinpath("models.json").read_text(encoding="utf-8")
    try:
        specs = tuple(_spec(raw) for raw in json.loads(text)["models"])
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ModelTableError(f"runner/models.json: {exc!r}") from exc
    names = [n for s in specs for n in (s.code, *s.aliases)]
    if len(names) != len(set(names)):
        raise ModelTableError("runner/models.json: a code or alias is given twice")
    return specs


@functools.cache
def _by_name() -> dict[str, ModelSpec]:
    return {name: spec for spec in models() for name in (spec.code, *spec.aliases)}


def find(name: str) -> ModelSpec | None:
    """The model with this code or alias (case-sensitive, as the vendor's codes are)."""
    return _by_name().get(name)


def codes() -> tuple[str, ...]:
    return tuple(spec.code for spec in models())


def suggest(name: str) -> str:
    """A hint for an unknown model name: the closest code or alias, and every code."""
    names = list(_by_name())
    folded = {n.lower(): n for n in names}
    close = folded.get(name.lower()) or next(
        iter(difflib.get_close_matches(name, names, n=1, cutoff=0.6)), None
    )
    known = f"known: {', '.join(codes())}"
    return f"did you mean {close!r}? {known}" if close else known


def all_values(attr: str) -> tuple[Any, ...]:
    """The union of one attribute over every model, in first-seen order (for field checks)."""
    seen: dict[Any, None] = {}
    for spec in models():
        for value in getattr(spec, attr):
            seen.setdefault(value, None)
    return tuple(seen)


def max_images() -> int:
    return max(spec.images[1] for spec in models())
