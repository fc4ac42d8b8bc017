"""Submits whose answer was lost are found on the server, never paid for twice."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import replace

import aiohttp
import anyio
import orjson

from runner.manifest.expand import expand
from runner.manifest.load import load_manifest
from runner.pipeline.reconcile import assign
from runner.records import Request
from runner.rundir.ledger import Ledger
from runner.simulator import DEMO_APP_ID, DEMO_SECRET_KEY

from .conftest import FAST_SIM, Harness


def item(uid: str, created: float, request: Request) -> dict:
    body = request.body()
    return {
        "unique_id": uid,
        "create_time": int(created),
        "model_code": body["model_code"],
        "photo_info": {
            "ref_prompt": body["ref_prompt"],
            "ref_img_url": [],
            "aspect_ratio": body["aspect_ratio"],
            "clarity": body["clarity"],
            "number_of_images": body["number_of_images"],
        },
    }


def test_identical_requests_never_adopt_the_same_task() -> None:
    req, other = Request("same"), Request("other")
    items = [
        item("u1", 1000, req),
        item("u2", 1001, req),
        item("u3", 1001, other),
        item("old", 800, req),
        item("mine", 1002, req),
    ]
    pending = [
        ("a", 1000.5, req, None),
        ("b", 1000.7, req, None),
        ("c", 1000.9, req, None),
        ("d", 1000.0, other, None),
    ]

    found = assign(pending, items, taken={"mine"}, skew_s=60)

    assert found == {"a": "u1", "b": "u2", "d": "u3"}  # "c" was never created: resubmit it
    assert len(set(found.values())) == len(found)


def test_a_different_request_or_an_older_task_is_not_a_match() -> None:
    req = Request("p", aspect_ratio="16:9")
    items = [item("x", 1000, Request("p", aspect_ratio="1:1")), item("y", 100, req)]
    assert assign([("k", 1000.0, req, None)], items, taken=set(), skew_s=60) == {}


async def test_lost_answers_during_a_run_are_adopted(sim_factory, tmp_path) -> None:
    sim = await sim_factory(replace(FAST_SIM, lost_submit_rate=0.4, seed=7))
    h = Harness(tmp_path, sim)
    manifest = h.manifest("tasks:\n  - {prompt: same, repeat: 6}\n  - a\n  - b\n  - c\n  - d\n")

    assert await h.run(manifest) == 0

    assert len(sim.state.submissions) == 10  # one server task per manifest task
    uids = [r.unique_id for r in h.ledger().records.values()]
    assert len(set(uids)) == 10
    summary = orjson.loads((h.out / "summary.json").read_bytes())
    assert summary["in_doubt"]["adopted"] >= 1
    assert h.check_images_intact() == 10


async def test_resets_before_the_server_acts_are_resubmitted_once(sim_factory, tmp_path) -> None:
    sim = await sim_factory(
        replace(FAST_SIM, reset_rate=0.3, error_50000_rate=0.1, html_502_rate=0.1, seed=11)
    )
    h = Harness(tmp_path, sim)

    assert await h.run(h.manifest("tasks:\n  - {prompt: p, repeat: 8}\n")) == 0

    assert len(sim.state.submissions) == 8
    summary = orjson.loads((h.out / "summary.json").read_bytes())
    assert summary["in_doubt"]["resubmitted"] >= 1


async def test_interrupted_while_waiting_for_the_answer_then_adopted_on_resume(
    harness: Harness,
) -> None:
    sim = harness.sim
    manifest = harness.manifest("tasks:\n  - {prompt: q, repeat: 3}\n  - r\n  - s\n")
    third = anyio.Event()
    sim.state.listeners.append(
        lambda what, _: (
            third.set() if what == "submit" and len(sim.state.submissions) == 3 else None
        )
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(harness.run, manifest)
        await third.wait()  # the server has created the task; the answer is on its way
        tg.cancel_scope.cancel()
    states = Counter(r.state.value for r in harness.ledger().records.values())
    assert states["in_doubt"] >= 1, states

    assert await harness.run(manifest) == 0

    assert len(sim.state.submissions) == 5
    summary = orjson.loads((harness.out / "summary.json").read_bytes())
    assert summary["in_doubt"]["adopted"] >= 1
    assert harness.check_images_intact() == 5


async def test_two_identical_in_doubt_tasks_one_created(harness: Harness) -> None:
    """A crash left two identical submits unanswered; the server has one of them."""
    manifest = harness.manifest("tasks:\n  - {prompt: twin, repeat: 2}\n")
    specs = expand(load_manifest(manifest))
    harness.out.mkdir()
    ledger = Ledger(harness.out / "ledger.jsonl")
    ledger.open()
    now = round(time.time(), 3)
    for spec in specs:
        ledger.write({"e": "planned", "key": spec.key, "name": "", "req": spec.request.to_json()})
        ledger.write({"e": "intent", "key": spec.key, "attempt": 1, "t": now})
    ledger.close()
    async with aiohttp.ClientSession() as s:
        base = harness.sim.base_url
        token = (
            await (
                await s.post(
                    f"{base}/open/v1/access_token",
                    json={"app_id": DEMO_APP_ID, "secret_key": DEMO_SECRET_KEY},
                )
            ).json()
        )["data"]["access_token"]
        await s.post(
            f"{base}/open/v1/ai_creation/task/submit",
            json=specs[0].request.body(),
            headers={"access_token": token},
        )

    assert await harness.run(manifest) == 0

    assert len(harness.sim.state.submissions) == 2
    records = list(harness.ledger().records.values())
    assert len({r.unique_id for r in records}) == 2
    summary = orjson.loads((harness.out / "summary.json").read_bytes())
    assert summary["in_doubt"] == {"adopted": 1, "resubmitted": 1}
