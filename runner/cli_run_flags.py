"""`run`'s flags, and those it shares: the limits validate and plan take too,
--quiet/--verbose. A new `run` flag goes in `add_run_flags`, a new limit shared
by validate, plan and run in `add_limit_flags` (and `settings.py` turns them
into values)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from runner.manifest.limits import MAX_PROMPT_CHARS, MAX_TASKS
from runner.settings import DEFAULT_QPS, SIMULATE_QPS


def positive(kind: type[float] | type[int]) -> Callable[[str], float | int]:
    def parse(text: str) -> float | int:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value

    return parse


def seconds(p: argparse.ArgumentParser, flag: str, default: float | None, text: str | None) -> None:
    """A duration in seconds, > 0 (None as the default: the flag was not given)."""
    p.add_argument(flag, type=positive(float), default=default, metavar="SECONDS", help=text)


def add_run_flags(r: argparse.ArgumentParser) -> None:
    r.add_argument("--out", type=Path, help="run directory (default outputs/<manifest name>)")
    r.add_argument(
        "--qps",
        type=positive(float),
        help=f"API calls per second for the whole account (default {DEFAULT_QPS:g}; "
        f"with --simulate {SIMULATE_QPS:g}, so 5,000 tasks take about a minute)",
    )
    r.add_argument("--concurrency", type=positive(int), default=8, help="image downloads in flight")
    r.add_argument("--base-url", help="API base URL (else $CHANJING_OPENAPI_BASE_URL, ...)")
    r.add_argument("--deadline", help="stop submitting after this long (90m, 6h) or at 07:00")
    r.add_argument(
        "--grace",
        default="5m",
        help="after the deadline, keep polling in-flight tasks this long (default 5m)",
    )
    r.add_argument("--max-images", type=positive(int), help="budget: images to submit at most")
    r.add_argument(
        "--retry-failed",
        action="store_true",
        help="resubmit tasks that ended in Error, as new attempts",
    )
    r.add_argument(
        "--reroll-rejected",
        action="store_true",
        help="resubmit the tasks rejected in `review`, as new attempts (with the edited "
        "prompt where one was given); earlier attempts and their files are kept",
    )
    r.add_argument(
        "--simulate",
        action="store_true",
        help="run against the bundled simulator, in-process, with demo credentials; its "
        "state lives in the run directory, so running again resumes",
    )
    for flag, default, text in (
        ("--progress-every", 30.0, "progress line interval when not on a terminal (default 30)"),
        (
            "--first-poll",
            5.0,
            "first check of a task, until generation times are learned (default 5)",
        ),
        (
            "--poll-interval",
            2.0,
            "how often a task still generating is checked again (a quarter of it once "
            "every task is submitted)",
        ),
        (
            "--clock-skew",
            60.0,
            "allowed clock difference with the API when looking up lost submits",
        ),
        ("--settle", 2.0, "wait before looking up a submit whose answer was lost (default 2)"),
        ("--timeout", 30.0, "one HTTP exchange with the API (default 30)"),
    ):
        seconds(r, flag, default, text)
    r.add_argument(
        "--max-download-mb",
        type=positive(float),
        default=64.0,
        metavar="MB",
        help="an output image larger than this is refused (default 64)",
    )
    r.add_argument(
        "--max-video-download-mb",
        type=positive(float),
        default=4096.0,
        metavar="MB",
        help="an output video larger than this is refused (default 4096)",
    )
    for flag, text in (
        ("--video-first-poll", "first check of a video task (default: its model's, see `models`)"),
        (
            "--video-poll-interval",
            "re-checks of a video task (default: its model's; a quarter once all is submitted)",
        ),
    ):
        seconds(r, flag, None, text)
    r.add_argument(
        "--allow-concurrent",
        action="store_true",
        help="allow a second live run of the same manifest on the same account "
        "(it pays for every task again)",
    )
    r.add_argument(
        "--give-up-after",
        default="15m",
        metavar="DURATION",
        help="stop (exit 4, resumable) after this long without one successful API call "
        "(default 15m; 0 = never)",
    )
    r.add_argument(
        "--accounts",
        type=Path,
        metavar="FILE",
        help="a pool of accounts (YAML; default: accounts.yaml in "
        "$CHANJING_OPENAPI_CREDENTIALS_DIR when there is one)",
    )
    r.add_argument(
        "--notify-url",
        metavar="URL",
        help="POST summary.json to this URL when the run ends, however it ends",
    )
    r.add_argument(
        "--ref-url-max-age",
        default="1h",
        metavar="DURATION",
        help="chained tasks: a parent's output URL older than this is given to its children "
        "as an uploaded file instead (default 1h)",
    )


def add_limit_flags(p: argparse.ArgumentParser) -> None:
    """Limits that decide whether a manifest is acceptable: validate, plan and run agree."""
    p.add_argument(
        "--max-tasks",
        type=positive(int),
        default=MAX_TASKS,
        help=f"refuse manifests expanding to more tasks (default {MAX_TASKS:,})",
    )
    p.add_argument(
        "--max-prompt-chars",
        type=positive(int),
        default=MAX_PROMPT_CHARS,
        metavar="N",
        help="refuse longer prompts before submitting (the API's limit is unpublished)",
    )


def add_output_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quiet", action="store_true", help="only warnings and the final summary")
    g.add_argument("--verbose", action="store_true", help="debug output")
