"""Our runner as users start it, for a subprocess against the simulator:
`python -m runner run MANIFEST --out DIR [--qps N] ...` and an environment
holding the simulator's demo credentials. Used by the bench and by the tests
that signal or kill a run."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import anyio

from runner.simulator import DEMO_APP_ID, DEMO_SECRET_KEY


def run_argv(manifest: Path, out: Path, *flags: str, qps: float | None = None) -> list[str]:
    qps_flag = ["--qps", f"{qps:g}"] if qps is not None else []
    return [
        sys.executable,
        "-m",
        "runner",
        "run",
        str(manifest),
        "--out",
        str(out),
        *qps_flag,
        *flags,
    ]


def simulator_env(base_url: str | None = None) -> dict[str, str]:
    """The demo account's credentials, and the simulator's URL when it is known."""
    env = {"CHANJING_APP_ID": DEMO_APP_ID, "CHANJING_SECRET_KEY": DEMO_SECRET_KEY}
    if base_url is not None:
        env["CHANJING_OPENAPI_BASE_URL"] = base_url
    return env


def child_env(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment without its own CHANJING_* settings (a token there
    would win over the demo credentials), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHANJING_")}
    env.update(extra)
    return env


@dataclass(frozen=True, slots=True)
class Measured:
    code: int
    wall_s: float
    cpu_s: float  # user + system of the runner process
    peak_rss_mb: float  # the largest child so far (ru_maxrss of RUSAGE_CHILDREN)


async def run_measured(argv: list[str], env: dict[str, str]) -> Measured:
    """Run the runner to its end, its output to stderr only: exit code, wall, CPU, RSS."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = await anyio.run_process(
        argv, env=env, check=False, stdout=subprocess.DEVNULL, stderr=None
    )
    wall_s = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Measured(proc.returncode, wall_s, cpu_s, after.ru_maxrss / 1024)


def kib(pid: int, field: str) -> int:
    """A process's VmRSS, VmHWM ... in KiB (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


async def run_for_peak_rss(argv: list[str], base_url: str) -> tuple[int, float, float]:
    """Run `argv` against the simulator at `base_url` under `runner.bench.peak_rss`, which
    reports the peak of that process alone: (exit code, wall seconds, peak RSS in MB)."""
    started = time.monotonic()
    proc = await anyio.run_process(
        [sys.executable, "-m", "runner.bench.peak_rss", *argv],
        env=child_env(simulator_env(base_url)),
        check=False,
        stdout=subprocess.PIPE,
    )
    wall_s = time.monotonic() - started
    words = proc.stdout.decode().split()
    return proc.returncode, wall_s, (int(words[-1]) / 1024 if words else 0.0)
