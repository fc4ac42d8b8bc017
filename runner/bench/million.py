"""The million-task figures: a 1,000,000-prompt manifest (a prompts file) planned,
run for a minute against a fast simulator (peak RSS), killed with SIGKILL,
resumed (seconds from the re-run's start to its first new submit), and
`status` timed on that run directory while the resumed run goes."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio

from runner.bench.runner_cli import child_env, kib, run_argv, simulator_env
from runner.simulator import RunningSimulator, SimConfig


def write_prompts_manifest(folder: Path, n: int) -> Path:
    prompts = folder / "million.txt"
    with prompts.open("w", encoding="utf-8") as fh:
        for i in range(n):
            fh.write(f"catalogue photo {i}: product on a white background, soft studio light\n")
    manifest = folder / "million.yaml"
    manifest.write_text("name: million\nprompts_file: million.txt\n", encoding="utf-8")
    return manifest


async def _timed(argv: list[str], env: dict[str, str]) -> float:
    started = time.monotonic()
    await anyio.run_process(argv, env=env, stdout=subprocess.DEVNULL, check=True)
    return time.monotonic() - started


async def report(n: int, folder: Path, run_s: float = 60.0) -> str:
    manifest = write_prompts_manifest(folder, n)
    out = folder / "million-run"
    cli = [sys.executable, "-m", "runner"]
    limit = ["--max-tasks", str(n)]
    env = child_env(simulator_env())
    plan_s = await _timed([*cli, "plan", str(manifest), "--out", str(out), *limit], env)

    config = SimConfig(qps_limit=None, gen_s=(0.5, 1.5), queue_s=(0.0, 0.0), image_long_side_px=8)
    flags = [*limit, "--first-poll", "1", "--poll-interval", "1", "--concurrency", "16", "--quiet"]
    async with RunningSimulator(config) as sim:
        env = child_env(simulator_env(sim.base_url))
        argv = run_argv(manifest, out, *flags, qps=500)
        first: dict[str, Any] = {}

        # 1. a minute of the run; its peak RSS, then kill -9
        proc = await anyio.open_process(argv, env=env, stdout=subprocess.DEVNULL)
        peak_kib = rss_kib = 0
        started = time.monotonic()
        while time.monotonic() - started < run_s and proc.returncode is None:
            peak_kib = max(peak_kib, kib(proc.pid, "VmHWM"))
            rss_kib = kib(proc.pid, "VmRSS") or rss_kib
            await anyio.sleep(0.5)
        if proc.returncode is None:  # never a pid the child may have given back
            proc.kill()
        await proc.wait()
        sent_first = len(sim.state.submissions)

        # 2. the resume: start to first new submit; status while it goes
        submitted = anyio.Event()

        def on_submit(what: str, _: object) -> None:
            if what == "submit" and "t" not in first:
                first["t"] = time.monotonic()
                submitted.set()

        sim.state.listeners.append(on_submit)
        started = time.monotonic()
        proc = await anyio.open_process(argv, env=env, stdout=subprocess.DEVNULL)
        with anyio.move_on_after(300):
            await submitted.wait()
        resume_s = first.get("t", float("nan")) - started
        status_s = await _timed([*cli, "status", str(out)], env)
        await anyio.sleep(5)
        resumed_peak_kib = kib(proc.pid, "VmHWM")
        if proc.returncode is None:  # never a pid the child may have given back
            proc.kill()
        await proc.wait()
    rows = [
        ("plan (seedream-batch plan, end to end)", f"{plan_s:.1f} s", "12.7 s", "< 10 s", ""),
        (
            f"peak RSS of a run, its first {run_s:.0f} s",
            f"{peak_kib / 1024:.0f} MB",
            "1,524 MB",
            "< 600 MB",
            f"{sent_first:,} tasks sent; RSS at the kill {rss_kib / 1024:.0f} MB",
        ),
        (
            "resume after kill -9: start to first submit",
            f"{resume_s:.1f} s",
            "29.5 s",
            "< 5 s",
            f"peak RSS of the resumed run {resumed_peak_kib / 1024:.0f} MB",
        ),
        ("status while the resumed run goes", f"{status_s:.1f} s", "12.9 s", "< 1 s", ""),
    ]
    head = f"a million tasks: {n:,} prompts in a prompts file, --max-tasks {n}"
    lines = [head, f"  {'':44} {'now':>9} {'issue 17':>9} {'target':>9}"]
    lines += [f"  {a:44} {b:>9} {c:>9} {d:>9}   {e}".rstrip() for a, b, c, d, e in rows]
    return "\n".join(lines)
