"""Resuming against the simulator as against the real API (issue 13, item 1)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from runner.pipeline import poll

from .conftest import Harness


async def test_a_task_the_api_forgot_is_reported_at_the_first_miss(
    harness: Harness, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(poll, "MAX_MISSES", 3)
    forgotten: list[str] = []

    def forget(what: str, detail: Any) -> None:  # the account loses each task it creates
        if what == "submit":
            forgotten.append(detail.unique_id)
            harness.sim.state.tasks.pop(detail.unique_id)

    harness.sim.state.listeners.append(forget)
    manifest = harness.manifest("tasks: [a red kite, a blue kite]\n")
    caplog.set_level(logging.WARNING)
    assert await harness.run(manifest) == 1
    said = [r.getMessage() for r in caplog.records if "does not list it" in r.getMessage()]
    assert len(said) == 2, said  # one line per task, not one per check
    for uid in forgotten:
        (line,) = [text for text in said if uid in text]
        assert "after 2 more checks" in line  # said at the first miss, with what comes next
        assert "--retry-failed" in line
