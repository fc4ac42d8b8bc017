"""What a newcomer meets on the command line (issue 13: items 2, 5, 6, 8, 9)."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from runner import cli, logsetup

FAST = ["--first-poll", "0.2", "--poll-interval", "0.1", "--progress-every", "60"]


@pytest.fixture
def in_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """cli.main in this process (pytest keeps its log handlers), from a fresh folder."""
    monkeypatch.setattr(logsetup, "setup", lambda **_: None)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_quiet_prints_one_line_fit_for_a_shared_cron_log(
    in_process: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (in_process / "cron.yaml").write_text("name: nightly kites\ntasks: [a kite, a boat]\n")
    assert cli.main(["run", "cron.yaml", "--simulate", "--quiet", *FAST]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d run nightly kites: 2 succeeded, 0 failed, 0 pending; "
        r"2/2 images; exit 0; see outputs/nightly-kites/summary.json",
        line,
    ), line
    assert (in_process / "outputs" / "nightly-kites" / "summary.json").is_file()


def test_the_budget_warning_names_the_manifests_max_images(
    in_process: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (in_process / "job.yaml").write_text("tasks: [a, b, c]\nmax_images: 2\n")
    caplog.set_level(logging.WARNING)
    assert cli.main(["run", "job.yaml", "--simulate", *FAST]) == 4
    (said,) = [r.getMessage() for r in caplog.records if "budget" in r.getMessage()]
    assert "max_images: 2 in job.yaml" in said and "--max-images" not in said
    caplog.clear()
    assert cli.main(["run", "job.yaml", "--simulate", "--max-images", "1", *FAST]) == 4
    (said,) = [r.getMessage() for r in caplog.records if "budget" in r.getMessage()]
    assert "the budget (--max-images 1) is reached" in said  # the flag, when it was given
