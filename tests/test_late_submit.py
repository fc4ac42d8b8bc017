"""A submit held in the network during an outage and delivered late is not paid twice."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import replace

import aiohttp
import anyio
import orjson
import pytest

from runner.commands import status
from runner.commands.run import run
from runner.settings import RunRequest
from runner.simulator import DEMO_APP_ID, DEMO_SECRET_KEY
from runner.simulator.images import render_png

from .conftest import DEMO_CREDS, FAST_RUN, Harness
from .proxy import DelayingProxy


@pytest.fixture
async def proxy(harness: Harness) -> AsyncIterator[DelayingProxy]:
    p = DelayingProxy(harness.sim.host, harness.sim.port)
    await p.start()
    yield p
    await p.stop()


async def run_through(harness: Harness, proxy: DelayingProxy, manifest, **options) -> int:  # type: ignore[no-untyped-def]
    opts = replace(FAST_RUN, timeout_s=0.5, **options)
    request = RunRequest(manifest, harness.out, opts, progress_interval_s=3600)
    return await run(request, proxy.base_url, lambda: DEMO_CREDS)


def outage_after(harness: Harness, proxy: DelayingProxy, submits: int) -> anyio.Event:
    started = anyio.Event()

    def listener(what: str, _: object) -> None:
        if what == "submit" and len(harness.sim.state.submissions) == submits and not proxy.down:
            proxy.cut()
            started.set()

    harness.sim.state.listeners.append(listener)
    return started


async def test_a_submit_delivered_late_after_an_outage_is_adopted_not_resent(
    harness: Harness, proxy: DelayingProxy, caplog: pytest.LogCaptureFixture
) -> None:
    manifest = harness.manifest(
        "tasks:\n  - {prompt: late, repeat: 4}\n" + "".join(f"  - other {i}\n" for i in range(8))
    )
    started = outage_after(harness, proxy, 3)
    caplog.set_level(logging.INFO)

    async def outage() -> None:
        await started.wait()
        await anyio.sleep(1.5)  # lookups fail meanwhile; a settle window counted from
        proxy.restore(delay_s=0.8)  # the send would be spent by now

    async with anyio.create_task_group() as tg:
        tg.start_soon(outage)
        code = await run_through(harness, proxy, manifest, settle_s=0.2)

    assert proxy.held_delivered >= 1  # the scenario happened: submits reached the server late
    assert code == 0
    assert len(harness.sim.state.submissions) == 12  # no duplicate
    assert harness.check_images_intact() == 12
    assert not any(c.reused_after_unanswered() for c in proxy.connections)
    summary = orjson.loads((harness.out / "summary.json").read_bytes())
    assert summary["duplicates_billed"] == 0


async def submit_directly(base_url: str, body: dict) -> None:  # type: ignore[type-arg]
    """What a late-delivered copy of a submit looks like to the server."""
    async with aiohttp.ClientSession() as s:
        answer = await s.post(
            f"{base_url}/open/v1/access_token",
            json={"app_id": DEMO_APP_ID, "secret_key": DEMO_SECRET_KEY},
        )
        token = (await answer.json())["data"]["access_token"]
        await s.post(
            f"{base_url}/open/v1/ai_creation/task/submit",
            json=body,
            headers={"access_token": token},
        )


async def test_the_audit_reports_and_keeps_a_task_billed_twice(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """Silent double billing is impossible: a duplicate the run could not prevent is told."""
    sim = harness.sim
    manifest = harness.manifest("tasks:\n  - twice\n" + "".join(f"  - p{i}\n" for i in range(7)))
    first = anyio.Event()
    sim.state.listeners.append(
        lambda what, task: (
            first.set() if what == "submit" and task.body["ref_prompt"] == "twice" else None
        )
    )

    async def deliver_a_copy() -> None:
        await first.wait()
        await submit_directly(sim.base_url, sim.state.submissions[0]["body"])

    async with anyio.create_task_group() as tg:
        tg.start_soon(deliver_a_copy)
        assert await harness.run(manifest) == 0

    extra = len(sim.state.submissions) - 8
    assert extra == 1  # the server holds one task twice, as after a late delivery
    summary = orjson.loads((harness.out / "summary.json").read_bytes())
    assert summary["duplicates_billed"] == extra  # and the user is told
    [dup] = summary["duplicates"]
    assert dup["status"] == "Success" and len(dup["files"]) == 1
    data = (harness.out / dup["files"][0]).read_bytes()
    long_side = sim.state.tasks[dup["unique_id"]].body["clarity"] // 8
    assert data == render_png(f"{dup['unique_id']}/0", "1:1", long_side)  # paid for: kept
    assert harness.check_images_intact() == 8
    assert any(
        "billed twice" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING
    )
    assert "billed twice" in (harness.out / "index.html").read_text(encoding="utf-8")

    # Later, `status --audit` finds what arrived after the run ended.
    await submit_directly(
        sim.base_url,
        next(s["body"] for s in sim.state.submissions if s["body"]["ref_prompt"] == "p3"),
    )
    assert (
        await anyio.to_thread.run_sync(lambda: status.audit(harness.out, sim.base_url, DEMO_CREDS))
        == 2
    )
    assert len(sim.state.submissions) - 8 == 2
    summary = orjson.loads((harness.out / "summary.json").read_bytes())
    assert summary["duplicates_billed"] == 2
