"""Logging for people and for cron: plain timestamped lines when not on a
terminal, everything also in run.log, and secrets redacted everywhere."""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from runner.api.credentials import RedactingFilter

if TYPE_CHECKING:  # rich is imported only for a terminal: cron and pipes start sooner
    from rich.console import Console

PLAIN = "%(asctime)s %(levelname)-7s %(message)s"
DATEFMT = "%Y-%m-%d %H:%M:%S"


def setup(*, quiet: bool, verbose: bool) -> None:
    root = logging.getLogger()
    for old in root.handlers:
        if isinstance(old, RunLogHandler):  # an earlier run's run.log, in this process
            old.close()
    root.handlers.clear()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    handler: logging.Handler
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.logging import RichHandler

        handler = RichHandler(
            console=Console(stderr=True), show_path=False, log_time_format="%H:%M:%S"
        )
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(PLAIN, DATEFMT))
    handler.setLevel(logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO)
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    for noisy in ("aiohttp.access", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def console() -> Console | None:
    """On a terminal, the console log lines go to: the live display shares it, so
    its redraws and the log lines do not tear each other. Read from the logging
    set-up itself rather than kept in a module global."""
    rich_logging = sys.modules.get("rich.logging")
    if rich_logging is None:  # not imported: no terminal handler was made
        return None
    for handler in logging.getLogger().handlers:
        if isinstance(handler, rich_logging.RichHandler):
            found: Console = handler.console
            return found
    return None


class RunLogHandler(logging.FileHandler):
    """run.log on a disk that fills up: one line on stderr and no more run.log,
    instead of a traceback for every record."""

    def handleError(self, record: logging.LogRecord) -> None:
        logging.getLogger().removeHandler(self)
        error = sys.exc_info()[1]
        with contextlib.suppress(OSError):
            self.close()
        print(
            f"run.log: cannot write it any more ({error}); logging to stderr only", file=sys.stderr
        )


def attach_run_log(run_dir: Path) -> None:
    try:
        handler = RunLogHandler(run_dir / "run.log", encoding="utf-8")
    except OSError as exc:
        logging.getLogger("runner").warning("run.log: cannot open it (%s); stderr only", exc)
        return
    handler.setFormatter(logging.Formatter(PLAIN, DATEFMT))
    handler.addFilter(RedactingFilter())
    handler.setLevel(logging.getLogger().level)
    logging.getLogger().addHandler(handler)
