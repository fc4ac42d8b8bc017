"""Our runner as users start it, for a subprocess against the simulator:
`python -m runner run MANIFEST --out DIR [--qps N] ...` and an environment
holding the simulator's demo credentials. Used by the bench and by the tests
that signal or kill a run."""

from __future__ import annotations

import os
import sys
from pathlib import Path

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
