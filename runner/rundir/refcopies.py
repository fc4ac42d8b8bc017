"""Local reference images, remembered for the gallery and the review page.

The manifest names `refs/mug.png`; the ledger and summary.json carry
`local:<sha256>`. Once per distinct file, a run records the name as the user
wrote it (relative to the manifest's folder) and copies the file into
`refs/<sha256>.<ext>`, so the gallery can show it from any share, even after
the manifest's folder moved.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from runner.manifest.localrefs import LocalFile
from runner.rundir.files import commit_file
from runner.rundir.ledger import Ledger
from runner.rundir.replay import Replay


def display_name(path: Path, base: Path) -> str:
    return str(path.relative_to(base)) if path.is_relative_to(base) else str(path)


def record_local_refs(
    run_dir: Path, ledger: Ledger, replay: Replay, files: dict[str, LocalFile], base: Path
) -> int:
    """Copy and record the local references not recorded yet; returns how many."""
    events = []
    for sha, local in files.items():
        if sha in replay.ref_names:
            continue
        folder = run_dir / "refs"
        folder.mkdir(exist_ok=True)
        copy = f"refs/{sha}{local.path.suffix.lower()}"
        tmp = folder / f".{sha}.tmp"
        shutil.copyfile(local.path, tmp)
        commit_file(tmp, run_dir / copy)
        name = display_name(local.path, base)
        events.append({"e": "localref", "sha256": sha, "name": name, "copy": copy})
        replay.ref_names[sha] = (name, copy)
    if events:
        ledger.write_many(events, durable=True)
    return len(events)
