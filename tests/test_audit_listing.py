"""The audit reads the account's task list a page at a time and keeps only what matches."""

from __future__ import annotations

import aiohttp
import anyio
import orjson

from runner.commands import status
from runner.pipeline.tasklist import prompt_filter, slim
from runner.simulator import DEMO_APP_ID, DEMO_SECRET_KEY

from .conftest import DEMO_CREDS, Harness

FOREIGN = 130  # three pages of 50 on the account's task list


async def submit_all(base_url: str, bodies: list[dict]) -> None:  # type: ignore[type-arg]
    async with aiohttp.ClientSession() as s:
        answer = await s.post(
            f"{base_url}/open/v1/access_token",
            json={"app_id": DEMO_APP_ID, "secret_key": DEMO_SECRET_KEY},
        )
        token = (await answer.json())["data"]["access_token"]
        for body in bodies:
            reply = await s.post(
                f"{base_url}/open/v1/ai_creation/task/submit",
                json=body,
                headers={"access_token": token},
            )
            assert (await reply.json())["code"] == 0


async def test_a_duplicate_pages_deep_in_a_busy_account_is_found(harness: Harness) -> None:
    sim = harness.sim
    manifest = harness.manifest("tasks:\n" + "".join(f"  - p{i}\n" for i in range(5)))
    assert await harness.run(manifest) == 0
    ours = {s["body"]["ref_prompt"]: s["body"] for s in sim.state.submissions}
    # The duplicate first (the oldest, so on the list's last page), then the account's
    # other work: other prompts, and our prompt with another request (not a duplicate).
    foreign = [{**ours["p0"], "ref_prompt": f"someone else {i}"} for i in range(FOREIGN)]
    other_ratio = {
        **ours["p1"],
        "aspect_ratio": "16:9" if ours["p1"]["aspect_ratio"] != "16:9" else "1:1",
    }
    await submit_all(sim.base_url, [ours["p2"], *foreign, other_ratio])
    assert len(sim.state.submissions) == 5 + 1 + FOREIGN + 1

    found = await anyio.to_thread.run_sync(
        lambda: status.audit(harness.out, sim.base_url, DEMO_CREDS)
    )

    assert found == 1
    summary = orjson.loads((harness.out / "summary.json").read_bytes())
    assert summary["duplicates_billed"] == 1
    [dup] = summary["duplicates"]
    assert sim.state.tasks[dup["unique_id"]].body["ref_prompt"] == "p2"
    assert dup["status"] == "Success" and len(dup["files"]) == 1


def test_a_kept_listed_task_holds_only_what_a_match_reads() -> None:
    item = {
        "unique_id": "u1",
        "create_time": 5,
        "progress_desc": "Success",
        "model_code": "m",
        "output_url": ["https://cdn/x/0.png"] * 4,
        "photo_info": {"ref_prompt": "a", "clarity": 2048, "big": "x" * 1000},
    }
    keep = prompt_filter({"a"})
    assert keep({**item, "photo_info": {"ref_prompt": "b"}}) is None
    kept = keep(item)
    assert kept == slim(item)
    assert kept == {
        "unique_id": "u1",
        "create_time": 5,
        "progress_desc": "Success",
        "model_code": "m",
        "photo_info": {"ref_prompt": "a", "clarity": 2048},
    }
