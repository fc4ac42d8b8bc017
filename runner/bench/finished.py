"""Memory of finished tasks: a 1,000,000-task run directory, every task done,
opened the run's way (from its checkpoint: done tasks' details stay parked in
the file, rundir.parking) and reported (summary.json and the gallery, as a run
ends), against the same tasks only planned, and against the same done tasks
with their details held in memory (the way before parking).

Each measurement runs in a child process of its own (`python -m
runner.bench.finished open DIR MODE`), which prints its figures as JSON.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

from runner.bench.runner_cli import kib
from runner.records import Request

N_FILE = "tasks"


def write_run(run_dir: Path, n: int, done: bool) -> None:
    """A ledger of `n` tasks (planned, or run to the end), and its checkpoint."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with (run_dir / "ledger.jsonl").open("wb") as fh:
        fh.write(b'{"e":"header","v":1,"t":1.0}\n{"e":"run","pid":1,"what":"start","t":1.0}\n')
        chunk = bytearray()
        for i in range(n):
            key = f"{i:016x}"
            prompt = f"catalogue photo {i}: product on a white background, soft studio light"
            req = Request(prompt).to_json()
            lines: list[dict[str, Any]] = [
                {"e": "planned", "key": key, "name": "", "req": req, "src": f"million.txt:{i + 1}"}
            ]
            if done:
                uid = str(uuid.UUID(int=i + 1))
                lines += [
                    {"e": "intent", "key": key, "attempt": 1},
                    {"e": "submitted", "key": key, "uid": uid, "trace": f"{i:032x}"},
                    {
                        "e": "finished",
                        "key": key,
                        "uid": uid,
                        "status": "Success",
                        "urls": [f"https://cdn.example/{uid}/0.png"],
                    },
                    {
                        "e": "downloaded",
                        "key": key,
                        "i": 0,
                        "path": f"images/catalogue-{key}.png",
                        "sha256": f"{i:064x}",
                        "size": 1_234_567,
                    },
                ]
            for n_, ev in enumerate(lines):
                chunk += orjson.dumps({**ev, "t": 2.0 + i / 1000 + n_ / 10_000}) + b"\n"
            if len(chunk) > 1 << 20:
                fh.write(chunk)
                chunk.clear()
        fh.write(chunk)
    _child("checkpoint", run_dir)


def _child(*args: Any) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "runner.bench.finished", *map(str, args)],
        check=True,
        stdout=subprocess.PIPE,
    ).stdout
    return orjson.loads(out) if out.strip() else {}


def _checkpoint(run_dir: Path) -> None:
    from runner.rundir import checkpoint
    from runner.rundir.ledger import read

    path = run_dir / "ledger.jsonl"
    checkpoint.write(run_dir, read(path), path.stat().st_size)


def _open(run_dir: Path, mode: str) -> dict[str, Any]:
    """Open the ledger as a run does (`parked`), or with every detail in memory
    (`held`); then write the reports a run's end writes."""
    from runner.report.summary import build_summary, write_reports
    from runner.rundir.ledger import Ledger, read

    started = time.monotonic()
    ledger = Ledger(run_dir / "ledger.jsonl")
    replay = ledger.open() if mode == "parked" else read(run_dir / "ledger.jsonl")
    open_s, open_mb = time.monotonic() - started, kib(os.getpid(), "VmRSS") / 1024
    started = time.monotonic()
    records = list(replay.records.values())
    write_reports(run_dir, build_summary("bench", records, replay), records)
    report_s = time.monotonic() - started
    started = time.monotonic()
    if mode == "parked":
        ledger.checkpoint()
    checkpoint_s = time.monotonic() - started
    ledger.close()
    return {
        "open_s": open_s,
        "open_mb": open_mb,
        "report_s": report_s,
        "checkpoint_s": checkpoint_s,
        "peak_mb": kib(os.getpid(), "VmHWM") / 1024,
        "details_held": sum(1 for r in records if r.live_detail() is not None),
    }


def report(n: int, folder: Path) -> str:
    planned, done = folder / "planned-run", folder / "done-run"
    write_run(planned, n, done=False)
    write_run(done, n, done=True)
    base = _child("open", planned, "parked")
    now = _child("open", done, "parked")
    before = _child("open", done, "held")
    grow = (now["open_mb"] - base["open_mb"]) * 1024 * 1024 / n
    grow_before = (before["open_mb"] - base["open_mb"]) * 1024 * 1024 / n
    return "\n".join(
        [
            f"finished tasks: a {n:,}-task run directory, opened as a run opens it, then"
            " its summary.json and gallery written",
            f"  {'':34} {'RSS open':>9} {'peak':>8} {'open':>7} {'reports':>8} {'checkpoint':>10}",
            *(
                f"  {label:34} {f['open_mb']:6.0f} MB {f['peak_mb']:5.0f} MB {f['open_s']:5.1f} s"
                f" {f['report_s']:6.1f} s {f['checkpoint_s']:8.1f} s"
                for label, f in (
                    ("every task planned", base),
                    ("every task done (details parked)", now),
                    ("every task done, details held", before),
                )
            ),
            f"  memory per done task over a planned one: {grow:.0f} B"
            f" (details held in memory: {grow_before:.0f} B); {now['details_held']:,}"
            " details held after opening",
        ]
    )


if __name__ == "__main__":
    if sys.argv[1] == "checkpoint":
        _checkpoint(Path(sys.argv[2]))
    elif sys.argv[1] == "open":
        sys.stdout.buffer.write(orjson.dumps(_open(Path(sys.argv[2]), sys.argv[3])))
    else:
        print(report(int(sys.argv[2]), Path(sys.argv[3])))
