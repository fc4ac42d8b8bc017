"""The command line as users and their cron jobs see it: output and exit codes."""

from __future__ import annotations

from pathlib import Path

import orjson

from runner.bench.runner_cli import child_env, run_argv
from runner.rundir.lock import RunLock

from .conftest import Harness, cli, sim_env

FAST = ["--qps", "50", "--first-poll", "0.2", "--poll-interval", "0.1", "--progress-every", "60"]


async def test_validate_and_plan(harness: Harness) -> None:
    good = harness.manifest("tasks:\n  - {prompt: a, repeat: 2, number_of_images: 3}\n")
    r = await cli("validate", str(good))
    assert r.returncode == 0 and b"OK, 2 tasks, 6 images" in r.stdout
    r = await cli("plan", str(good), "--json", "--out", str(harness.out))
    data = orjson.loads(r.stdout)
    assert data["totals"]["tasks"] == 2 and data["totals"]["left"] == 2
    assert {t["state"] for t in data["tasks"]} == {"new"}


async def test_bad_manifest_exits_2_names_the_place_and_submits_nothing(harness: Harness) -> None:
    bad = harness.manifest("tasks:\n  - prompt: ok\n  - prompt: x\n    clarity: 12\n")
    r = await cli("run", str(bad), "--out", str(harness.out), env=sim_env(harness.sim))
    assert r.returncode == 2
    assert f"{bad}:4:14: tasks[1].clarity: 12 is not one of".encode() in r.stderr
    assert not harness.out.exists()
    assert harness.sim.state.calls.total() == 0


async def test_full_run_status_and_report(harness: Harness) -> None:
    m = harness.manifest("tasks:\n  - a\n  - b\n  - c\n")
    r = await cli("run", str(m), "--out", str(harness.out), *FAST, env=sim_env(harness.sim))
    assert r.returncode == 0, r.stderr.decode()
    log = (harness.out / "run.log").read_text()
    assert "finished: 3 succeeded" in log and "\x1b[" not in log
    r = await cli("status", str(harness.out), "--json")
    status = orjson.loads(r.stdout)
    assert status["states"]["done"] == 3 and status["images"]["downloaded"] == 3
    assert status["running"] is False
    assert status["rates"]["finished_per_min"] > 0
    assert status["last_run_api"]["calls"] >= 4  # a token and three submits at least
    (harness.out / "index.html").unlink()
    r = await cli("report", str(harness.out))
    assert r.returncode == 0 and (harness.out / "index.html").exists()


async def test_some_failed_exits_1(harness: Harness) -> None:
    word = harness.sim.config.reject_word
    m = harness.manifest(f"tasks:\n  - a\n  - 'b {word}'\n")
    r = await cli("run", str(m), "--out", str(harness.out), *FAST, env=sim_env(harness.sim))
    assert r.returncode == 1
    summary = orjson.loads((harness.out / "summary.json").read_bytes())
    assert summary["tasks"]["failed"] == 1 and summary["tasks"]["succeeded"] == 1


async def test_wrong_credentials_exit_3(harness: Harness) -> None:
    m = harness.manifest("tasks: [a]\n")
    env = sim_env(harness.sim, CHANJING_SECRET_KEY="wrong-secret-value")
    r = await cli("run", str(m), "--out", str(harness.out), *FAST, env=env)
    assert r.returncode == 3
    assert b"authentication failed" in r.stderr
    assert b"wrong-secret-value" not in r.stderr


async def test_no_credentials_is_a_usage_error(harness: Harness, tmp_path: Path) -> None:
    m = harness.manifest("tasks: [a]\n")
    env = {
        "CHANJING_OPENAPI_BASE_URL": harness.sim.base_url,
        "CHANJING_OPENAPI_CREDENTIALS_DIR": str(tmp_path / "none"),
    }
    r = await cli("run", str(m), "--out", str(harness.out), env=env)
    assert r.returncode == 2 and b"no credentials" in r.stderr


async def test_credentials_file_of_the_vendor_tools_is_used(
    harness: Harness, tmp_path: Path
) -> None:
    folder = tmp_path / "cj"
    folder.mkdir()
    (folder / "credentials.json").write_text(
        '{"app_id": "sim-app-id", "secret_key": "sim-secret-key"}'
    )
    m = harness.manifest("tasks: [a]\n")
    env = {
        "CHANJING_OPENAPI_BASE_URL": harness.sim.base_url,
        "CHANJING_OPENAPI_CREDENTIALS_DIR": str(folder),
    }
    r = await cli("run", str(m), "--out", str(harness.out), *FAST, env=env)
    assert r.returncode == 0, r.stderr.decode()


async def test_a_second_run_on_a_locked_directory_exits_75(harness: Harness) -> None:
    import os

    m = harness.manifest("tasks: [a]\n")
    harness.out.mkdir(parents=True)
    with RunLock(harness.out):
        r = await cli("run", str(m), "--out", str(harness.out), env=sim_env(harness.sim))
    assert r.returncode == 75
    assert f"locked by process {os.getpid()}".encode() in r.stderr
    assert harness.sim.state.calls.total() == 0


async def test_a_terminal_gets_live_progress_and_a_pipe_gets_plain_lines(harness: Harness) -> None:
    import shlex
    import shutil

    import pytest

    if shutil.which("script") is None:
        pytest.skip("util-linux `script` is needed to give the run a terminal")
    m = harness.manifest("tasks: [a, b, c]\n")
    cmd = shlex.join(run_argv(m, harness.out / "tty", *FAST))
    r = await cli_tty(cmd, sim_env(harness.sim))
    assert r.returncode == 0
    screen = r.stdout.decode("utf-8", "replace")
    assert "tasks done" in screen and "3/3" in screen and "━" in screen

    r = await cli(
        "run",
        str(m),
        "--out",
        str(harness.out / "pipe"),
        *FAST[:-2],
        "--progress-every",
        "0.2",
        env=sim_env(harness.sim),
    )
    assert r.returncode == 0
    assert b"\r" not in r.stderr and b"\x1b[" not in r.stderr
    lines = r.stderr.decode().splitlines()
    assert any(" INFO    tasks " in line and "qps" in line for line in lines)
    assert all(line[:4].isdigit() for line in lines)  # every line is timestamped


async def cli_tty(command: str, env: dict[str, str]):
    import anyio

    full = child_env({**env, "TERM": "xterm", "COLUMNS": "160"})
    return await anyio.run_process(["script", "-qefc", command, "/dev/null"], env=full, check=False)


async def test_validate_plan_and_run_share_the_same_limits(harness: Harness) -> None:
    m = harness.manifest("tasks:\n  - a prompt of thirty characters!\n  - {prompt: b, repeat: 3}\n")
    out = ["--out", str(harness.out)]
    for flags, problem in (
        (["--max-prompt-chars", "20"], b"2:5: tasks[0].prompt: is 30 characters; the limit is 20"),
        (["--max-tasks", "3"], b"expands to 4 tasks; the cap is 3"),
    ):
        for command in (["validate", str(m)], ["plan", str(m), *out], ["run", str(m), *out]):
            r = await cli(*command, *flags, *FAST * (command[0] == "run"), env=sim_env(harness.sim))
            assert r.returncode == 2, (command, flags)
            assert problem in r.stderr, (command, r.stderr.decode())
    assert harness.sim.state.calls.total() == 0 and not harness.out.exists()
    r = await cli("validate", str(m), "--max-prompt-chars", "30", "--max-tasks", "4")
    assert r.returncode == 0 and b"OK, 4 tasks" in r.stderr + r.stdout
