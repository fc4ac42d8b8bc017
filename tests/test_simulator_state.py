"""A simulator given a state folder is the same account after a restart (issue 13, item 1)."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp

from runner.simulator import DEMO_APP_ID, DEMO_SECRET_KEY, RunningSimulator
from runner.simulator.journal import STATE_FILE

from .conftest import FAST_SIM

BODY = {"ref_prompt": "x", "creation_type": 3, "model_code": "doubao-seedream-4.0"}
SLOW = replace(FAST_SIM, queue_s=(0.0, 0.0), gen_s=(3600.0, 3600.0), upload_ready_s=0.0)


async def _call(s: aiohttp.ClientSession, method: str, url: str, **kw: Any) -> Any:
    async with s.request(method, url, **kw) as r:
        return await r.json()


async def _token(s: aiohttp.ClientSession, base: str) -> dict[str, str]:
    creds = {"app_id": DEMO_APP_ID, "secret_key": DEMO_SECRET_KEY}
    r = await _call(s, "POST", f"{base}/open/v1/access_token", json=creds)
    return {"access_token": r["data"]["access_token"]}


async def test_a_restarted_simulator_knows_its_tasks_uploads_and_tokens(tmp_path: Path) -> None:
    async with RunningSimulator(SLOW, state_dir=tmp_path) as first, aiohttp.ClientSession() as s:
        base = first.base_url
        h = await _token(s, base)
        submit = f"{base}/open/v1/ai_creation/task/submit"
        ids = [(await _call(s, "POST", submit, json=BODY, headers=h))["data"] for _ in range(2)]
        up = await _call(
            s,
            "GET",
            f"{base}/open/v1/common/create_upload_url",
            params={"service": "ai_creation", "name": "mug.png"},
            headers=h,
        )
        file_id = up["data"]["file_id"]
        put = await s.put(
            up["data"]["sign_url"], data=b"png!", headers={"Content-Type": "image/png"}
        )
        assert put.status == 200
        before = await _call(
            s, "GET", f"{base}/open/v1/ai_creation/task", params={"unique_id": ids[0]}, headers=h
        )
    with (tmp_path / STATE_FILE).open("ab") as fh:
        fh.write(b'{"e":"task","id":3,"uid"')  # a line torn by kill -9 mid-write

    async with RunningSimulator(SLOW, state_dir=tmp_path) as second, aiohttp.ClientSession() as s:
        base = second.base_url
        assert len(second.state.submissions) == 2  # its own record of what it was asked
        page = {"unique_ids": ids, "type": 3, "page": 1, "page_size": 50, "is_success": False}
        r = await _call(s, "POST", f"{base}/open/v1/ai_creation/task/page", json=page, headers=h)
        assert r["code"] == 0, "the token issued before the restart still works"
        listed = {item["unique_id"]: item for item in r["data"]["list"]}
        assert set(listed) == set(ids)
        assert listed[ids[0]]["create_time"] == before["data"]["create_time"]
        assert listed[ids[0]]["progress_desc"] == "Generating"  # its timing, not a new one
        detail = await _call(
            s, "GET", f"{base}/open/v1/common/file_detail", params={"id": file_id}, headers=h
        )
        assert detail["data"]["status"] == 1
        again = await _call(
            s, "POST", f"{base}/open/v1/ai_creation/task/submit", json=BODY, headers=h
        )
        assert again["code"] == 0 and again["data"] not in ids  # a new task, never an old id
        assert listed[ids[0]]["id"] < second.state.tasks[again["data"]].id


async def test_time_passes_for_tasks_while_the_simulator_is_stopped(tmp_path: Path) -> None:
    quick = replace(FAST_SIM, queue_s=(0.0, 0.0), gen_s=(0.2, 0.2))
    async with RunningSimulator(quick, state_dir=tmp_path) as sim, aiohttp.ClientSession() as s:
        h = await _token(s, sim.base_url)
        url = f"{sim.base_url}/open/v1/ai_creation/task/submit"
        uid = (await _call(s, "POST", url, json=BODY, headers=h))["data"]
    # As if the runner had been away for a minute: the task was created a minute ago.
    events = [json.loads(line) for line in (tmp_path / STATE_FILE).read_text().splitlines()]
    for event in events:
        if event["e"] == "task":
            event["wall"] -= 60
    (tmp_path / STATE_FILE).write_text("".join(json.dumps(e) + "\n" for e in events))
    async with RunningSimulator(quick, state_dir=tmp_path) as sim:
        assert sim.state.tasks[uid].progress(time.monotonic()) == "Success"
