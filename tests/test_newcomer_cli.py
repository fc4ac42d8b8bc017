"""What a newcomer meets on the command line (issue 13: items 2, 5, 6, 8, 9)."""

from __future__ import annotations

import argparse
import html
import json
import logging
import re
from pathlib import Path

import pytest

from runner import cli, logsetup
from runner.cli_args import build_parser
from runner.cli_help import HelpFormatter
from runner.report.text import short

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


def test_one_name_per_task_in_plan_status_summary_gallery_and_files(
    in_process: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (in_process / "job.yaml").write_text(
        "tasks:\n"
        "  - {prompt: 'a red kite, 电影感光影', name: 'Beach walk!'}\n"
        "  - 'a red kite, 电影感光影 over a long long beach at dawn'\n"
        "  - 'REJECTED-BY-MODERATION boat'\n"
    )
    expected = [
        "Beach-walk",
        "a-red-kite-电影感光影-over-a-long-long-beach",
        "REJECTED-BY-MODERATION-boat",
    ]
    assert cli.main(["plan", "job.yaml", "--json"]) == 0
    planned = json.loads(capsys.readouterr().out)
    assert [t["name"] for t in planned["tasks"]] == expected
    assert cli.main(["plan", "job.yaml"]) == 0
    rows = capsys.readouterr().out.splitlines()[1:4]
    assert [row.split()[5] for row in rows] == [short(n, 16) for n in expected]

    assert cli.main(["run", "job.yaml", "--simulate", *FAST]) == 1
    out = in_process / "outputs" / "job"
    summary = json.loads((out / "summary.json").read_text())
    assert [i["name"] for i in summary["items"]] == expected
    for item, name in zip(summary["items"], expected, strict=True):
        assert all(Path(f).name.startswith(f"{name}.{item['key']}.") for f in item["files"])
    assert sum(len(i["files"]) for i in summary["items"]) == 2
    page = (out / "index.html").read_text()
    assert all(f"<b>{html.escape(n)}</b>" in page for n in expected), page[:3000]
    capsys.readouterr()
    assert cli.main(["status", str(out)]) == 0
    said = capsys.readouterr().out
    assert f"{summary['items'][2]['key']} {expected[2]}: " in said


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def test_help_says_what_the_tool_does_and_every_option_its_default() -> None:
    parser = build_parser()
    top = parser.format_help()
    assert "Command line:" not in top and "Chanjing Open API" in top
    assert "exit codes:" in top and "--simulate" in top
    for name, command in _commands(parser).items():
        text = " ".join(command.format_help().split())
        for action in command._actions:
            if action.dest in ("help",) or not action.option_strings:
                continue
            flag = action.option_strings[-1]
            assert action.help, f"{name} {flag} has no help"
            if action.default not in (None, False, [], argparse.SUPPRESS):
                shown = HelpFormatter("x")._get_help_string(action) or ""
                assert "default" in shown, (name, flag)
        assert text.startswith(f"usage: seedream-batch {name}")


def test_status_and_report_take_the_manifest_as_run_does(
    in_process: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (in_process / "job.yaml").write_text("name: Kites at dawn\ntasks: [a kite]\n")
    assert cli.main(["run", "job.yaml", "--simulate", *FAST]) == 0
    capsys.readouterr()
    assert cli.main(["status", "job.yaml"]) == 0
    said = capsys.readouterr().out
    assert said.startswith(f"run {Path('outputs') / 'Kites-at-dawn'}: 1 tasks")
    assert re.search(r"latest run started [\d-]+ [\d:]+, ended [\d-]+ [\d:]+ \(exit 0\)", said)
    assert cli.main(["report", "job.yaml"]) == 0
    assert "outputs/Kites-at-dawn/summary.json" in capsys.readouterr().out


def test_status_says_when_a_run_did_not_end(
    in_process: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (in_process / "job.yaml").write_text("tasks: [a kite]\n")
    assert cli.main(["run", "job.yaml", "--simulate", *FAST]) == 0
    ledger = in_process / "outputs" / "job" / "ledger.jsonl"
    kept = [line for line in ledger.read_text().splitlines() if '"what":"end"' not in line]
    ledger.write_text("\n".join(kept) + "\n")  # as if the run had been killed at the end
    capsys.readouterr()
    assert cli.main(["status", "job.yaml"]) == 0
    assert "did not finish (killed?); run it again to resume" in capsys.readouterr().out


def test_validate_says_when_max_images_caps_the_run(
    in_process: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (in_process / "job.yaml").write_text(
        "tasks: [{prompt: a kite, number_of_images: 4, repeat: 3}]\nmax_images: 10\n"
    )
    assert cli.main(["validate", "job.yaml"]) == 0
    said = capsys.readouterr().out
    assert "OK, 3 tasks, 12 images" in said
    assert "max_images: 10 caps the run at 10 of its 12 images" in said
    (in_process / "job.yaml").write_text("tasks: [a kite]\nmax_images: 10\n")
    assert cli.main(["validate", "job.yaml"]) == 0
    assert "caps" not in capsys.readouterr().out
