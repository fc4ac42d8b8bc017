"""Chained tasks end to end through the simulator: no stage barrier, blocked, fallback."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson

from runner.commands.status import status_data, status_text
from runner.records import TaskState

from .conftest import FAST_SIM, Harness

EXAMPLE = Path(__file__).resolve().parent.parent / "jobs" / "chain.yaml"
THREE_STAGES = """
name: story
tasks:
  - name: knight
    prompt: "character sheet of a knight"
    number_of_images: 2
  - name: scene
    prompt: "the knight rides, {time}"
    ref_images: ["@knight"]
    matrix: {time: [dawn, dusk]}
  - name: clip
    prompt: "slow push-in"
    for_each: "@scene"
  - {name: filler, prompt: "an unrelated still life", repeat: FILLER}
"""


def by_prompt(h: Harness) -> dict[str, list[dict[str, Any]]]:
    """The server's own record of what it was asked, by prompt."""
    out: dict[str, list[dict[str, Any]]] = {}
    for sub in h.sim.state.submissions:
        out.setdefault(sub["body"]["ref_prompt"], []).append(sub)
    return out


def outputs_of(h: Harness, unique_id: str) -> list[str]:
    task = h.sim.state.tasks[unique_id]
    count = task.body.get("number_of_images", 1)
    return [f"{h.sim.base_url}/cdn/{unique_id}/{i}.png?v={task.url_version}" for i in range(count)]


async def test_a_three_stage_chain_runs_without_stage_barriers(harness: Harness) -> None:
    h = harness
    manifest = h.manifest(THREE_STAGES.replace("FILLER", "30"))

    # The default linger: a partial poll batch may wait 10 s while tasks are being sent,
    # but not one with a parent in it.
    assert await h.run(manifest, qps=10.0, poll_linger_s=10.0) == 0

    subs = by_prompt(h)
    # Each task created once on the server; its references are its parents' output URLs.
    assert Counter({p: len(s) for p, s in subs.items()}) == Counter(
        {
            "character sheet of a knight": 1,
            "the knight rides, dawn": 1,
            "the knight rides, dusk": 1,
            "slow push-in": 2,
            "an unrelated still life": 30,
        }
    )
    knight = subs["character sheet of a knight"][0]["unique_id"]
    scenes = subs["the knight rides, dawn"] + subs["the knight rides, dusk"]
    for scene in scenes:
        assert scene["body"]["ref_img_url"] == outputs_of(h, knight)
    clip_refs = sorted(c["body"]["ref_img_url"][0] for c in subs["slow push-in"])
    assert clip_refs == sorted(outputs_of(h, s["unique_id"])[0] for s in scenes)
    # No barrier: the scenes went out while the independent tasks were still being sent.
    order = [s["body"]["ref_prompt"] for s in h.sim.state.submissions]
    last_filler = max(i for i, p in enumerate(order) if p == "an unrelated still life")
    assert order.index("the knight rides, dawn") < last_filler
    # The ledger records the references each child was sent, and the report shows the chain.
    replay = h.ledger()
    for rec in replay.records.values():
        assert rec.state is TaskState.DONE
        if rec.spec.request.parents:
            assert rec.sent_refs == h.sim.state.tasks[rec.unique_id].body["ref_img_url"]
    assert h.check_images_intact() == 2 + 2 + 2 + 30
    summary = orjson.loads((h.out / "summary.json").read_bytes())
    clip = next(i for i in summary["items"] if i["name"] == "clip")
    parent = next(i for i in summary["items"] if i["key"] == clip["parents"][0])
    assert parent["name"] == "scene"
    assert clip["given"][0]["file"] == parent["files"][0]
    assert clip["given"][0]["url"] in clip_refs
    page = (h.out / "index.html").read_text()
    assert f'href="#t-{parent["key"]}"' in page and f'id="t-{parent["key"]}"' in page
    status = status_text(status_data(h.out))
    assert "stage 3: 2 task(s) (clip ×2); done 2" in status
    # status names, for each child, the parent outputs it was given.
    given = f"scene [{parent['key'][:8]}] #1 ({parent['files'][0]})"
    assert f"clip [{clip['key'][:8]}] done <- {given}" in status


async def test_a_failed_parent_blocks_its_children_until_retry_failed(
    sim_factory, tmp_path
) -> None:
    config = replace(FAST_SIM, fail_rate=1.0)
    h = Harness(tmp_path, await sim_factory(config))
    manifest = h.manifest(THREE_STAGES.replace("FILLER", "1"))

    assert await h.run(manifest) == 1

    # Only the tasks that need nothing were sent (and failed); the rest were never billed.
    assert sorted(s["body"]["ref_prompt"] for s in h.sim.state.submissions) == [
        "an unrelated still life",
        "character sheet of a knight",
    ]
    summary = orjson.loads((h.out / "summary.json").read_bytes())
    assert summary["tasks"] == {
        "total": 6,
        "succeeded": 0,
        "failed": 2,
        "pending": 0,
        "blocked": 4,
    }
    blocked = [i for i in summary["items"] if i["status"] == "blocked"]
    assert {i["name"] for i in blocked} == {"scene", "clip"}
    assert all("knight" in i["error"] and "generation failed" in i["error"] for i in blocked)
    status = status_data(h.out)
    assert status["states"]["blocked"] == 4 and len(status["blocked"]) == 4
    assert "blocked (never sent" in status_text(status)
    assert 'class="task blocked"' in (h.out / "index.html").read_text()

    h.sim.state.config = replace(config, fail_rate=0.0)
    assert await h.run(manifest, retry_failed=True) == 0

    counts = Counter(s["body"]["ref_prompt"] for s in h.sim.state.submissions)
    assert counts["character sheet of a knight"] == 2  # the failed attempt, then the retry
    assert counts["slow push-in"] == 2 and counts["the knight rides, dawn"] == 1
    assert all(r.state is TaskState.DONE for r in h.ledger().records.values())


async def test_a_refused_output_url_is_uploaded_once_and_sent_again(sim_factory, tmp_path) -> None:
    sim = await sim_factory(replace(FAST_SIM, refuse_output_refs=True, file_limit_per_min=600))
    h = Harness(tmp_path, sim)
    manifest = h.manifest(THREE_STAGES.replace("FILLER", "1"))

    assert await h.run(manifest, file_calls_per_min=600.0) == 0

    # Two knight images, used by both scenes: two uploads; each scene created once.
    assert len(sim.state.upload_puts) == 2 + 2  # and one per scene output for the clips
    subs = by_prompt(h)
    assert len(subs["the knight rides, dawn"]) == 1 and len(subs["slow push-in"]) == 2
    for sub in h.sim.state.submissions:
        assert all("/cdn/uploads/" in url for url in sub["body"].get("ref_img_url", []))
    events = [orjson.loads(line) for line in (h.out / "ledger.jsonl").read_bytes().splitlines()]
    refused = [e for e in events if e["e"] == "not_sent" and e["why"].startswith("40000")]
    assert len(refused) == 4  # each child tried its parent's URL once
    uploaded = [e for e in events if e["e"] == "uploaded"]
    assert len(uploaded) == 4 and len({e["sha256"] for e in uploaded}) == 4
    for rec in h.ledger().records.values():
        if rec.spec.request.parents:
            assert rec.sent_refs == sim.state.tasks[rec.unique_id].body["ref_img_url"]

    # A second run finds everything done and uploads nothing more.
    assert await h.run(manifest) == 0
    assert len(sim.state.upload_puts) == 4


async def test_an_output_url_older_than_the_limit_is_uploaded_without_trying_it(
    sim_factory, tmp_path
) -> None:
    sim = await sim_factory(replace(FAST_SIM, file_limit_per_min=600))
    h = Harness(tmp_path, sim)
    manifest = h.manifest(
        """
        tasks:
          - {name: sheet, prompt: sheet}
          - {name: scene, prompt: scene, ref_images: ["@sheet", "https://example.com/x.jpg"]}
        """
    )

    assert await h.run(manifest, ref_url_max_age_s=0.0, file_calls_per_min=600.0) == 0

    scene = by_prompt(h)["scene"]
    assert len(scene) == 1 and len(sim.state.upload_puts) == 1
    refs = scene[0]["body"]["ref_img_url"]
    assert "/cdn/uploads/" in refs[0] and refs[1] == "https://example.com/x.jpg"
    assert sim.state.calls["ai_creation/task/submit"] == 2  # no refused attempt


async def test_the_chain_example_runs_against_the_simulator(sim_factory, tmp_path) -> None:
    h = Harness(tmp_path, await sim_factory(replace(FAST_SIM, video_gen_s=(0.2, 0.4))))

    assert await h.run(EXAMPLE, video_first_poll_s=0.2, video_poll_interval_s=0.1) == 0

    records = list(h.ledger().records.values())
    assert len(records) == 6 and all(r.state is TaskState.DONE for r in records)
    clips = [r for r in records if r.spec.name == "clip"]
    scenes = {r.key: r for r in records if r.spec.name == "scene"}
    assert len(clips) == 2  # one video per scene image
    for clip in clips:
        (parent,) = clip.spec.request.parents
        assert parent in scenes and clip.files[0].path.endswith(".mp4")
        body = h.sim.state.tasks[clip.unique_id].body
        assert body["creation_type"] == 4 and body["ref_img_url"] == clip.sent_refs


async def test_children_sent_before_the_ledger_lost_its_tail_are_adopted(harness: Harness) -> None:
    h = harness
    manifest = h.manifest(
        """
        tasks:
          - {name: sheet, prompt: sheet, number_of_images: 3}
          - {name: pose, prompt: "the same pose", for_each: "@sheet"}
        """
    )
    assert await h.run(manifest) == 0
    # Cut the ledger just before the first child's intent: the children look unsent,
    # their parent done. They differ only in which output they were given.
    path = h.out / "ledger.jsonl"
    data = path.read_bytes()
    children = {r.key for r in h.ledger().records.values() if r.spec.name == "pose"}
    offset = 0
    for line in data.splitlines(keepends=True):
        event = orjson.loads(line)
        if event["e"] == "intent" and event["key"] in children:
            break
        offset += len(line)
    path.write_bytes(data[:offset])
    (h.out / "ledger.checkpoint").unlink(missing_ok=True)
    assert {r.state for r in h.ledger().records.values() if r.key in children} == {
        TaskState.PLANNED
    }

    assert await h.run(manifest) == 0

    assert len(h.sim.state.submissions) == 4  # nothing paid twice
    records = h.ledger().records.values()
    for rec in records:  # each child adopted the very task made from its own output
        if rec.key in children:
            body = h.sim.state.tasks[rec.unique_id].body
            (parent,) = rec.spec.request.parents
            index = int(rec.spec.request.ref_images[0].rsplit("#", 1)[1])
            assert body["ref_img_url"] == [
                outputs_of(h, h.ledger().records[parent].unique_id)[index]
            ]
