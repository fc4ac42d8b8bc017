"""`status`: counts by state, failures with reasons, files, rates of a run directory.

Reads the ledger without taking the lock, so it works while a run is going.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import anyio

from runner.api.credentials import Credentials, resolve_base_url, resolve_credentials
from runner.errors import EXIT_FAILED, EXIT_OK, EXIT_STOPPED, RunDirError
from runner.manifest.tasks import run_dir_for
from runner.pipeline.wiring import audit_only
from runner.records import TaskState
from runner.report.stages import chain_lines, chain_rows, stage_lines, stage_rows
from runner.report.summary import build_summary, write_reports
from runner.report.text import dumps
from runner.rundir import ledger, statusread
from runner.rundir.lock import RunLock
from runner.rundir.tally import Tally, rates_since, tally_of
from runner.taskrecord import TaskRecord


def status_data(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "ledger.jsonl"
    if not path.exists():
        raise RunDirError(f"{run_dir}: no ledger.jsonl here; is it a run directory?")
    records: list[TaskRecord] = []
    quick = statusread.read(path)  # the checkpoint's tally and the ledger's tail
    if quick is not None:
        replay, tally = quick
    else:
        replay = ledger.read(path)
        records = list(replay.records.values())
        tally = tally_of(records, rates_since(replay.runs, replay.first_t))
    blocked = [
        {
            "key": r.key,
            "name": r.spec.name,
            "parents": list(r.spec.request.parents),
            "error": r.error,
        }
        for r in records
        if r.state is TaskState.BLOCKED
    ]
    stages = []
    if any(r.spec.request.parents for r in records):
        stages = stage_rows(
            {r.key: r.spec.request for r in records},
            {r.key: r.spec.name for r in records},
            {r.key: r.state.value for r in records},
        )
    starts = [e for e in replay.runs if e.get("what") == "start"]
    ends = [e for e in replay.runs if e.get("what") == "end"]
    # The latest run's end, if it recorded one (a killed run did not).
    ended = ends[-1] if ends and (not starts or ends[-1]["t"] >= starts[-1]["t"]) else None
    return {
        "run_dir": str(run_dir),
        "tasks": tally.tasks,
        "states": {s.value: tally.states.get(s.value, 0) for s in TaskState},
        "images": _files(tally, "image"),
        "videos": _files(tally, "video"),
        "failures": tally.failures_list(),
        "decisions": {d: tally.decisions[d] for d in ("keep", "reject", "none")},
        "blocked": blocked,
        "stages": stages,
        "chain": chain_rows(replay.records) if stages else [],
        "in_doubt": {"adopted": replay.adopted, "resubmitted": replay.resubmitted},
        "duplicates_billed": replay.duplicates_billed(),
        "first_started": _iso(replay.first_t),
        "last_run_started": _iso(starts[-1]["t"]) if starts else None,
        "last_progress": _iso(replay.last_progress_t),
        "rates": _rates(tally, replay.last_progress_t),
        "last_run_api": ended.get("api") if ended else None,
        "last_run_ended": _iso(ended["t"]) if ended else None,
        "last_run_exit": ended.get("exit") if ended else None,
        "last_run_stopped": ended.get("stopped") if ended else None,
        "running": RunLock(run_dir).held(),
        "exit_code": _exit_code(tally),
        "ledger_events": replay.events,
        "bad_ledger_lines": replay.bad_lines,
        **({"accounts": accounts} if (accounts := _accounts(tally)) else {}),
    }


def _files(tally: Tally, kind: str) -> dict[str, int]:
    return {
        "expected": tally.files[f"{kind}_expected"],
        "downloaded": tally.files[f"{kind}_downloaded"],
    }


def _accounts(tally: Tally) -> dict[str, dict[str, int]]:
    """Tasks per pool account label and status; {} when no task names an account."""
    return {
        label: {"tasks": c.total(), **{s: c[s] for s in ("succeeded", "failed", "pending")}}
        for label, c in sorted(tally.accounts.items())
        if c.total() > 0
    }


def _exit_code(tally: Tally) -> int:
    states = {TaskState(s) for s, n in tally.states.items() if n > 0}
    if any(not s.final for s in states):
        return EXIT_STOPPED
    if TaskState.FAILED in states or TaskState.BLOCKED in states:
        return EXIT_FAILED
    return EXIT_OK


def _rates(tally: Tally, until: float | None) -> dict[str, float]:
    """Tasks submitted and finished per minute in the latest run, from the ledger."""
    since = tally.since
    if since is None or until is None or until <= since:
        return {"submitted_per_min": 0.0, "finished_per_min": 0.0}
    minutes = (until - since) / 60
    return {
        "submitted_per_min": round(tally.submitted_since / minutes, 1),
        "finished_per_min": round(tally.finished_since / minutes, 1),
    }


def _iso(t: float | None) -> str | None:
    return None if t is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def status_text(data: dict[str, Any]) -> str:
    lines = [
        f"run {data['run_dir']}: {data['tasks']} tasks"
        + (" (a run is going)" if data["running"] else "")
    ]
    for state, n in data["states"].items():
        if n:
            lines.append(f"  {state:10} {n}")
    img, vid = data["images"], data["videos"]
    lines.append(f"  images     {img['downloaded']}/{img['expected']}")
    if vid["expected"]:
        lines.append(f"  videos     {vid['downloaded']}/{vid['expected']}")
    d = data["decisions"]
    if d["keep"] or d["reject"]:
        lines.append(
            f"  review     kept {d['keep']}, rejected {d['reject']}, undecided {d['none']}"
        )
    if data["duplicates_billed"]:
        lines.append(
            f"  BILLED TWICE: {data['duplicates_billed']} task(s) created twice on the server "
            "(found by the audit; see summary.json)"
        )
    lines.append(f"  started {data['first_started']}, last progress {data['last_progress']}")
    lines.append(f"  {_last_run(data)}")
    rates = data["rates"]
    lines.append(
        f"  latest run: {rates['submitted_per_min']} submitted/min, "
        f"{rates['finished_per_min']} finished/min"
    )
    if data["last_run_api"]:
        api = data["last_run_api"]
        lines.append(f"  API calls {api.get('calls')}, 40001 answers {api.get('throttled_40001')}")
    for label, c in data.get("accounts", {}).items():
        lines.append(
            f"  account {label}: {c['tasks']} tasks, {c['succeeded']} succeeded, "
            f"{c['failed']} failed, {c['pending']} pending"
        )
    if data["failures"]:
        lines.append("failures:")
        for f in data["failures"][:50]:
            trace = f" [trace_id {f['trace_id']}]" if f["trace_id"] else ""
            lines.append(f"  {f['key']} {f['name']}: {f['error']}{trace}")
        if len(data["failures"]) > 50:
            lines.append(f"  … and {len(data['failures']) - 50} more (see --json)")
    if data["stages"]:
        lines.append("stages:")
        lines += stage_lines(data["stages"])
        lines.append("chain (what each chained task was given):")
        lines += chain_lines(data["chain"])
    if data["blocked"]:
        lines.append("blocked (never sent; --retry-failed retries the failed task, then these):")
        for b in data["blocked"][:50]:
            lines.append(f"  {b['key']} {b['name'] or ''}: {b['error']}")
        if len(data["blocked"]) > 50:
            lines.append(f"  … and {len(data['blocked']) - 50} more (see --json)")
    return "\n".join(lines)


def _last_run(data: dict[str, Any]) -> str:
    """When the latest run began and how it ended, if it did."""
    began = f"latest run started {data['last_run_started']}"
    if data["running"]:
        return f"{began} and is going"
    if data["last_run_ended"]:
        stopped = f", stopped by {data['last_run_stopped']}" if data["last_run_stopped"] else ""
        return f"{began}, ended {data['last_run_ended']} (exit {data['last_run_exit']}{stopped})"
    if data["last_run_started"]:
        return f"{began} and did not finish (killed?); run it again to resume"
    return "no run has started yet"


def audit(run_dir: Path, base_url: str, creds: Credentials) -> int:
    """Run the audit now; rewrite summary.json and the gallery. Returns duplicates billed."""
    path = run_dir / "ledger.jsonl"
    if not path.exists():
        raise RunDirError(f"{run_dir}: no ledger.jsonl here; is it a run directory?")
    name = next((e["name"] for e in ledger.read(path).runs if e.get("name")), run_dir.name)
    replay = anyio.run(audit_only, run_dir, name, base_url, creds)
    records = list(replay.records.values())
    summary = build_summary(name, records, replay)
    write_reports(run_dir, summary, records)
    return int(summary["duplicates_billed"])


def main(args: argparse.Namespace) -> int:
    args.run_dir = run_dir_for(args.run_dir)
    if args.audit:
        found = audit(args.run_dir, resolve_base_url(args.base_url), resolve_credentials())
        print(f"audit: {found} task(s) created twice on the server (duplicates_billed)")
    data = status_data(args.run_dir)
    print(dumps(data) if args.json else status_text(data))
    return 0
