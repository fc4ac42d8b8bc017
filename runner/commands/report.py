"""`report`: (re)write summary.json and index.html of a run directory from its ledger."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from runner.errors import RunDirError
from runner.manifest.tasks import run_dir_for
from runner.report.summary import build_summary, write_reports
from runner.rundir import ledger


def report(run_dir: Path) -> dict[str, Any]:
    replay = ledger.read(run_dir / "ledger.jsonl")
    if not replay.records:
        raise RunDirError(f"{run_dir}: no tasks in ledger.jsonl")
    name = next((e["name"] for e in replay.runs if e.get("name")), run_dir.name)
    summary = build_summary(name, list(replay.records.values()), replay)
    write_reports(run_dir, summary, list(replay.records.values()))
    return summary


def main(args: argparse.Namespace) -> int:
    run_dir = run_dir_for(args.run_dir)
    summary = report(run_dir)
    print(f"wrote {run_dir / 'summary.json'} and {run_dir / 'index.html'}")
    return int(summary["exit_code"])
