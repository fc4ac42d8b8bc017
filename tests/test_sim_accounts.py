"""The simulator holds several accounts: own credentials, QPS window, tasks; revocable."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import aiohttp

from runner.simulator import DEMO_APP_ID, DEMO_SECRET_KEY
from runner.simulator.accounts import SimAccount

from .conftest import FAST_SIM

BODY = {
    "ref_prompt": "x",
    "creation_type": 3,
    "model_code": "doubao-seedream-4.0",
    "aspect_ratio": "1:1",
    "clarity": 1024,
    "number_of_images": 1,
}
POOL_SIM = replace(
    FAST_SIM,
    qps_limit=3.0,
    accounts=(SimAccount("app-b", "secret-b", 5.0), SimAccount("app-c", "secret-c", None)),
)


async def _login(s: aiohttp.ClientSession, base: str, app_id: str, secret: str) -> Any:
    return await (
        await s.post(f"{base}/open/v1/access_token", json={"app_id": app_id, "secret_key": secret})
    ).json()


async def _headers(s: aiohttp.ClientSession, base: str, app_id: str, secret: str) -> dict:
    answer = await _login(s, base, app_id, secret)
    assert answer["code"] == 0, answer
    return {"access_token": answer["data"]["access_token"]}


async def _page(s: aiohttp.ClientSession, base: str, h: dict, ids: list[str]) -> list[str]:
    body = {"unique_ids": ids, "type": 3, "page": 1, "page_size": 50}
    r = await (await s.post(f"{base}/open/v1/ai_creation/task/page", json=body, headers=h)).json()
    return [t["unique_id"] for t in r["data"]["list"]]


async def test_each_account_has_its_own_window_and_sees_only_its_own_tasks(sim_factory) -> None:
    sim = await sim_factory(POOL_SIM)
    base, path = sim.base_url, "/open/v1/ai_creation/task/submit"
    async with aiohttp.ClientSession() as s:
        a = await _headers(s, base, DEMO_APP_ID, DEMO_SECRET_KEY)
        b = await _headers(s, base, "app-b", "secret-b")
        codes: dict[str, list[int]] = {"a": [], "b": []}
        for i in range(6):  # one burst each: a's window holds 3 calls (one was its token), b's 5
            for who, h in (("a", a), ("b", b)):
                body = {**BODY, "ref_prompt": f"{who} {i}"}
                r = await (await s.post(base + path, json=body, headers=h)).json()
                codes[who].append(r["code"])
        made = {who: [c for c in got if c == 0] for who, got in codes.items()}
        assert len(made["a"]) == 2 and len(made["b"]) == 4
        assert 40001 in codes["a"] and 40001 in codes["b"]

        mine_b = [t.unique_id for t in sim.state.tasks.values() if t.account == "app-b"]
        mine_a = [t.unique_id for t in sim.state.tasks.values() if t.account == ""]
        assert len(mine_b) == 4 and len(mine_a) == 2
        c = await _headers(s, base, "app-c", "secret-c")
        assert await _page(s, base, c, []) == []  # c has none, and sees none of the others'
        assert await _page(s, base, c, mine_b) == []
        got = await (
            await s.get(f"{base}/open/v1/ai_creation/task?unique_id={mine_b[0]}", headers=c)
        ).json()
        assert got["code"] == 40000

    stats = sim.state.stats()["accounts"]
    assert stats["app-b"]["submissions"] == 4 and stats["app-b"]["duplicates"] == 0
    assert stats["app-b"]["rejected_40001"] >= 1 and stats[""]["rejected_40001"] >= 1


async def test_a_revoked_account_loses_its_token_and_cannot_get_another(sim_factory) -> None:
    sim = await sim_factory(POOL_SIM)
    base = sim.base_url
    async with aiohttp.ClientSession() as s:
        b = await _headers(s, base, "app-b", "secret-b")
        c = await _headers(s, base, "app-c", "secret-c")
        r = await s.post(f"{base}/_sim/revoke", json={"app_id": "app-b"})
        assert r.status == 200
        assert (await _page_answer(s, base, b))["code"] == 10400
        assert (await _login(s, base, "app-b", "secret-b"))["code"] == 10400
        assert (await _page_answer(s, base, c))["code"] == 0  # the others go on
        assert (await s.post(f"{base}/_sim/revoke", json={"app_id": "nope"})).status == 404
    assert sim.state.stats()["accounts"]["app-b"]["revoked"] == 1


async def _page_answer(s: aiohttp.ClientSession, base: str, h: dict) -> Any:
    body = {"unique_ids": [], "type": 3, "page": 1, "page_size": 50}
    return await (
        await s.post(f"{base}/open/v1/ai_creation/task/page", json=body, headers=h)
    ).json()
