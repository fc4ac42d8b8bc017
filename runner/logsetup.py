"""Logging for people and for cron: plain timestamped lines when not on a
terminal, everything also in run.log, and secrets redacted everywhere."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from .credentials import RedactingFilter

PLAIN = "%(asctime)s %(levelname)-7s %(message)s"
DATEFMT = "%Y-%m-%d %H:%M:%S"


def setup(*, quiet: bool, verbose: bool) -> None:
    root = logging.getLogger()
    root.handlers.clear()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO)
    tty = sys.stderr.isatty()
    handler.setFormatter(logging.Formatter("%(message)s" if tty else PLAIN, DATEFMT))
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    for noisy in ("aiohttp.access", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def attach_run_log(run_dir: Path) -> None:
    handler = logging.FileHandler(run_dir / "run.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter(PLAIN, DATEFMT))
    handler.addFilter(RedactingFilter())
    handler.setLevel(logging.getLogger().level)
    logging.getLogger().addHandler(handler)
