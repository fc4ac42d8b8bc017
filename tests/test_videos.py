"""Videos end to end through the simulator: polled as videos, streamed to disk,
resumed with Range after a dropped connection, capped per kind, and safe
across kill -9 alongside images."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

import anyio
import orjson
import pytest

from runner.manifest.expand import expand
from runner.manifest.load import load_manifest
from runner.records import TaskState
from runner.rundir.ledger import read
from runner.simulator.outputs import output_body

from .conftest import FAST_SIM, Harness, sim_env
from .test_late_submit import submit_directly

VIDEO_SIM = replace(FAST_SIM, video_gen_s=(0.3, 0.6), video_bytes=3_000_000)
VIDEO_POLL = {"video_first_poll_s": 0.2, "video_poll_interval_s": 0.1}
MIXED = """
tasks:
  - prompt: a lighthouse at dusk
    matrix: {model: [seedream-4.0, seedream-4.5, seedream-3.0]}
  - {prompt: waves on a beach, model: seedance-1.0-pro, video_duration: 5}
  - prompt: a kite rising
    model: kling-2.1-master
    ref_images: [https://example.test/start.jpg]
"""


def files_intact(h: Harness) -> int:
    """Every recorded file is on disk and byte-identical to what the server serves."""
    checked = 0
    for rec in read(h.out / "ledger.jsonl").records.values():
        task = h.sim.state.tasks[rec.unique_id]
        for index, stored in rec.files.items():
            body = output_body(h.sim.config, rec.unique_id, task.body, index)
            assert (h.out / stored.path).read_bytes() == body.read(0, body.size), stored.path
            checked += 1
    return checked


async def test_a_dropped_video_download_resumes_with_range(
    sim_factory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sim = await sim_factory(replace(VIDEO_SIM, cdn_drop_first=1))  # every file's first fetch
    h = Harness(tmp_path, sim)
    manifest = h.manifest(MIXED)

    with caplog.at_level(logging.INFO, logger="runner.download"):
        assert await h.run(manifest, **VIDEO_POLL) == 0

    videos = sorted((h.out / "videos").iterdir())
    assert [p.suffix for p in videos] == [".mp4", ".mp4"]
    assert all(p.stat().st_size == 3_000_000 for p in videos)
    # The extension comes from the bytes: seedream-4.5 and 3.0 answer JPEG, 4.0 PNG.
    assert sorted(p.suffix for p in (h.out / "images").iterdir()) == [".jpg", ".jpg", ".png"]
    assert files_intact(h) == 5
    # The server's own count: each video was sent once in full, not once and a half.
    video_paths = [p for p in sim.state.cdn_bytes if p.endswith(".mp4")]
    assert len(video_paths) == 2
    assert all(sim.state.cdn_bytes[p] == 3_000_000 for p in video_paths)
    assert all(sim.state.cdn_fetches[key] == 2 for key in sim.state.cdn_fetches)
    assert caplog.text.count("resuming with Range") == 5

    summary = orjson.loads((h.out / "summary.json").read_bytes())
    assert summary["videos"] == {"expected": 2, "downloaded": 2}
    assert summary["images"] == {"expected": 3, "downloaded": 3}
    kinds = Counter((i["kind"], i["model_code"]) for i in summary["items"])
    assert kinds[("video", "Doubao-Seedance-1.0-pro")] == 1
    assert kinds[("image", "doubao-seedream-3.0-t2i")] == 1
    assert all(
        i["files"][0].startswith("videos/") for i in summary["items"] if i["kind"] == "video"
    )


async def test_videos_have_their_own_size_cap(sim_factory, tmp_path: Path) -> None:
    h = Harness(tmp_path, await sim_factory(VIDEO_SIM))
    manifest = h.manifest(MIXED)

    code = await h.run(manifest, max_video_download_bytes=2_000_000, **VIDEO_POLL)

    assert code == 1
    summary = orjson.loads((h.out / "summary.json").read_bytes())
    failed = [i for i in summary["items"] if i["status"] == "failed"]
    assert {i["kind"] for i in failed} == {"video"} and len(failed) == 2
    assert all("over the cap" in i["error"] for i in failed)
    assert summary["images"]["downloaded"] == 3  # the image cap (64 MB) is another
    assert not list((h.out / "videos").glob(".*.part"))


async def _start(h: Harness, manifest: Path) -> anyio.abc.Process:
    args = [
        "--qps",
        "40",
        "--first-poll",
        "0.3",
        "--poll-interval",
        "0.2",
        "--video-first-poll",
        "0.3",
        "--video-poll-interval",
        "0.2",
        "--settle",
        "0.3",
        "--progress-every",
        "60",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHANJING_")}
    with (h.tmp / "stderr.txt").open("ab") as log:
        return await anyio.open_process(
            [sys.executable, "-m", "runner", "run", str(manifest), "--out", str(h.out), *args],
            env={**env, **sim_env(h.sim)},
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


@pytest.mark.slow
async def test_a_mixed_run_killed_9_resumes_without_paying_twice(
    sim_factory, tmp_path: Path
) -> None:
    sim = await sim_factory(replace(VIDEO_SIM, video_bytes=20_000_000, lost_submit_rate=0.5))
    h = Harness(tmp_path, sim)
    manifest = h.manifest(MIXED.replace("video_duration: 5}", "video_duration: 5, repeat: 2}"))
    specs = expand(load_manifest(manifest))
    # Kill once while submitting, once while a video is on its way down.
    moments = [
        lambda what, _: what == "submit" and len(sim.state.submissions) >= 2,
        lambda what, path: what == "served" and str(path).endswith(".mp4"),
    ]
    for moment in moments:
        hit = anyio.Event()

        def check(what: str, detail: object, moment=moment, hit=hit) -> None:  # type: ignore[no-untyped-def]
            if moment(what, detail):
                hit.set()

        sim.state.listeners.append(check)
        proc = await _start(h, manifest)
        with anyio.fail_after(60):
            await hit.wait()
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        await proc.aclose()
        sim.state.listeners.remove(check)

    proc = await _start(h, manifest)
    with anyio.fail_after(120):
        code = await proc.wait()
    await proc.aclose()

    assert code == 0, (tmp_path / "stderr.txt").read_text()[-3000:]
    expected = Counter((s.request.prompt, s.request.model_code) for s in specs)
    created = Counter(
        (s["body"]["ref_prompt"], s["body"]["model_code"]) for s in sim.state.submissions
    )
    assert created == expected  # the server's own record: nothing submitted twice
    replay = read(h.out / "ledger.jsonl")
    assert all(r.state is TaskState.DONE for r in replay.records.values())
    assert files_intact(h) == len(specs)
    assert len(list((h.out / "videos").glob("*.mp4"))) == 3
    events = [orjson.loads(line) for line in (h.out / "ledger.jsonl").read_bytes().splitlines()]
    adopted = {e["key"] for e in events if e.get("e") == "adopted"}
    # Lost submit answers (lost_submit_rate) were found on the server, videos too
    # (listed with type 4, their request in motion_info), not sent again.
    assert "video" in {replay.records[k].spec.request.kind for k in adopted}


async def test_the_audit_finds_a_video_billed_twice(sim_factory, tmp_path: Path) -> None:
    sim = await sim_factory(VIDEO_SIM)
    h = Harness(tmp_path, sim)
    manifest = h.manifest(MIXED)
    sent = anyio.Event()
    sim.state.listeners.append(
        lambda what, task: (
            sent.set() if what == "submit" and task.body["creation_type"] == 4 else None
        )
    )

    async def deliver_a_copy() -> None:  # as a gateway delivering a submit late would
        await sent.wait()
        body = next(s["body"] for s in sim.state.submissions if s["body"]["creation_type"] == 4)
        await submit_directly(sim.base_url, body)

    async with anyio.create_task_group() as tg:
        tg.start_soon(deliver_a_copy)
        assert await h.run(manifest, **VIDEO_POLL) == 0

    summary = orjson.loads((h.out / "summary.json").read_bytes())
    assert summary["duplicates_billed"] == 1  # found in the video list (type 4)
    [dup] = summary["duplicates"]
    assert dup["files"][0].startswith("videos/") and dup["files"][0].endswith(".mp4")
    assert (h.out / dup["files"][0]).stat().st_size == 3_000_000  # paid for: kept
