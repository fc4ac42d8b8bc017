"""A dead API: warned about within the first minute and every minute, given up in time."""

from __future__ import annotations

import itertools
import logging
import socket
from dataclasses import replace

import anyio
import orjson
import pytest

from runner.api import health as health_mod
from runner.api.health import ApiHealth
from runner.commands.run import run
from runner.settings import RunRequest

from .conftest import DEMO_CREDS, FAST_RUN, Harness


class SteppedClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_warnings_within_the_first_minute_then_once_a_minute_then_give_up() -> None:
    clock = SteppedClock()
    health = ApiHealth("http://127.0.0.1:9", clock)
    warnings, gave_up_at = [], None
    for second in range(1000):
        clock.now = 1000.0 + second
        if second % 3 == 0:
            health.failed("cannot connect: [Errno 111] Connection refused")
        verdict = health.due(clock.now, 900.0)
        if verdict.warning and not verdict.give_up:
            warnings.append(second)
            assert "http://127.0.0.1:9" in verdict.warning
            assert "Connection refused" in verdict.warning
        if verdict.give_up:
            gave_up_at = second
            break
    assert warnings[0] < 60
    assert all(b - a == 60 for a, b in itertools.pairwise(warnings))
    assert len(warnings) == 15  # 10 s, 70 s, ... 850 s
    assert gave_up_at == 900


def test_an_answer_resets_the_watch_and_marks_the_recovery() -> None:
    clock = SteppedClock()
    health = ApiHealth("http://api", clock)
    health.ok()
    clock.now += 5
    health.failed("no answer: TimeoutError")
    clock.now += 30
    assert health.due(clock.now, 60.0).warning is not None
    health.ok()
    assert health.recovered_at == clock.now
    clock.now += 50
    assert health.due(clock.now, 60.0) == health_mod.Verdict()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_closed_port_warns_and_gives_up_with_exit_4_then_resumes(
    harness: Harness, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(health_mod, "FIRST_WARNING_S", 0.3)
    monkeypatch.setattr(health_mod, "WARNING_EVERY_S", 0.5)
    manifest = harness.manifest("tasks:\n  - {prompt: dead, repeat: 4}\n  - other\n")
    dead = f"http://127.0.0.1:{free_port()}"
    request = RunRequest(
        manifest, harness.out, replace(FAST_RUN, give_up_after_s=1.5), progress_interval_s=3600
    )
    caplog.set_level(logging.INFO)

    with anyio.fail_after(30):  # it used to retry forever
        assert await run(request, dead, lambda: DEMO_CREDS) == 4

    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    unreachable = [m for m in warned if "unreachable" in m and dead in m]
    assert unreachable and "Errno 111" in unreachable[0], warned
    assert any("--give-up-after" in m for m in warned), warned
    summary = orjson.loads((harness.out / "summary.json").read_bytes())
    assert summary["exit_code"] == 4 and summary["tasks"]["pending"] == 5
    assert summary["stopped"] == "API unreachable"
    assert harness.sim.state.submissions == []

    assert await harness.run(manifest) == 0  # the API is back: the run resumes and finishes

    assert len(harness.sim.state.submissions) == 5
    assert harness.check_images_intact() == 5
