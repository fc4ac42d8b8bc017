"""Where log lines go: a terminal gets rich's handler (whose console the live display
shares), a pipe or cron gets plain timestamped lines and no console."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from runner import logsetup


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def root_handlers() -> Iterator[None]:
    root = logging.getLogger()
    kept, level = list(root.handlers), root.level
    yield
    root.handlers[:] = kept
    root.setLevel(level)


def test_a_terminal_gets_a_console_that_the_live_display_shares(
    root_handlers: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    logsetup.setup(quiet=False, verbose=False)
    console = logsetup.console()
    assert console is not None
    logging.getLogger("runner.test").info("hello from the run")
    assert "hello from the run" in terminal.getvalue()


def test_a_pipe_gets_plain_lines_and_no_console(
    root_handlers: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipe = io.StringIO()
    monkeypatch.setattr("sys.stderr", pipe)
    logsetup.setup(quiet=False, verbose=False)
    assert logsetup.console() is None
    logging.getLogger("runner.test").info("hello from cron")
    line = pipe.getvalue()
    assert "INFO" in line and line.rstrip().endswith("hello from cron")
