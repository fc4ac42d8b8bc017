"""What the operator asks of a finished run: retry the failures, be told when it ends."""

from __future__ import annotations

import logging
from dataclasses import replace

import orjson
import pytest
from aiohttp import web

from runner.commands.run import run
from runner.settings import RunRequest

from .conftest import DEMO_CREDS, FAST_RUN, FAST_SIM, Harness, loopback_app


async def test_retry_failed_resubmits_only_the_errors_as_new_attempts(
    sim_factory, tmp_path
) -> None:
    sim = await sim_factory(replace(FAST_SIM, fail_rate=1.0))
    h = Harness(tmp_path, sim)
    manifest = h.manifest("tasks: [a, b]\n")
    assert await h.run(manifest) == 1
    sim.state.config = replace(sim.state.config, fail_rate=0.0)  # the outage is over

    assert await h.run(manifest) == 1  # a plain re-run leaves failed tasks alone
    assert len(sim.state.submissions) == 2
    assert await h.run(manifest, retry_failed=True) == 0

    assert len(sim.state.submissions) == 4
    records = h.ledger().records.values()
    assert {r.attempt for r in records} == {2}
    assert h.check_images_intact() == 2


async def _run_notifying(h: Harness, url: str) -> int:
    request = RunRequest(
        h.manifest("tasks: [a]\n"), h.out, FAST_RUN, progress_interval_s=3600, notify_url=url
    )
    return await run(request, h.sim.base_url, lambda: DEMO_CREDS)


async def test_notify_url_gets_the_summary(harness: Harness) -> None:
    received: list[dict] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(orjson.loads(await request.read()))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    async with loopback_app(app) as url:
        assert await _run_notifying(harness, f"{url}/hook") == 0
    assert len(received) == 1
    assert received[0]["tasks"]["succeeded"] == 1 and received[0]["exit_code"] == 0


async def test_a_failed_notification_is_not_fatal(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    # The simulator has no /nowhere: HTTP 404, logged, and the run still exits 0.
    assert await _run_notifying(harness, f"{harness.sim.base_url}/nowhere") == 0
    assert "nowhere answered HTTP 404" in caplog.text
    assert await _run_notifying(harness, "http://127.0.0.1:1/closed") == 0
    assert "closed failed: ClientConnectorError" in caplog.text
