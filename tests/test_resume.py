"""Resuming: images are checked on disk, tokens refreshed, auth failures stop cleanly."""

from __future__ import annotations

from dataclasses import replace

import orjson

from runner.api.credentials import Credentials
from runner.commands.run import run
from runner.settings import RunRequest

from .conftest import FAST_RUN, FAST_SIM, Harness


async def test_missing_or_changed_images_are_fetched_again_without_resubmitting(
    harness: Harness,
) -> None:
    manifest = harness.manifest("tasks:\n  - a\n  - b\n  - c\n")
    assert await harness.run(manifest) == 0
    files = sorted((harness.out / "images").iterdir())
    files[0].unlink()
    files[1].write_bytes(files[1].read_bytes()[:-10])  # truncated by a crash, say
    (harness.out / "images" / ".x.0.part").write_bytes(b"left by a crash")

    assert await harness.run(manifest) == 0

    assert len(harness.sim.state.submissions) == 3
    assert harness.check_images_intact() == 3
    assert not list((harness.out / "images").glob(".*.part"))


async def test_short_lived_tokens_are_refreshed_before_they_expire(sim_factory, tmp_path) -> None:
    sim = await sim_factory(replace(FAST_SIM, token_lifetime_s=1.0, gen_s=(0.8, 1.2)))
    h = Harness(tmp_path, sim)

    assert await h.run(h.manifest("tasks:\n  - {prompt: p, repeat: 10}\n"), qps=10.0) == 0

    assert sim.state.calls["access_token"] >= 2


async def test_a_revoked_token_is_refreshed_once_and_the_run_goes_on(harness: Harness) -> None:
    sim = harness.sim
    sim.state.listeners.append(
        lambda what, _: (
            sim.state.tokens.clear()
            if what == "submit" and len(sim.state.submissions) == 2
            else None
        )
    )
    assert await harness.run(harness.manifest("tasks:\n  - {prompt: p, repeat: 4}\n")) == 0
    assert sim.state.calls["access_token"] == 2


async def test_a_refused_static_token_stops_with_exit_3_and_loses_nothing(harness: Harness) -> None:
    manifest = harness.manifest("tasks: [a, b]\n")
    creds = Credentials(access_token="not-a-valid-token", source="CHANJING_ACCESS_TOKEN")
    request = RunRequest(manifest, harness.out, FAST_RUN, progress_interval_s=3600)

    assert await run(request, harness.sim.base_url, lambda: creds) == 3

    summary = orjson.loads((harness.out / "summary.json").read_bytes())
    assert summary["tasks"]["pending"] == 2
    assert harness.sim.state.submissions == []
    assert await harness.run(manifest) == 0  # with good credentials it simply goes on
