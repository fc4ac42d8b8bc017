"""Command line: parse, set up logging, call one command, return an exit code.

Every expected failure ends here as one `error:` line and its exit code (see
`runner.errors`); only bugs print a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from importlib import import_module

from runner import logsetup
from runner.cli_args import build_parser
from runner.errors import (
    DISK_ERRNOS,
    EXIT_LOCKED,
    EXIT_STOPPED,
    EXIT_USAGE,
    DiskWriteError,
    LockedError,
    ManifestError,
    RunDirError,
    UsageError,
)

# Each command is imported when it is called: a resume of a million tasks does
# not wait for the review server's or the gallery's imports.
COMMANDS = frozenset(
    {
        "run",
        "validate",
        "plan",
        "status",
        "report",
        "simulate",
        "models",
        "review",
        "export",
        "origin",
    }
)


def command(name: str) -> Callable[[argparse.Namespace], int]:
    if name not in COMMANDS:
        raise KeyError(name)
    main: Callable[[argparse.Namespace], int] = import_module(f"runner.commands.{name}").main
    return main


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logsetup.setup(quiet=getattr(args, "quiet", False), verbose=getattr(args, "verbose", False))
    try:
        return command(args.command)(args)
    except Exception as exc:
        expected = _expected(exc)
        if expected is None:
            raise
        code, lines = expected
        for line in lines:
            print(line, file=sys.stderr)
        return code


def _expected(exc: BaseException) -> tuple[int, list[str]] | None:
    """The exit code and message lines of an expected failure; None for a bug.

    A failure inside the run's task group arrives wrapped in an exception group:
    the first expected error inside it speaks for the run."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _expected(inner)
            if found is not None:
                return found
        return None
    if isinstance(exc, ManifestError):
        lines = [f"error: {issue}" for issue in exc.issues]
        return EXIT_USAGE, [*lines, f"{len(exc.issues)} problem(s); nothing was submitted"]
    if isinstance(exc, UsageError | RunDirError):
        return EXIT_USAGE, [f"error: {exc}"]
    if isinstance(exc, LockedError):
        return EXIT_LOCKED, [f"error: {exc}"]
    if isinstance(exc, DiskWriteError) or (isinstance(exc, OSError) and exc.errno in DISK_ERRNOS):
        text = str(exc) if isinstance(exc, DiskWriteError) else _os_error(exc)
        return EXIT_STOPPED, [
            f"error: {text}: stopped; the ledger is valid, free some space and run again to resume"
        ]
    if isinstance(exc, OSError) and exc.errno is not None:
        return EXIT_USAGE, [f"error: {_os_error(exc)}"]
    return None


def _os_error(exc: OSError) -> str:
    """`path: Permission denied`, without Python's `[Errno 13]` prefix."""
    text = exc.strerror or str(exc)
    return f"{exc.filename}: {text}" if exc.filename else text
