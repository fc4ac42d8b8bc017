"""`validate`: check a manifest, print its totals; submits nothing."""

from __future__ import annotations

import argparse
from pathlib import Path

from runner.manifest.limits import DEFAULT_LIMITS, Limits
from runner.manifest.tasks import load_tasks
from runner.settings import limits_from


def validate(manifest: Path, limits: Limits = DEFAULT_LIMITS) -> str:
    loaded = load_tasks(manifest, limits)
    images = sum(s.request.outputs for s in loaded.specs if s.request.kind != "video")
    videos = sum(1 for s in loaded.specs if s.request.kind == "video")
    uploads = f", {len(loaded.files)} local images to upload" if loaded.files else ""
    also = f", {videos} videos" if videos else ""
    said = (
        f"{manifest}: OK, {len(loaded.specs)} tasks, {images} images{also}{uploads} "
        f"(run name {loaded.name!r})"
    )
    budget, outputs = loaded.max_images, sum(s.request.outputs for s in loaded.specs)
    if budget is not None and budget < outputs:
        said += (
            f"\nnote: max_images: {budget} caps the run at {budget} of its {outputs} images; "
            "the rest waits until you raise it (or run with a larger --max-images)"
        )
    return said


def main(args: argparse.Namespace) -> int:
    print(validate(args.manifest, limits_from(args)))
    return 0
