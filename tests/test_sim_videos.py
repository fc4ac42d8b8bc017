"""The simulator's videos over real HTTP: model checks, the task list by type,
a CDN that honours Range, and different bytes for every task."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import aiohttp
import anyio
from aiohttp import web

from runner.pipeline import transfer
from runner.rundir.files import PartFile, video_kind

from .conftest import FAST_SIM, loopback_app
from .test_simulator import _token

VIDEO = {
    "ref_prompt": "waves",
    "creation_type": 4,
    "model_code": "Doubao-Seedance-1.0-pro",
    "aspect_ratio": "16:9",
    "clarity": 1080,
    "video_duration": 5,
}
IMAGE = {"ref_prompt": "a fox", "creation_type": 3, "model_code": "doubao-seedream-4.5"}


async def _submit(s: aiohttp.ClientSession, base: str, h: dict[str, str], body: object) -> dict:  # type: ignore[type-arg]
    return await (
        await s.post(f"{base}/open/v1/ai_creation/task/submit", json=body, headers=h)
    ).json()  # type: ignore[no-any-return]


async def test_video_submit_checks_list_by_type_and_range(sim_factory) -> None:
    sim = await sim_factory(replace(FAST_SIM, video_gen_s=(0.1, 0.1), video_bytes=2_000_000))
    base = sim.base_url
    async with aiohttp.ClientSession() as s:
        h = await _token(s, base)
        bad = await _submit(s, base, h, {**VIDEO, "video_duration": 7})
        assert bad["code"] == 40000 and bad["msg"].startswith(
            "video_duration: must be one of 5, 10"
        )
        bad = await _submit(s, base, h, {**VIDEO, "clarity": 2048})
        assert bad["code"] == 40000 and bad["msg"].startswith("clarity: must be one of 720, 1080")
        uids = [(await _submit(s, base, h, body))["data"] for body in (VIDEO, VIDEO, IMAGE)]
        await anyio.sleep(0.6)

        async def listed(kind: int) -> list[dict]:  # type: ignore[type-arg]
            body = {"unique_ids": uids, "type": kind, "page": 1, "page_size": 50}
            r = await (
                await s.post(f"{base}/open/v1/ai_creation/task/page", json=body, headers=h)
            ).json()
            return r["data"]["list"]  # type: ignore[no-any-return]

        videos, images = await listed(4), await listed(3)
        assert sorted(i["unique_id"] for i in videos) == sorted(uids[:2])
        assert [i["unique_id"] for i in images] == [uids[2]]
        assert videos[0]["type"] == 4 and videos[0]["motion_info"]["video_duration"] == 5
        assert videos[0]["photo_info"] == {} and images[0]["motion_info"] == {}
        assert images[0]["output_url"][0].split("?")[0].endswith(".jpg")  # 4.5 answers JPEG

        bodies = []
        for item in videos:
            url = item["output_url"][0]
            async with s.get(url) as r:
                assert r.status == 200 and r.headers["Accept-Ranges"] == "bytes"
                whole = await r.read()
            assert len(whole) == 2_000_000 and video_kind(whole[:16]) == "mp4"
            async with s.get(url, headers={"Range": "bytes=1000-1999"}) as r:
                assert r.status == 206 and r.headers["Content-Range"] == "bytes 1000-1999/2000000"
                assert await r.read() == whole[1000:2000]
            async with s.get(url, headers={"Range": "bytes=-10"}) as r:
                assert r.status == 206 and await r.read() == whole[-10:]
            async with s.get(url, headers={"Range": "bytes=2000000-"}) as r:
                assert r.status == 416 and r.headers["Content-Range"] == "bytes */2000000"
            bodies.append(hashlib.sha256(whole).hexdigest())
        assert bodies[0] != bodies[1]  # two tasks of the same request: two different videos


async def test_a_cdn_that_ignores_range_is_read_again_from_the_start(tmp_path: Path) -> None:
    """The first answer drops half-way; the resume's Range is ignored (200): start over."""
    data = bytes(range(256)) * 4000
    fetches: list[str | None] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        fetches.append(request.headers.get("Range"))
        response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
        response.content_length = len(data)
        await response.prepare(request)
        if len(fetches) == 1:
            await response.write(data[: len(data) // 2])
            assert request.transport is not None
            request.transport.close()
            return response
        await response.write(data)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/v.mp4", handler)
    async with loopback_app(app) as url, aiohttp.ClientSession() as s:
        with PartFile(tmp_path / "v.part") as part:
            got = await transfer.receive(s, f"{url}/v.mp4", part, 10**9)
    assert fetches[0] is None and fetches[1] is not None and fetches[1].startswith("bytes=")
    assert got.resumes == 1 and got.size == len(data)
    assert (tmp_path / "v.part").read_bytes() == data
    assert got.sha256 == hashlib.sha256(data).hexdigest()
