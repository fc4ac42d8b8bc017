"""Expected failures end in one `error:` line and their exit code, never a traceback."""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path
from typing import Any

import orjson
import pytest

from runner import cli, logsetup
from runner.rundir.ledger import Ledger

from .conftest import Harness, sim_env
from .conftest import cli as run_cli

FAST = ["--qps", "50", "--first-poll", "0.2", "--poll-interval", "0.1", "--progress-every", "60"]


def _newer_ledger(run_dir: Path) -> None:
    run_dir.mkdir(parents=True)
    (run_dir / "ledger.jsonl").write_bytes(orjson.dumps({"e": "header", "v": 99, "t": 1.0}) + b"\n")


def _one_error_line(stderr: bytes) -> str:
    text = stderr.decode()
    assert "Traceback" not in text, text
    errors = [line for line in text.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, text
    return errors[0]


async def test_a_ledger_from_a_newer_version_exits_2_and_changes_nothing(
    harness: Harness,
) -> None:
    _newer_ledger(harness.out)
    before = (harness.out / "ledger.jsonl").read_bytes()
    m = harness.manifest("tasks: [a]\n")
    for args in (
        ["run", str(m), "--out", str(harness.out), *FAST],
        ["status", str(harness.out)],
        ["report", str(harness.out)],
        ["plan", str(m), "--out", str(harness.out)],
    ):
        r = await run_cli(*args, env=sim_env(harness.sim))
        assert r.returncode == 2, (args, r.stderr.decode())
        line = _one_error_line(r.stderr)
        assert "ledger.jsonl" in line and "format 99 is newer" in line
    assert (harness.out / "ledger.jsonl").read_bytes() == before
    assert harness.sim.state.calls.total() == 0


async def test_an_unreadable_run_directory_exits_2(harness: Harness, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    (broken / "ledger.jsonl").mkdir(parents=True)  # a directory where the ledger should be
    for command in ("status", "report"):
        r = await run_cli(command, str(broken))
        assert r.returncode == 2
        assert "ledger.jsonl: Is a directory" in _one_error_line(r.stderr)
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory")
    m = harness.manifest("tasks: [a]\n")
    r = await run_cli("run", str(m), "--out", str(a_file), *FAST, env=sim_env(harness.sim))
    assert r.returncode == 2
    assert str(a_file) in _one_error_line(r.stderr)
    assert harness.sim.state.calls.total() == 0


@pytest.fixture
def in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """cli.main in this process; pytest keeps its own log handlers."""
    monkeypatch.setattr(logsetup, "setup", lambda **_: None)


def test_permission_denied_on_the_run_directory_exits_2(
    tmp_path: Path,
    in_process: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Tests run as root here, where chmod does not refuse anything: the refusal is injected.
    def refuse(self: Ledger) -> Any:
        raise PermissionError(errno.EACCES, "Permission denied", str(self.path))

    monkeypatch.setattr(Ledger, "open", refuse)
    m = tmp_path / "job.yaml"
    m.write_text("tasks: [a]\n")
    code = cli.main(["run", str(m), "--out", str(tmp_path / "out"), "--simulate", *FAST])
    assert code == 2
    line = _one_error_line(capsys.readouterr().err.encode())
    assert line == f"error: {tmp_path / 'out' / 'ledger.jsonl'}: Permission denied"


def test_disk_full_mid_run_exits_4_and_the_run_resumes(
    tmp_path: Path,
    in_process: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    m = tmp_path / "job.yaml"
    m.write_text("tasks: [a, b, c]\n")
    out = tmp_path / "out"
    write_events = Ledger._write_events

    def full_after_first_submit(self: Ledger, events: Any, durable: bool) -> None:
        events = list(events)
        if any(e.get("e") == "submitted" for e in events):
            raise OSError(errno.ENOSPC, "No space left on device")
        write_events(self, events, durable)

    monkeypatch.setattr(Ledger, "_write_events", full_after_first_submit)
    code = cli.main(["run", str(m), "--out", str(out), "--simulate", *FAST])
    assert code == 4
    assert "Traceback" not in capsys.readouterr().err
    said = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert any("No space left on device" in s and "run again to resume" in s for s in said)

    monkeypatch.setattr(Ledger, "_write_events", write_events)  # space freed
    assert cli.main(["run", str(m), "--out", str(out), "--simulate", *FAST]) == 0
    summary = orjson.loads((out / "summary.json").read_bytes())
    assert summary["tasks"]["succeeded"] == 3


def test_disk_full_while_writing_reports_is_one_line_and_exit_4(
    tmp_path: Path,
    in_process: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    m = tmp_path / "job.yaml"
    m.write_text("tasks: [a]\n")
    out = tmp_path / "out"
    assert cli.main(["run", str(m), "--out", str(out), "--simulate", *FAST]) == 0
    before = (out / "summary.json").read_bytes()
    capsys.readouterr()

    def full(src: Any, dst: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    assert cli.main(["report", str(out)]) == 4
    line = _one_error_line(capsys.readouterr().err.encode())
    assert str(out / "summary.json") in line and "No space left on device" in line
    assert "free some space and run again" in line
    assert (out / "summary.json").read_bytes() == before  # the old one stays whole


def test_a_new_logging_set_up_closes_the_last_runs_log(tmp_path: Path) -> None:
    """Commands run in one process (a scheduler, tests) do not leak run.log files."""
    root = logging.getLogger()
    kept = list(root.handlers)
    try:
        logsetup.setup(quiet=True, verbose=False)
        logsetup.attach_run_log(tmp_path)
        (run_log,) = [h for h in root.handlers if isinstance(h, logsetup.RunLogHandler)]
        logsetup.setup(quiet=True, verbose=False)
        assert run_log.stream is None  # closed, and gone from the root logger
        assert run_log not in root.handlers
    finally:
        root.handlers[:] = kept
