"""The command line's grammar: every command, flag and default (`cli` parses with it).

A new command adds its sub-parser here and its module under `commands/`; a new
`run` flag, or a limit shared by validate, plan and run, goes in `cli_run_flags.py`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from runner import __version__
from runner.cli_help import DESCRIPTION, EPILOG, HelpFormatter, finish
from runner.cli_run_flags import add_limit_flags, add_output_flags, add_run_flags, positive

RUN_OR_MANIFEST = (
    "a run directory, or the manifest whose run it is (found as `run` finds it: "
    "outputs/<name> of the current folder)"
)


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
    add_run_flags(r)
    add_limit_flags(r)
    add_output_flags(r)

    v = sub.add_parser("validate", help="check a manifest; submits nothing")
    v.add_argument("manifest", type=Path, help="the YAML manifest")
    add_limit_flags(v)
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
    add_limit_flags(pl)

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
