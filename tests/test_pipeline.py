"""End-to-end runs over real loopback HTTP against the simulator."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import anyio
import orjson

from runner.records import TaskState

from .conftest import FAST_SIM, Harness

TWELVE = """
name: twelve
defaults: {aspect_ratio: "9:16"}
tasks:
  - prompt: sea {n}
    repeat: 3
    vars: {n: one}
  - prompt: forest
    matrix: {aspect_ratio: ["1:1", "16:9", "4:3"]}
  - prompt: city at night
    number_of_images: 2
  - {prompt: desert, clarity: 1024, aspect_ratio: "3:4"}
  - {prompt: lake, name: lake}
  - {prompt: mountain, name: peak}
  - {prompt: river, name: river}
  - {prompt: valley, name: valley}
"""


async def test_full_run_lands_every_image_and_a_summary(harness: Harness) -> None:
    code = await harness.run(harness.manifest(TWELVE))

    assert code == 0
    summary = orjson.loads((harness.out / "summary.json").read_bytes())
    assert summary["tasks"] == {
        "total": 12,
        "succeeded": 12,
        "failed": 0,
        "pending": 0,
        "blocked": 0,
    }
    assert summary["images"] == {"expected": 13, "downloaded": 13}
    assert harness.check_images_intact() == 13
    assert len(harness.sim.state.submissions) == 12
    assert (harness.out / "index.html").read_text().count('class="task succeeded"') == 12
    # proportions follow the aspect ratio (PNG header: width, height)
    item = next(i for i in summary["items"] if i["prompt"] == "desert")
    png = (harness.out / item["files"][0]).read_bytes()
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (96, 128)


async def test_run_again_on_a_finished_run_submits_nothing(harness: Harness) -> None:
    manifest = harness.manifest(TWELVE)
    assert await harness.run(manifest) == 0
    calls_before = sum(harness.sim.state.calls.values())

    assert await harness.run(manifest) == 0

    assert sum(harness.sim.state.calls.values()) == calls_before  # not even a token call


async def test_server_rejection_fails_that_task_only(harness: Harness) -> None:
    word = FAST_SIM.reject_word
    manifest = harness.manifest(f"""
        tasks:
          - a calm harbour
          - "a {word} poster"
          - a quiet library
    """)

    code = await harness.run(manifest)

    assert code == 1
    summary = orjson.loads((harness.out / "summary.json").read_bytes())
    by_prompt = {i["prompt"]: i for i in summary["items"]}
    bad = by_prompt[f"a {word} poster"]
    assert bad["status"] == "failed"
    assert "40000" in bad["error"] and "moderation" in bad["error"]
    assert bad["trace_id"]
    assert by_prompt["a calm harbour"]["status"] == "succeeded"
    assert by_prompt["a quiet library"]["status"] == "succeeded"
    assert len(harness.sim.state.submissions) == 2  # the rejected one created nothing


async def test_generation_error_is_recorded_with_err_msg(sim_factory, tmp_path) -> None:
    sim = await sim_factory(replace(FAST_SIM, fail_rate=1.0))
    h = Harness(tmp_path, sim)

    code = await h.run(h.manifest("tasks: [a lighthouse]"))

    assert code == 1
    rec = next(iter(h.ledger().records.values()))
    assert rec.state is TaskState.FAILED
    assert "不消耗" in rec.error  # the API's err_msg, kept verbatim


async def test_40001_bursts_lose_no_task(sim_factory, tmp_path) -> None:
    # The server allows 5 calls a second; the runner is told 40.
    sim = await sim_factory(replace(FAST_SIM, qps_limit=5.0))
    h = Harness(tmp_path, sim)
    manifest = h.manifest("tasks:\n" + "".join(f"  - prompt {i}\n" for i in range(15)))

    code = await h.run(manifest, qps=40.0)

    assert code == 0
    assert sim.state.rejected_40001 > 0
    assert len(sim.state.submissions) == 15
    assert h.check_images_intact() == 15


async def test_polling_asks_about_up_to_50_tasks_per_call(sim_factory, tmp_path) -> None:
    sim = await sim_factory(replace(FAST_SIM, gen_s=(0.5, 0.6)))
    h = Harness(tmp_path, sim)
    manifest = h.manifest("tasks:\n  - prompt: p\n    repeat: 120\n")

    code = await h.run(manifest, qps=200.0, first_poll_s=0.7, poll_interval_s=0.5)

    assert code == 0
    calls = sim.state.calls
    assert calls["ai_creation/task/submit"] == 120
    # 120 tasks all done by their first check: 3 full calls would do; allow a few partial.
    # Counted by the ids asked about: the end-of-run audit's listings are not polls.
    polls = sim.state.id_queries
    assert max(polls) <= 50
    assert 3 <= len(polls) <= 8, polls
    assert calls.get("ai_creation/task", 0) == 0  # never one task at a time


async def test_cancelled_run_resumes_without_paying_twice(sim_factory, tmp_path) -> None:
    sim = await sim_factory(replace(FAST_SIM, gen_s=(0.3, 0.6)))
    h = Harness(tmp_path, sim)
    manifest = h.manifest(
        "tasks:\n  - prompt: p {i}\n    matrix: {i: ["
        + ", ".join(str(i) for i in range(20))
        + "]}\n"
    )
    enough = anyio.Event()
    sim.state.listeners.append(
        lambda what, _: (
            enough.set() if what == "submit" and len(sim.state.submissions) == 8 else None
        )
    )

    async with anyio.create_task_group() as tg:

        async def first_run() -> None:
            await h.run(manifest, qps=20.0)

        tg.start_soon(first_run)
        await enough.wait()
        tg.cancel_scope.cancel()

    interrupted = h.ledger()
    assert any(not r.state.final for r in interrupted.records.values())

    assert await h.run(manifest) == 0

    ids = Counter(s["body"]["ref_prompt"] for s in sim.state.submissions)
    assert len(ids) == 20 and set(ids.values()) == {1}, ids
    assert h.check_images_intact() == 20


async def test_a_failed_download_is_fetched_again_from_fresh_urls(sim_factory, tmp_path) -> None:
    # The first two fetches of every image fail: a 404 (the URL expired), then a short body.
    sim = await sim_factory(replace(FAST_SIM, cdn_fail_first=2))
    h = Harness(tmp_path, sim)

    code = await h.run(
        h.manifest("tasks:\n  - prompt: p\n    repeat: 3\n    number_of_images: 2\n")
    )

    assert code == 0
    assert h.check_images_intact() == 6
    assert sim.state.calls["ai_creation/task"] >= 6  # re-queried for fresh URLs
    assert not list((h.out / "images").glob(".*"))  # no partial file left behind


async def test_an_image_that_keeps_failing_is_marked_failed_then_fetched_on_resume(
    sim_factory, tmp_path
) -> None:
    sim = await sim_factory(replace(FAST_SIM, cdn_fail_first=100))
    h = Harness(tmp_path, sim)
    manifest = h.manifest("tasks: [a, b]\n")

    assert await h.run(manifest, download_attempts=3) == 1

    summary = orjson.loads((h.out / "summary.json").read_bytes())
    assert summary["tasks"]["failed"] == 2
    assert all("after 3 attempts" in i["error"] for i in summary["items"])
    # bounded: 3 attempts an image; the two cut-off bodies each resumed once with Range
    assert sum(sim.state.cdn_fetches.values()) == 10

    sim.state.config = replace(sim.state.config, cdn_fail_first=0)  # the CDN recovers
    assert await h.run(manifest) == 0
    assert len(sim.state.submissions) == 2  # paid once; only the images were fetched again
    assert h.check_images_intact() == 2


async def test_polling_and_submitting_share_the_budget(sim_factory, tmp_path) -> None:
    """Images arrive while submission is still going, and polls stay a small share."""
    sim = await sim_factory(replace(FAST_SIM, qps_limit=40.0, gen_s=(0.2, 0.4)))
    h = Harness(tmp_path, sim)
    manifest = h.manifest("tasks:\n  - {prompt: p, repeat: 200}\n")

    assert await h.run(manifest, qps=40.0, poll_linger_s=2.0) == 0

    events = [orjson.loads(line) for line in (h.out / "ledger.jsonl").read_bytes().splitlines()]
    kinds = [e["e"] for e in events]
    last_submit = len(kinds) - 1 - kinds[::-1].index("submitted")
    assert kinds.index("downloaded") < last_submit  # polling was not starved by submitting
    calls = sim.state.calls
    assert calls["ai_creation/task/page"] <= 0.15 * calls["ai_creation/task/submit"]
    # Paced at exactly the server's limit, a call delayed on a loaded machine can still
    # land one over in the server's window now and then; polls eating into the budget
    # would be refused by the dozen.
    assert sim.state.rejected_40001 <= 2
