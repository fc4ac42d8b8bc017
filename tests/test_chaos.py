"""kill -9 at seeded random moments, with faults on: never pay twice, never lose an image."""

from __future__ import annotations

import os
import random
import subprocess
from collections import Counter
from dataclasses import replace
from pathlib import Path

import anyio
import pytest

from runner.bench.runner_cli import child_env, run_argv
from runner.manifest.expand import expand
from runner.manifest.load import load_manifest
from runner.records import TaskState
from runner.rundir.ledger import read

from .conftest import FAST_SIM, Harness, kill_9_when, sim_env

CHAOS_SIM = replace(
    FAST_SIM,
    gen_s=(0.3, 1.0),
    lost_submit_rate=0.15,
    reset_rate=0.05,
    error_50000_rate=0.05,
    html_502_rate=0.03,
    slow_rate=0.03,
    slow_s=1.5,
    truncate_rate=0.1,
    cdn_404_rate=0.05,
    token_lifetime_s=3.0,
    seed=int(os.environ.get("CHAOS_SEED", "424242")),  # vary it by hand to hunt for bugs
)
MANIFEST = """
name: chaos
tasks:
  - {prompt: twin, repeat: 4}
  - prompt: "sweep {n}"
    matrix: {n: [SWEEP]}
  - {prompt: pair, number_of_images: 2, repeat: 3}
  - {prompt: wide, aspect_ratio: "16:9", repeat: 3}
  - {prompt: big, clarity: 4096}
  - {prompt: small, clarity: 1024, number_of_images: 3}
  - another
  - and another
""".replace("SWEEP", ", ".join(str(n) for n in range(1, 61)))
ARGS = [
    "--qps",
    "40",
    "--first-poll",
    "0.3",
    "--poll-interval",
    "0.2",
    "--timeout",
    "1",
    "--settle",
    "0.3",
    "--progress-every",
    "60",
]


async def start(h: Harness, manifest: Path) -> anyio.abc.Process:
    with (h.tmp / "stderr.txt").open("ab") as log:
        return await anyio.open_process(
            run_argv(manifest, h.out, *ARGS),
            env=child_env(sim_env(h.sim)),
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


@pytest.mark.slow
async def test_kill_9_at_random_moments_then_resume(sim_factory, tmp_path: Path) -> None:
    h = Harness(tmp_path, await sim_factory(CHAOS_SIM))
    manifest = h.manifest(MANIFEST)
    specs = expand(load_manifest(manifest))
    rng = random.Random(CHAOS_SIM.seed)
    calls = [0]
    h.sim.state.listeners.append(lambda what, _: calls.__setitem__(0, calls[0] + (what == "call")))

    kills = 0
    for _ in range(6):
        target = calls[0] + rng.randint(3, 25)
        hit = anyio.Event()

        def check(what: str, _: object, target: int = target, hit: anyio.Event = hit) -> None:
            if what == "call" and calls[0] >= target:
                hit.set()

        h.sim.state.listeners.append(check)
        kills += await kill_9_when(await start(h, manifest), hit)
        h.sim.state.listeners.remove(check)

    proc = await start(h, manifest)
    with anyio.fail_after(120):
        code = await proc.wait()
    await proc.aclose()

    assert kills >= 5
    assert code == 0, (tmp_path / "stderr.txt").read_text()[-3000:]
    # From the server's own records: one task per manifest task, no more.
    expected = Counter(s.request.prompt for s in specs)
    created = Counter(s["body"]["ref_prompt"] for s in h.sim.state.submissions)
    assert created == expected
    replay = read(h.out / "ledger.jsonl")
    assert replay.bad_lines == 0
    uids = [r.unique_id for r in replay.records.values()]
    assert all(r.state is TaskState.DONE for r in replay.records.values())
    assert len(set(uids)) == len(specs) and set(uids) == set(h.sim.state.tasks)
    assert h.check_images_intact() == sum(s.request.number_of_images for s in specs)
