"""Task endpoints: access token, submit, and the one-task and page queries."""

from __future__ import annotations

import json
import random
import time
from typing import Any

from aiohttp import web

from runner.simulator.guard import ACCOUNT_KEY, NOT_JSON, STATE_KEY, drop, envelope, json_body
from runner.simulator.outputrefs import check_output_refs
from runner.simulator.outputs import EXTENSIONS, file_format, output_count, task_type
from runner.simulator.state import SimState, SimTask
from runner.simulator.validate import check_submit


async def access_token(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    body = await json_body(request)
    if body is NOT_JSON or not isinstance(body, dict):
        return envelope(400, "request body must be JSON")
    account = state.login(body.get("app_id"), body.get("secret_key"))
    if account is None:
        return envelope(10400, "app_id or secret_key is wrong")
    token, expiry = state.issue_token(account)
    return envelope(0, "success", {"access_token": token, "expire_in": expiry})


async def submit(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    body = await json_body(request)
    if body is NOT_JSON:
        return envelope(400, "request body is not valid JSON")
    problem = check_submit(body)
    if problem is None and state.config.reject_word in body["ref_prompt"]:
        problem = "ref_prompt: content rejected by moderation"
    if problem is None:
        refs = [*body.get("ref_img_url", [])]
        refs += [body[f] for f in ("start_frame", "end_frame") if isinstance(body.get(f), str)]
        problem = check_output_refs(state, refs, origin_of(request))
    if problem is not None:
        return envelope(40000, problem)
    task = state.create_task(body, request.get(ACCOUNT_KEY, ""))
    if state.chance(state.config.lost_submit_rate, "lost", json.dumps(body, sort_keys=True)):
        drop(request)
    return envelope(0, "success", task.unique_id)


def task_view(state: SimState, task: SimTask, origin: str) -> dict[str, Any]:
    body = task.body
    progress = task.progress(time.monotonic())
    count, kind = output_count(body), task_type(body)
    ext = EXTENSIONS[file_format(body)]
    urls = (
        [f"{origin}/cdn/{task.unique_id}/{i}.{ext}?v={task.url_version}" for i in range(count)]
        if progress == "Success"
        else []
    )
    refs = list(body.get("ref_img_url", []))
    request = {
        "ref_img_url": refs,
        "ref_prompt": body["ref_prompt"],
        "clarity": body.get("clarity", 2048),
        "aspect_ratio": body.get("aspect_ratio", "1:1"),
        "quality_mode": body.get("quality_mode", ""),
    }
    if kind == 4:  # a video's request is echoed in motion_info
        request["video_duration"] = body.get("video_duration")
        request.update({k: body[k] for k in ("start_frame", "end_frame") if k in body})
    else:
        request["number_of_images"] = count
    return {
        "id": task.id,
        "unique_id": task.unique_id,
        "create_time": int(task.created_wall),
        "number_ai_creation": count,
        "type": kind,
        "progress_desc": progress,
        "err_msg": "任务失败,本次生成不消耗蝉豆" if progress == "Error" else "",
        "aspect_ratio": body.get("aspect_ratio", "1:1"),
        "output_url": urls,
        "photo_info": request if kind == 3 else {},
        "motion_info": request if kind == 4 else {},
        "ref_img_url": refs,
        "model_code": body["model_code"],
        "model_name": "",
    }


def origin_of(request: web.Request) -> str:
    return str(request.url.origin())


async def get_task(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    task = state.tasks.get(request.query.get("unique_id", ""))
    if task is not None and task.account != request.get(ACCOUNT_KEY, ""):
        state.foreign_queries += 1  # asked through an account that did not create it
        task = None  # another account's task is not found
    if task is None:
        return envelope(40000, "unique_id: no such task")
    return envelope(0, "success", task_view(state, task, origin_of(request)))


async def page_tasks(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    body = await json_body(request)
    if body is NOT_JSON or not isinstance(body, dict):
        return envelope(400, "request body is not valid JSON")
    ids = body.get("unique_ids", [])
    page, size = body.get("page", 1), body.get("page_size", 10)
    if not isinstance(ids, list) or len(ids) > 50:
        return envelope(40000, "unique_ids: at most 50 ids")
    if not isinstance(page, int) or page < 1:
        return envelope(40000, "page: must be a positive integer")
    if not isinstance(size, int) or not 1 <= size <= 50:
        return envelope(40000, "page_size: must be from 1 to 50")
    tasks = _listed(state, ids, request.get(ACCOUNT_KEY, ""), body)
    total = len(tasks)
    chunk = tasks[(page - 1) * size : page * size]
    origin = origin_of(request)
    return envelope(
        0,
        "success",
        {
            "list": [task_view(state, t, origin) for t in chunk],
            "total": total,
            "page_info": {
                "page": page,
                "size": size,
                "total_count": total,
                "total_page": (total + size - 1) // size,
            },
        },
    )


def _listed(state: SimState, ids: list[Any], owner: str, body: dict[str, Any]) -> list[SimTask]:
    """The tasks a page call shows, in the configured order, before paging. The whole
    listing (no ids, not only finished) is the same for every page until a task is
    made: kept, so reading an account of 100,000 tasks a page at a time is not
    quadratic in the simulator (a real server answers each page from an index)."""
    if ids:
        state.id_queries.append(len(ids))
        tasks = [state.tasks[i] for i in dict.fromkeys(ids) if i in state.tasks]
    else:
        cached = state.list_cache.get(_listing_key(state, owner, body))
        if cached is not None:
            return cached
        tasks = list(state.tasks.values())
    if state.accounts:  # an account lists its own tasks only
        mine = [t for t in tasks if t.account == owner]
        state.foreign_queries += len(tasks) - len(mine) if ids else 0
        tasks = mine
    if body.get("type") in (3, 4):  # images or videos: a list shows one kind
        tasks = [t for t in tasks if t.kind() == body["type"]]
    if body.get("is_success") is True:
        now = time.monotonic()
        tasks = [t for t in tasks if t.progress(now) == "Success"]
    order = state.config.page_order
    if order == "newest" and ids:
        tasks.sort(key=lambda t: -t.id)
    elif order == "newest":
        tasks.reverse()  # the tasks are held in the order they were made
    elif order == "random":
        random.Random(len(tasks)).shuffle(tasks)
    if not ids and body.get("is_success") is not True:
        state.list_cache.clear()  # only the newest listing is asked again
        state.list_cache[_listing_key(state, owner, body)] = tasks
    return tasks


def _listing_key(state: SimState, owner: str, body: dict[str, Any]) -> tuple[Any, ...]:
    """Changes whenever a task is made (or a test takes one away)."""
    if body.get("is_success") is True:  # a task finishes as time goes by: never kept
        return (None,)
    return (owner, body.get("type"), len(state.tasks), next(reversed(state.tasks), None))
