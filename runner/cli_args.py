"""The command line's grammar: every command, flag and default (`cli` parses with it).

A new command adds its sub-parser here and its module under `commands/`; a new
`run` flag goes in `_run_flags`, a new limit shared by validate, plan and run
in `_limit_flags`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from runner import __version__
from runner.cli_help import DESCRIPTION, EPILOG, HelpFormatter, finish
from runner.manifest.limits import MAX_PROMPT_CHARS, MAX_TASKS
from runner.settings import DEFAULT_QPS, SIMULATE_QPS

RUN_OR_MANIFEST = (
    "a run directory, or the manifest whose run it is (found as `run` finds it: "
    "outputs/<name> of the current folder)"
)


def positive(kind: type[float] | type[int]) -> Callable[[str], float | int]:
    def parse(text: str) -> float | int:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="seedream-batch",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"seedream-batch {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    r = sub.add_parser("run", help="submit, poll and download a manifest's tasks (resumable)")
    r.add_argument("manifest", type=Path, help="the YAML manifest")
    _run_flags(r)
    _limit_flags(r)
    _output_flags(r)

    v = sub.add_parser("validate", help="check a manifest; submits nothing")
    v.add_argument("manifest", type=Path, help="the YAML manifest")
    _limit_flags(v)
    pl = sub.add_parser("plan", help="show the expanded tasks and what a run already did")
    pl.add_argument("manifest", type=Path, help="the YAML manifest")
    pl.add_argument(
        "--out", type=Path, help="run directory to compare with (default outputs/<name>)"
    )
    pl.add_argument("--json", action="store_true", help="print the tasks and totals as JSON")
    pl.add_argument(
        "--reroll-rejected",
        action="store_true",
        help="show what `run --reroll-rejected` would resubmit (state `reroll`, its prompt)",
    )
    _limit_flags(pl)

    s = sub.add_parser("status", help="counts by state, failures, files of a run directory")
    s.add_argument("run_dir", type=Path, metavar="RUN_DIR|MANIFEST", help=RUN_OR_MANIFEST)
    s.add_argument("--json", action="store_true", help="print everything as JSON")
    s.add_argument(
        "--audit",
        action="store_true",
        help="list the account's tasks and report any created twice (needs credentials)",
    )
    s.add_argument("--base-url", help="API base URL for --audit (else $CHANJING_OPENAPI_BASE_URL)")
    rep = sub.add_parser("report", help="(re)write summary.json and index.html of a run")
    rep.add_argument("run_dir", type=Path, metavar="RUN_DIR|MANIFEST", help=RUN_OR_MANIFEST)
    mod = sub.add_parser("models", help="the model table: each model and what it takes")
    mod.add_argument("--json", action="store_true", help="print the table as JSON")

    _simulate_flags(
        sub.add_parser("simulate", help="serve the bundled API simulator until stopped")
    )
    _review_commands(sub)
    return finish(p)


def _review_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """review, export, origin: what a person does with a finished run."""
    rv = sub.add_parser(
        "review",
        help="a local page (127.0.0.1 only) to keep, reject, and edit prompts for a reroll",
        description="Serve a review page of RUN_DIR on 127.0.0.1 until Ctrl-C. Works while "
        "a run is going. Keys: arrows move, k keep, x reject, u undo, e edit the prompt "
        "for `run --reroll-rejected`.",
    )
    rv.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a run directory (outputs/NAME)")
    rv.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    rv.add_argument("--open", action="store_true", help="open the page in the default browser")

    ex = sub.add_parser("export", help="copy a run's files with metadata.csv and metadata.jsonl")
    ex.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a run directory (outputs/NAME)")
    ex.add_argument("--to", type=Path, required=True, metavar="DIR", help="destination folder")
    ex.add_argument(
        "--only",
        choices=("kept", "succeeded", "all"),
        default="kept",
        help="kept: files kept in review (default); succeeded: every finished task's "
        "current files; all: every file on record, earlier attempts included",
    )
    ex.add_argument(
        "--link", action="store_true", help="hard-link instead of copying (same file system)"
    )

    og = sub.add_parser(
        "origin",
        help="which run, task and prompt made a file (by content hash)",
        description="Find, by the sha256 of its bytes, which run, task, attempt and prompt "
        "made each FILE, even after it was renamed or moved. Searches the run directories "
        "under outputs/ (of the current folder) unless --runs is given.",
    )
    og.add_argument("files", type=Path, nargs="+", metavar="FILE")
    og.add_argument(
        "--runs",
        type=Path,
        action="append",
        metavar="DIR",
        help="a run directory, or a folder of them, to search (repeatable; default outputs/)",
    )
    og.add_argument("--json", action="store_true", help="print the answers as JSON")
    og.set_defaults(default_runs=Path("outputs"))


def _seconds(p: argparse.ArgumentParser, flag: str, default: float, text: str | None) -> None:
    p.add_argument(flag, type=positive(float), default=default, metavar="SECONDS", help=text)


def _run_flags(r: argparse.ArgumentParser) -> None:
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
        ("--poll-interval", 2.0, "how often a task still generating is checked again"),
        (
            "--clock-skew",
            60.0,
            "allowed clock difference with the API when looking up lost submits",
        ),
        ("--settle", 2.0, "wait before looking up a submit whose answer was lost (default 2)"),
        ("--timeout", 30.0, "one HTTP exchange with the API (default 30)"),
    ):
        _seconds(r, flag, default, text)
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
        ("--video-poll-interval", "re-checks of a video task (default: its model's)"),
    ):
        r.add_argument(flag, type=positive(float), default=None, metavar="SECONDS", help=text)
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


def _limit_flags(p: argparse.ArgumentParser) -> None:
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


def _output_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quiet", action="store_true", help="only warnings and the final summary")
    g.add_argument("--verbose", action="store_true", help="debug output")


def _simulate_flags(sim: argparse.ArgumentParser) -> None:
    sim.add_argument("--host", default="127.0.0.1", help="address to serve on (keep loopback)")
    sim.add_argument("--port", type=int, default=8765, help="port to serve on")
    sim.add_argument("--qps", type=positive(float), default=20.0, help="the account's QPS limit")
    sim.add_argument("--gen", default="2-6", help="generation time range, seconds (default 2-6)")
    sim.add_argument(
        "--video-gen", default="20-60", help="video generation time range, seconds (default 20-60)"
    )
    sim.add_argument(
        "--model-times",
        type=positive(float),
        metavar="SCALE",
        help="each model's own generation times from the model table, times SCALE "
        "(instead of --gen and --video-gen)",
    )
    sim.add_argument(
        "--video-mb",
        type=float,
        default=0.0,
        metavar="MB",
        help="pad every video to this size (default: as encoded, about 1 MB for 5 s)",
    )
    sim.add_argument(
        "--drop-first",
        type=int,
        default=0,
        metavar="N",
        help="the CDN drops the connection mid-body on the first N fetches of each file",
    )
    sim.add_argument("--fail-rate", type=float, default=0.0, help="share of tasks ending in Error")
    sim.add_argument("--seed", type=int, default=0, help="the same seed replays the same faults")
    for fault, what in (
        ("error-50000", "calls answered 50000 (internal error)"),
        ("reset", "connections closed before the call is processed"),
        ("lost-submit", "submits that create the task, then close unanswered"),
        ("html-502", "calls answered by a gateway's HTML 502 page"),
        ("slow", "answers held back 5 s (the work is done)"),
        ("truncate", "image downloads cut short"),
    ):
        sim.add_argument(f"--{fault}-rate", type=float, default=0.0, help=f"share of {what}")
    sim.add_argument(
        "--token-lifetime", type=positive(float), default=86_400.0, help="seconds a token lasts"
    )
    sim.add_argument(
        "--state",
        type=Path,
        metavar="DIR",
        help="keep the account (tasks, uploads, tokens) in this folder, so a restarted "
        "simulator carries on where it stopped (default: memory only)",
    )
    sim.add_argument(
        "--account",
        action="append",
        default=[],
        metavar="APP_ID:SECRET:QPS",
        help="one more account beside the demo one (repeatable); POST /_sim/revoke revokes one",
    )
    sim.add_argument(
        "--refuse-output-refs",
        action="store_true",
        help="answer 40000 to a submit that gives one of its own output URLs as a reference",
    )
