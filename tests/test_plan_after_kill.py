"""`plan` after a kill: what was submitted, what is in flight, done and left."""

from __future__ import annotations

import json
from dataclasses import replace

import anyio

from .conftest import FAST_SIM, Harness, cli, sim_env


async def test_plan_after_a_kill_counts_submitted_in_flight_done_and_left(
    sim_factory, tmp_path
) -> None:
    sim = await sim_factory(replace(FAST_SIM, gen_s=(0.5, 1.0)))
    h = Harness(tmp_path, sim)
    manifest = h.manifest("tasks:\n" + "".join(f"  - k{i}\n" for i in range(20)))
    reached = anyio.Event()
    sim.state.listeners.append(
        lambda what, _: (
            reached.set() if what == "submit" and len(sim.state.submissions) >= 14 else None
        )
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(h.run, manifest)
        await reached.wait()
        tg.cancel_scope.cancel()
    on_server = len(sim.state.submissions)

    shown = await cli("plan", str(manifest), "--out", str(h.out), "--json", env=sim_env(sim))
    assert shown.returncode == 0, shown.stderr
    tot = json.loads(shown.stdout)["totals"]
    assert tot["submitted"] >= on_server >= 14  # it used to say "already done 0, left 20"
    assert tot["submitted"] == tot["in_flight"] + tot["already_done"] + tot["failed"]
    assert tot["in_flight"] >= 1 and tot["left"] == 20 - tot["already_done"]
    assert tot["unsent"] == 20 - tot["submitted"]
    text = await cli("plan", str(manifest), "--out", str(h.out), env=sim_env(sim))
    assert f"{tot['in_flight']} in flight" in text.stdout.decode()
    assert f"submitted {tot['submitted']}" in text.stdout.decode()

    assert await h.run(manifest) == 0
    assert len(sim.state.submissions) == 20  # nothing paid twice
    assert h.check_images_intact() == 20
