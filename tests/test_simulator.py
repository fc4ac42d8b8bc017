"""The simulator keeps the contract of chanjing-api.md (it is what `make demo` shows users)."""

from __future__ import annotations

from dataclasses import replace

import aiohttp
import anyio

from runner.simulator import DEMO_APP_ID, DEMO_SECRET_KEY

from .conftest import FAST_SIM

BODY = {
    "ref_prompt": "x",
    "creation_type": 3,
    "model_code": "doubao-seedream-4.0",
    "aspect_ratio": "16:9",
    "clarity": 1024,
    "number_of_images": 2,
}


async def _token(s: aiohttp.ClientSession, base: str) -> dict[str, str]:
    r = await (
        await s.post(
            f"{base}/open/v1/access_token",
            json={"app_id": DEMO_APP_ID, "secret_key": DEMO_SECRET_KEY},
        )
    ).json()
    assert r["code"] == 0 and r["data"]["expire_in"] > 1_700_000_000  # absolute unix time
    return {"access_token": r["data"]["access_token"]}


async def test_envelope_auth_and_submit_validation(sim_factory) -> None:
    sim = await sim_factory()
    base = sim.base_url
    async with aiohttp.ClientSession() as s:
        r = await (await s.post(f"{base}/open/v1/ai_creation/task/submit", json=BODY)).json()
        assert r["code"] == 10400 and len(r["trace_id"]) == 32
        wrong = await (
            await s.post(
                f"{base}/open/v1/access_token", json={"app_id": DEMO_APP_ID, "secret_key": "no"}
            )
        ).json()
        assert wrong["code"] != 0
        h = await _token(s, base)
        r = await (
            await s.post(f"{base}/open/v1/ai_creation/task/submit", data=b"{", headers=h)
        ).json()
        assert r["code"] == 400
        for field, value in [
            ("clarity", 999),
            ("aspect_ratio", "2:1"),
            ("number_of_images", 5),
            ("creation_type", 2),
            ("model_code", "x"),
            ("ref_img_url", "u"),
        ]:
            r = await (
                await s.post(
                    f"{base}/open/v1/ai_creation/task/submit",
                    json={**BODY, field: value},
                    headers=h,
                )
            ).json()
            assert r["code"] == 40000 and r["msg"].startswith(field), (field, r)
        r = await (
            await s.post(f"{base}/open/v1/ai_creation/task/submit", json=BODY, headers=h)
        ).json()
        assert r["code"] == 0 and len(r["data"]) == 36


async def test_lifecycle_page_and_cdn(sim_factory) -> None:
    sim = await sim_factory(replace(FAST_SIM, queue_s=(0.2, 0.2), gen_s=(0.2, 0.2)))
    base = sim.base_url
    async with aiohttp.ClientSession() as s:
        h = await _token(s, base)
        ids = []
        for _ in range(3):
            r = await (
                await s.post(f"{base}/open/v1/ai_creation/task/submit", json=BODY, headers=h)
            ).json()
            ids.append(r["data"])
        page = {"unique_ids": ids[:2], "type": 3, "page": 1, "page_size": 50, "is_success": False}
        r = await (
            await s.post(f"{base}/open/v1/ai_creation/task/page", json=page, headers=h)
        ).json()
        assert {i["progress_desc"] for i in r["data"]["list"]} == {"Queued"}
        assert len(r["data"]["list"]) == 2
        unfiltered = {**page, "unique_ids": [], "page_size": 2}
        r = await (
            await s.post(f"{base}/open/v1/ai_creation/task/page", json=unfiltered, headers=h)
        ).json()
        info = r["data"]["page_info"]
        assert (r["data"]["total"], info["total_page"], len(r["data"]["list"])) == (3, 2, 2)
        too_many = {**page, "unique_ids": [f"id{i}" for i in range(51)]}
        r = await (
            await s.post(f"{base}/open/v1/ai_creation/task/page", json=too_many, headers=h)
        ).json()
        assert r["code"] == 40000
        with anyio.fail_after(5):
            while True:  # the lifecycle runs on the server's clock; 0.4 s here
                r = await (
                    await s.get(
                        f"{base}/open/v1/ai_creation/task", params={"unique_id": ids[0]}, headers=h
                    )
                ).json()
                if r["data"]["progress_desc"] == "Success":
                    break
                await anyio.sleep(0.05)
        item = r["data"]
        assert item["photo_info"]["ref_prompt"] == "x" and item["create_time"] > 0
        assert item["model_code"] == BODY["model_code"]
        assert len(item["output_url"]) == 2
        png = await (await s.get(item["output_url"][1])).read()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        assert (int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")) == (128, 72)
        other = await (await s.get(item["output_url"][0])).read()
        assert other != png  # each image looks different


async def test_qps_limit_answers_40001(sim_factory) -> None:
    sim = await sim_factory(replace(FAST_SIM, qps_limit=3.0))
    async with aiohttp.ClientSession() as s:
        h = await _token(s, sim.base_url)
        codes = []
        for _ in range(5):
            r = await s.get(
                f"{sim.base_url}/open/v1/ai_creation/task", params={"unique_id": "x"}, headers=h
            )
            codes.append((await r.json())["code"])
    assert codes.count(40001) >= 2 and sim.state.rejected_40001 >= 2


async def test_upload_flow(sim_factory) -> None:
    sim = await sim_factory()
    base = sim.base_url
    async with aiohttp.ClientSession() as s:
        h = await _token(s, base)
        r = await (
            await s.get(
                f"{base}/open/v1/common/create_upload_url",
                params={"service": "ai_creation", "name": "a.png"},
                headers=h,
            )
        ).json()
        d = r["data"]
        assert d["mime_type"] == "image/png"
        put = await s.put(
            d["sign_url"], data=b"\x89PNG\r\n\x1a\nabc", headers={"Content-Type": d["mime_type"]}
        )
        assert put.status == 200
        with anyio.fail_after(5):
            while True:
                r = await (
                    await s.get(
                        f"{base}/open/v1/common/file_detail", params={"id": d["file_id"]}, headers=h
                    )
                ).json()
                if r["data"]["status"] == 1:
                    break
                await anyio.sleep(0.02)
        got = await (await s.get(d["full_path"])).read()
        assert got == b"\x89PNG\r\n\x1a\nabc"


def test_the_simulator_binds_loopback_unless_told_otherwise() -> None:
    from runner.cli_args import build_parser
    from runner.simulator.server import RunningSimulator, is_loopback

    assert build_parser().parse_args(["simulate"]).host == "127.0.0.1"
    assert RunningSimulator().host == "127.0.0.1"
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4")  # these get a warning


async def test_the_task_list_shows_a_task_made_between_two_page_calls(sim_factory) -> None:
    """Newest first, and a new task is on the next call's first page at once."""
    sim = await sim_factory()
    base = sim.base_url
    listing = {"unique_ids": [], "type": 3, "page": 1, "page_size": 2}

    async def first_page(s: aiohttp.ClientSession, h: dict[str, str]) -> list[str]:
        url = f"{base}/open/v1/ai_creation/task/page"
        r = await (await s.post(url, json=listing, headers=h)).json()
        return [i["unique_id"] for i in r["data"]["list"]]

    async with aiohttp.ClientSession() as s:
        h = await _token(s, base)
        made = []
        for _ in range(3):
            url = f"{base}/open/v1/ai_creation/task/submit"
            made.append((await (await s.post(url, json=BODY, headers=h)).json())["data"])
            assert await first_page(s, h) == made[::-1][:2]
