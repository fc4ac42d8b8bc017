"""Resuming against the simulator as against the real API (issue 13, item 1)."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import orjson
import pytest

from runner import cli, logsetup
from runner.pipeline import poll
from runner.simulator.journal import STATE_FILE

from .conftest import Harness


async def test_a_task_the_api_forgot_is_reported_at_the_first_miss(
    harness: Harness, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(poll, "MAX_MISSES", 3)
    forgotten: list[str] = []

    def forget(what: str, detail: Any) -> None:  # the account loses each task it creates
        if what == "submit":
            forgotten.append(detail.unique_id)
            harness.sim.state.tasks.pop(detail.unique_id)

    harness.sim.state.listeners.append(forget)
    manifest = harness.manifest("tasks: [a red kite, a blue kite]\n")
    caplog.set_level(logging.WARNING)
    assert await harness.run(manifest) == 1
    said = [r.getMessage() for r in caplog.records if "does not list it" in r.getMessage()]
    assert len(said) == 2, said  # one line per task, not one per check
    for uid in forgotten:
        (line,) = [text for text in said if uid in text]
        assert "after 2 more checks" in line  # said at the first miss, with what comes next
        assert "--retry-failed" in line


QUICK = ["--first-poll", "0.5", "--poll-interval", "0.3"]


async def _simulated_run(
    manifest: Path, out: Path, *extra: str, watch: bool = False
) -> anyio.abc.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHANJING_")}
    command = [sys.executable, "-m", "runner", "run", str(manifest), "--out", str(out)]
    progress = ["--progress-every", "0.2" if watch else "60"]
    return await anyio.open_process(
        [*command, "--simulate", *QUICK, *progress, *extra],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE if watch else subprocess.DEVNULL,
    )


async def _until_left_to_submit(proc: anyio.abc.Process, left: int) -> None:
    """Read the run's progress lines until at most `left` tasks are still to submit."""
    assert proc.stderr is not None
    said = b""
    while True:
        said += await proc.stderr.receive()
        found = re.findall(rb"(\d+) to submit", said)
        if found and int(found[-1]) <= left:
            return


def _submissions(out: Path) -> list[str]:
    """The simulator's own record of every task it created, by prompt."""
    state = out / STATE_FILE
    lines = state.read_bytes().splitlines() if state.exists() else []
    events = [orjson.loads(line) for line in lines]
    return [e["body"]["ref_prompt"] for e in events if e["e"] == "task"]


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
async def test_an_interrupted_simulated_run_resumes_without_paying_twice(
    tmp_path: Path, sig: signal.Signals
) -> None:
    manifest = tmp_path / "kites.yaml"
    manifest.write_text(f"tasks:\n  - prompt: kite {{n}}\n    matrix: {{n: {list(range(30))}}}\n")
    out = tmp_path / "out"
    first = await _simulated_run(manifest, out, "--qps", "5", watch=True)
    try:
        with anyio.fail_after(30):
            await _until_left_to_submit(first, 20)  # interrupted about a third of the way in
        first.send_signal(sig)
        with anyio.fail_after(10):
            code = await first.wait()
    finally:
        if first.returncode is None:
            first.kill()
        await first.aclose()
    assert code == (4 if sig == signal.SIGINT else -signal.SIGKILL)
    before = len(_submissions(out))
    assert before < 30

    second = await _simulated_run(manifest, out)
    with anyio.fail_after(60):
        assert await second.wait() == 0
    await second.aclose()

    sent = Counter(_submissions(out))
    assert sorted(sent) == sorted(f"kite {n}" for n in range(30))
    assert set(sent.values()) == {1}, "a task was submitted twice"
    summary = orjson.loads((out / "summary.json").read_bytes())
    assert summary["images"] == {"expected": 30, "downloaded": 30}
    for item in summary["items"]:
        assert all((out / path).is_file() for path in item["files"])


def test_a_manifest_problem_stops_before_the_simulator_starts(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(logsetup, "setup", lambda **_: None)  # pytest keeps its log handlers
    caplog.set_level(logging.INFO)
    out = tmp_path / "out"
    assert cli.main(["run", str(tmp_path / "missing.yaml"), "--simulate", "--out", str(out)]) == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("tasks: [{prompt: a, clarity: 3}]\n")
    assert cli.main(["run", str(bad), "--simulate", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "missing.yaml: cannot read" in err and "clarity: 3 is not one of" in err
    assert "simulator on" not in caplog.text
    assert not out.exists()


async def test_a_pool_can_be_tried_against_the_simulator(tmp_path: Path) -> None:
    """`run --simulate --accounts FILE`: the simulated API holds the pool's accounts."""
    accounts = tmp_path / "accounts.yaml"
    accounts.write_text(
        "accounts:\n"
        "  - {label: studio-a, app_id: app-a, secret_key: secret-a, qps: 10}\n"
        "  - {label: studio-b, app_id: app-b, secret_key: secret-b, qps: 20}\n",
        encoding="utf-8",
    )
    accounts.chmod(0o600)
    manifest = tmp_path / "pool.yaml"
    manifest.write_text("tasks:\n  - {prompt: a lighthouse, repeat: 12}\n", encoding="utf-8")
    out = tmp_path / "out"

    proc = await _simulated_run(manifest, out, "--accounts", str(accounts))
    assert await proc.wait() == 0
    summary = orjson.loads((out / "summary.json").read_bytes())
    per_account = summary["accounts"]
    assert set(per_account) == {"studio-a", "studio-b"}, per_account
    assert sum(a["succeeded"] for a in per_account.values()) == 12
