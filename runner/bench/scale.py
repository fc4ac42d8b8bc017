"""Scale figures: planning and replaying at 100,000 tasks, and a run's memory."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
import orjson

from runner.bench.runner_cli import child_env, kib, run_argv, simulator_env
from runner.rundir.ledger import read
from runner.simulator import RunningSimulator, SimConfig


def write_big_manifest(folder: Path, n: int) -> Path:
    path = folder / "big.yaml"
    path.write_text(
        "name: big\ntasks:\n" + "".join(f"  - prompt {i}\n" for i in range(n)), encoding="utf-8"
    )
    return path


def write_big_ledger(path: Path, events: int) -> None:
    """A plausible ledger: per task planned, intent, submitted, finished, downloaded."""
    req = {
        "prompt": "x",
        "ref_images": [],
        "aspect_ratio": "1:1",
        "clarity": 2048,
        "number_of_images": 1,
        "model_code": "doubao-seedream-4.0",
    }
    with path.open("wb") as fh:
        fh.write(b'{"e":"header","v":1,"t":1.0}\n')
        for i in range(events // 5):
            key, uid = f"{i:016x}", f"uid-{i}"
            fh.write(orjson.dumps({"e": "planned", "key": key, "name": "", "req": req, "t": 1.0}))
            fh.write(b"\n")
            fh.write(orjson.dumps({"e": "intent", "key": key, "attempt": 1, "t": 2.0}) + b"\n")
            fh.write(orjson.dumps({"e": "submitted", "key": key, "uid": uid, "t": 3.0}) + b"\n")
            fh.write(
                orjson.dumps(
                    {
                        "e": "finished",
                        "key": key,
                        "uid": uid,
                        "status": "Success",
                        "urls": [f"https://cdn/{uid}/0.png"],
                        "t": 4.0,
                    }
                )
                + b"\n"
            )
            fh.write(
                orjson.dumps(
                    {
                        "e": "downloaded",
                        "key": key,
                        "i": 0,
                        "path": f"images/{key}",
                        "sha256": "0" * 64,
                        "size": 1000,
                        "t": 5.0,
                    }
                )
                + b"\n"
            )


async def _run_sampled(
    argv: list[str], sim: RunningSimulator, n: int
) -> tuple[int, float, float, list[tuple[int, float]]]:
    """(exit code, wall seconds, peak RSS MB, [(percent of tasks sent, RSS MB then)]): a
    run whose memory does not grow as tasks finish holds about the same at 50 and 100 %."""
    marks, at_sent, peak_kib = [10, 50, 100], list[tuple[int, float]](), 0
    started = time.monotonic()
    proc = await anyio.open_process(
        argv, env=child_env(simulator_env(sim.base_url)), stdout=subprocess.DEVNULL
    )
    while proc.returncode is None:
        rss_kib = kib(proc.pid, "VmRSS")
        peak_kib = max(peak_kib, kib(proc.pid, "VmHWM"))
        while marks and len(sim.state.submissions) * 100 >= marks[0] * n and rss_kib:
            at_sent.append((marks.pop(0), rss_kib / 1024))
        with anyio.move_on_after(0.5):
            await proc.wait()
    return proc.returncode, time.monotonic() - started, peak_kib / 1024, at_sent


def memory_folder() -> Path | None:
    shm = Path("/dev/shm")
    return Path(tempfile.mkdtemp(dir=shm)) if shm.is_dir() else None


async def report(n: int, folder: Path) -> str:
    manifest = write_big_manifest(folder, n)
    env = child_env(simulator_env())
    started = time.monotonic()
    await anyio.run_process(
        [sys.executable, "-m", "runner", "plan", str(manifest), "--out", str(folder / "none")],
        stdout=subprocess.DEVNULL,
        check=True,
        env=env,
    )
    plan_s = time.monotonic() - started

    ledger = folder / "big-ledger.jsonl"
    write_big_ledger(ledger, 1_000_000)
    started = time.monotonic()
    replay = read(ledger)
    replay_s = time.monotonic() - started
    events = replay.events
    del replay

    # The run directory goes to memory when it can: this measures the runner's memory and
    # CPU, not how fast this disk fsyncs (five fsyncs a task, by design).
    run_root = memory_folder() or folder
    config = SimConfig(qps_limit=None, gen_s=(0.5, 1.5), queue_s=(0.0, 0.0), image_long_side_px=8)
    run = run_argv(
        manifest,
        run_root / "big",
        *("--first-poll", "1", "--poll-interval", "1", "--concurrency", "16", "--quiet"),
        qps=2000,
    )
    async with RunningSimulator(config) as sim:
        # the run alone, not every process the bench started; its RSS as tasks finish
        code, run_s, rss_mb, at_sent = await _run_sampled(run, sim, n)
    if run_root != folder:
        shutil.rmtree(run_root, ignore_errors=True)
    return "\n".join(
        [
            f"scale: {n:,} tasks",
            f"  plan (seedream-batch plan, end to end)   {plan_s:6.2f} s   target < 5 s",
            f"  replay {events:,}-event ledger       {replay_s:6.2f} s   target < 5 s",
            f"  full run against the simulator           {run_s:6.1f} s   exit {code}"
            f"{' (run directory in /dev/shm)' if run_root != folder else ''}",
            f"  peak RSS of that run                     {rss_mb:6.0f} MB  target < 300 MB",
            "  its RSS when " + ", ".join(f"{p} % were sent {mb:.0f} MB" for p, mb in at_sent),
        ]
    )
