"""`export`: copy (or hard-link) a run's files with metadata.csv and metadata.jsonl."""

from __future__ import annotations

import argparse

from runner.errors import RunDirError
from runner.report.export import export
from runner.rundir import ledger


def main(args: argparse.Namespace) -> int:
    path = args.run_dir / "ledger.jsonl"
    if not path.is_file():
        raise RunDirError(f"{args.run_dir}: no ledger.jsonl here; is it a run directory?")
    replay = ledger.read(path)
    name = next((e["name"] for e in replay.runs if e.get("name")), args.run_dir.name)
    rows = export(args.run_dir, name, replay, args.to, args.only, args.link)
    how = "linked" if args.link else "copied"
    print(
        f"{len(rows)} file(s) {how} to {args.to} ({args.only}), "
        "with metadata.csv and metadata.jsonl"
    )
    if not rows and args.only == "kept":
        print(
            f"nothing is kept yet: decide in `seedream-batch review {args.run_dir}`, "
            "or export --only succeeded"
        )
    return 0
