"""A ledger that lost its tail: the re-run adopts what the server has, pays nothing twice."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import replace
from functools import partial

import anyio
import orjson
import pytest

from .conftest import Harness
from .test_videos import VIDEO_POLL, VIDEO_SIM

TASKS = 30


def kill_after(harness: Harness, submits: int) -> anyio.Event:
    reached = anyio.Event()
    harness.sim.state.listeners.append(
        lambda what, _: (
            reached.set()
            if what == "submit" and len(harness.sim.state.submissions) >= submits
            else None
        )
    )
    return reached


@pytest.mark.parametrize("cut", ["line boundary", "mid-line"])
async def test_a_ledger_cut_at_70_percent_resubmits_nothing(
    harness: Harness, cut: str, caplog: pytest.LogCaptureFixture
) -> None:
    manifest = harness.manifest(
        "tasks:\n  - {prompt: same, repeat: 6}\n"
        + "".join(f"  - prompt {i}\n" for i in range(TASKS - 6))
    )
    reached = kill_after(harness, 21)
    async with anyio.create_task_group() as tg:
        tg.start_soon(harness.run, manifest)
        await reached.wait()  # 70 % submitted: kill
        tg.cancel_scope.cancel()
    harness.sim.state.listeners.clear()
    path = harness.out / "ledger.jsonl"
    data = path.read_bytes()
    line_end = data.rindex(b"\n", 0, int(len(data) * 0.7)) + 1
    at = line_end if cut == "line boundary" else line_end + 5  # or a few bytes into a line
    path.write_bytes(data[:at])
    (harness.out / "ledger.checkpoint").unlink(missing_ok=True)
    before = Counter(r.state.value for r in harness.ledger().records.values())
    assert before["planned"] > TASKS - 21, before  # the cut made sent tasks look unsent
    caplog.set_level(logging.INFO)

    assert await harness.run(manifest) == 0

    assert len(harness.sim.state.submissions) == TASKS  # nothing paid twice
    assert harness.check_images_intact() == TASKS
    adopted = [m for r in caplog.records if "lost its tail" in (m := r.getMessage())]
    assert adopted and int(adopted[0].split("resume: ")[1].split()[0]) >= 1, adopted
    summary = orjson.loads((harness.out / "summary.json").read_bytes())
    assert summary["duplicates_billed"] == 0


async def test_an_ordinary_resume_adopts_nothing_and_sends_the_rest(harness: Harness) -> None:
    manifest = harness.manifest("tasks:\n" + "".join(f"  - q{i}\n" for i in range(10)))
    reached = kill_after(harness, 4)
    async with anyio.create_task_group() as tg:
        tg.start_soon(harness.run, manifest)
        await reached.wait()
        tg.cancel_scope.cancel()
    harness.sim.state.listeners.clear()

    assert await harness.run(manifest) == 0

    assert len(harness.sim.state.submissions) == 10
    assert harness.check_images_intact() == 10


async def test_a_cut_ledger_of_video_tasks_resubmits_nothing(sim_factory, tmp_path) -> None:
    # The task list shows one kind a call: adoption must list videos (type 4) too.
    h = Harness(tmp_path, await sim_factory(replace(VIDEO_SIM, video_bytes=100_000)))
    manifest = h.manifest(
        "defaults: {model: seedance-1.0-pro, video_duration: 5}\ntasks:\n"
        + "".join(f"  - clip {i}\n" for i in range(10))
    )
    reached = kill_after(h, 7)
    async with anyio.create_task_group() as tg:
        tg.start_soon(partial(h.run, manifest, **VIDEO_POLL))
        await reached.wait()
        tg.cancel_scope.cancel()
    h.sim.state.listeners.clear()
    path = h.out / "ledger.jsonl"
    data = path.read_bytes()
    path.write_bytes(data[: data.rindex(b"\n", 0, int(len(data) * 0.7)) + 1])
    (h.out / "ledger.checkpoint").unlink(missing_ok=True)
    before = Counter(r.state.value for r in h.ledger().records.values())
    assert before["planned"] > 10 - 7, before  # the cut made sent tasks look unsent

    assert await h.run(manifest, **VIDEO_POLL) == 0

    assert len(h.sim.state.submissions) == 10  # nothing paid twice
    assert sum(len(r.files) for r in h.ledger().records.values()) == 10
