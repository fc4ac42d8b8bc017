"""`validate`: check a manifest, print its totals; submits nothing."""

from __future__ import annotations

import argparse
from pathlib import Path

from runner.manifest import fields
from runner.manifest.expand import MAX_TASKS
from runner.manifest.tasks import load_tasks


def validate(manifest: Path, max_tasks: int = MAX_TASKS) -> str:
    loaded = load_tasks(manifest, max_tasks)
    images = sum(s.request.number_of_images for s in loaded.specs)
    uploads = f", {len(loaded.files)} local images to upload" if loaded.files else ""
    return (
        f"{manifest}: OK, {len(loaded.specs)} tasks, {images} images{uploads} "
        f"(run name {loaded.name!r})"
    )


def main(args: argparse.Namespace) -> int:
    fields.set_max_prompt_chars(args.max_prompt_chars)
    print(validate(args.manifest, args.max_tasks))
    return 0
