"""The two ways of running a batch we compare against, written plainly.

(a) the vendor's way: one task at a time: submit, then poll that task alone
    every few seconds until it is done, download, next;
(b) a plain parallel runner: every task submitted concurrently under a fixed
    client-side rate limit, each task polled on its own until done.
Both pace themselves at the account's limit (they would only get 40001s
otherwise) and use the single-task query endpoint, as the vendor's scripts do.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import anyio
from aiolimiter import AsyncLimiter

from runner.simulator import DEMO_APP_ID, DEMO_SECRET_KEY


class _Api:
    def __init__(self, session: aiohttp.ClientSession, base: str, qps: float):
        self.session, self.base = session, base
        self.limiter = AsyncLimiter(1, 1.0 / qps)
        self.headers: dict[str, str] = {}
        self.calls = 0

    async def call(self, method: str, path: str, **kw: Any) -> Any:
        while True:
            async with self.limiter:
                self.calls += 1
                async with self.session.request(
                    method, self.base + path, headers=self.headers, **kw
                ) as r:
                    answer = await r.json()
            if answer["code"] != 40001:
                return answer

    async def login(self) -> None:
        answer = await self.call(
            "POST",
            "/open/v1/access_token",
            json={"app_id": DEMO_APP_ID, "secret_key": DEMO_SECRET_KEY},
        )
        self.headers = {"access_token": answer["data"]["access_token"]}

    async def one_task(self, body: dict[str, Any], poll_every_s: float) -> None:
        answer = await self.call("POST", "/open/v1/ai_creation/task/submit", json=body)
        uid = answer["data"]
        while True:
            await anyio.sleep(poll_every_s)
            task = await self.call("GET", "/open/v1/ai_creation/task", params={"unique_id": uid})
            if task["data"]["progress_desc"] in ("Success", "Error", "Fail"):
                break
        for url in task["data"]["output_url"]:
            async with self.session.get(url) as r:
                await r.read()


async def _timed(
    base: str, qps: float, work: Callable[[_Api], Awaitable[None]]
) -> tuple[float, int]:
    """Wall seconds (login included) and API calls of `work` on a fresh session."""
    async with aiohttp.ClientSession() as session:
        api = _Api(session, base, qps)
        started = time.monotonic()
        await api.login()
        await work(api)
        return time.monotonic() - started, api.calls


async def vendor_sequential(
    base: str, bodies: list[dict[str, Any]], qps: float, poll_every_s: float = 3.0
) -> tuple[float, int]:
    """Wall seconds and API calls for running `bodies` one after another."""

    async def one_by_one(api: _Api) -> None:
        for body in bodies:
            await api.one_task(body, poll_every_s)

    return await _timed(base, qps, one_by_one)


async def naive_parallel(
    base: str, bodies: list[dict[str, Any]], qps: float, poll_every_s: float = 2.0
) -> tuple[float, int]:
    """The same for `bodies` all at once, each polled on its own."""

    async def all_at_once(api: _Api) -> None:
        async with anyio.create_task_group() as tg:
            for body in bodies:
                tg.start_soon(api.one_task, body, poll_every_s)

    return await _timed(base, qps, all_at_once)
