"""The aiohttp application: the Chanjing Open API endpoints the runner uses.

Faithful to `chanjing-api.md`: every JSON answer is HTTP 200 with the
`{trace_id, code, msg, data}` envelope; 40001 guards every endpoint of the
account (the file endpoints also have their own 30-a-minute limit); the CDN
is outside the token and the QPS budget.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import mimetypes
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from runner.simulator.cdn import make_handler
from runner.simulator.config import SimConfig
from runner.simulator.journal import Journal, restore
from runner.simulator.mangle import KINDS, mangle
from runner.simulator.outputrefs import check_output_refs
from runner.simulator.outputs import EXTENSIONS, file_format, output_count, task_type
from runner.simulator.state import SimState, SimTask
from runner.simulator.validate import check_submit

STATE_KEY: web.AppKey[SimState] = web.AppKey("state", SimState)
ACCOUNT_KEY = web.RequestKey("sim_account", str)  # the calling account ("" = primary)
API_PREFIX = "/open/v1/"
QUERY_PATHS = ("/open/v1/ai_creation/task", "/open/v1/ai_creation/task/page")
FILE_PATHS = ("/open/v1/common/create_upload_url", "/open/v1/common/file_detail")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


NOT_JSON = object()


class DropConnection(Exception):
    """Raised inside a handler to close the socket without an answer."""


def envelope(code: int, msg: str, data: Any = None) -> web.Response:
    body = {"trace_id": uuid.uuid4().hex, "code": code, "msg": msg, "data": data}
    return web.json_response(body)


def _drop(request: web.Request) -> None:
    if request.transport is not None:
        request.transport.close()
    raise DropConnection


@web.middleware
async def api_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    cfg = state.config
    if not request.path.startswith(API_PREFIX):
        return await handler(request)
    state.calls[request.path.removeprefix(API_PREFIX)] += 1
    state.notify("call", request.path)
    body = await request.read()
    who = (request.method, request.path, request.query_string, hashlib.sha256(body).hexdigest())
    try:
        if state.chance(cfg.reset_rate, "reset", *who):
            _drop(request)
        if state.chance(cfg.html_502_rate, "502", *who):
            return web.Response(
                status=502,
                text="<html><head><title>502 Bad Gateway</title></head>"
                "<body><center><h1>502 Bad Gateway</h1></center></body></html>",
                content_type="text/html",
            )
        slow = state.chance(cfg.slow_rate, "slow", *who)
        now = time.monotonic()
        if request.path in FILE_PATHS and not state.admit_file(now):
            return envelope(40001, "file endpoints: 30 requests a minute exceeded")
        account = _account(state, request, body)
        request[ACCOUNT_KEY] = account
        state.account(account).calls += 1
        if not state.admit_account(now, account):
            return envelope(40001, "QPS limit exceeded")
        if request.path != "/open/v1/access_token" and (
            not state.token_valid(request.headers.get("access_token"))
            or state.account(account).revoked
        ):
            return envelope(10400, "AccessToken verification failed")
        if state.chance(cfg.error_50000_rate, "50000", *who):
            return envelope(50000, "internal error")
        response = await handler(request)
        if request.path in QUERY_PATHS and (
            _mangle_first(state, response) or state.chance(cfg.mangle_rate, "mangle", *who)
        ):
            response = _mangled(state, response)
        if slow:  # the work is done; only the answer is late (a client may give up on it)
            await asyncio.sleep(cfg.slow_s)
        return response
    except DropConnection:
        # The transport is already closed; aiohttp has nothing left to write to.
        return web.Response(status=499)


def _account(state: SimState, request: web.Request, body: bytes) -> str:
    """Whose call this is: the token's account, or (for a token) the app_id's."""
    if request.path != "/open/v1/access_token":
        return state.account_of_token(request.headers.get("access_token"))
    try:
        app_id = json.loads(body).get("app_id")
    except (ValueError, UnicodeDecodeError, AttributeError):
        return ""
    return app_id if isinstance(app_id, str) and app_id in state.accounts else ""


def _mangle_first(state: SimState, response: web.StreamResponse) -> bool:
    """One of the first `mangle_first` answers that carry a finished task's outputs?"""
    if state.mangled.total() >= state.config.mangle_first:
        return False
    if not isinstance(response, web.Response) or not isinstance(response.body, bytes):
        return False
    data = json.loads(response.body).get("data")
    found = data.get("list") if isinstance(data, dict) and "list" in data else [data]
    return any(isinstance(i, dict) and i.get("output_url") for i in found or [])


def _mangled(state: SimState, response: web.StreamResponse) -> web.Response:
    assert isinstance(response, web.Response) and response.body is not None
    envelope = json.loads(bytes(response.body))  # type: ignore[arg-type]
    kind = KINDS[state.mangled.total() % len(KINDS)]  # every kind in turn
    body, ctype = mangle(envelope, kind)
    state.mangled[kind] += 1
    return web.Response(body=body, content_type=ctype)


async def _json_body(request: web.Request) -> Any:
    try:
        return json.loads(await request.read())
    except (ValueError, UnicodeDecodeError):
        return NOT_JSON


async def access_token(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    body = await _json_body(request)
    if body is NOT_JSON or not isinstance(body, dict):
        return envelope(400, "request body must be JSON")
    account = state.login(body.get("app_id"), body.get("secret_key"))
    if account is None:
        return envelope(10400, "app_id or secret_key is wrong")
    token, expiry = state.issue_token(account)
    return envelope(0, "success", {"access_token": token, "expire_in": expiry})


async def submit(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    body = await _json_body(request)
    if body is NOT_JSON:
        return envelope(400, "request body is not valid JSON")
    problem = check_submit(body)
    if problem is None and state.config.reject_word in body["ref_prompt"]:
        problem = "ref_prompt: content rejected by moderation"
    if problem is None:
        refs = [*body.get("ref_img_url", [])]
        refs += [body[f] for f in ("start_frame", "end_frame") if isinstance(body.get(f), str)]
        problem = check_output_refs(state, refs, _origin(request))
    if problem is not None:
        return envelope(40000, problem)
    task = state.create_task(body, request.get(ACCOUNT_KEY, ""))
    if state.chance(state.config.lost_submit_rate, "lost", json.dumps(body, sort_keys=True)):
        _drop(request)
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


def _origin(request: web.Request) -> str:
    return str(request.url.origin())


async def get_task(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    task = state.tasks.get(request.query.get("unique_id", ""))
    if task is not None and task.account != request.get(ACCOUNT_KEY, ""):
        state.foreign_queries += 1  # asked through an account that did not create it
        task = None  # another account's task is not found
    if task is None:
        return envelope(40000, "unique_id: no such task")
    return envelope(0, "success", task_view(state, task, _origin(request)))


async def page_tasks(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    body = await _json_body(request)
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
    if ids:
        tasks = [state.tasks[i] for i in dict.fromkeys(ids) if i in state.tasks]
    else:
        tasks = list(state.tasks.values())
    owner = request.get(ACCOUNT_KEY, "")
    if state.accounts:  # an account lists its own tasks only
        mine = [t for t in tasks if t.account == owner]
        state.foreign_queries += len(tasks) - len(mine) if ids else 0
        tasks = mine
    if body.get("type") in (3, 4):  # images or videos: a list shows one kind
        tasks = [t for t in tasks if task_type(t.body) == body["type"]]
    if body.get("is_success") is True:
        now = time.monotonic()
        tasks = [t for t in tasks if t.progress(now) == "Success"]
    order = state.config.page_order
    if order == "newest":
        tasks.sort(key=lambda t: -t.id)
    elif order == "random":
        random.Random(len(tasks)).shuffle(tasks)
    total = len(tasks)
    chunk = tasks[(page - 1) * size : page * size]
    origin = _origin(request)
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


async def create_upload_url(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    if request.query.get("service") != "ai_creation":
        return envelope(40000, "service: must be ai_creation")
    name = request.query.get("name", "")
    mime, _ = mimetypes.guess_type(name)
    if "." not in name or mime is None:
        return envelope(40000, "name: a file name with an extension is required")
    upload = state.add_upload(name, mime)
    origin = _origin(request)
    return envelope(
        0,
        "success",
        {
            "sign_url": f"{origin}/_upload/{upload.file_id}?signature=sim",
            "full_path": f"{origin}/cdn/uploads/{upload.key}",
            "key": upload.key,
            "mime_type": mime,
            "file_id": upload.file_id,
        },
    )


async def put_upload(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    upload = state.uploads.get(request.match_info["file_id"])
    if upload is None:
        raise web.HTTPForbidden(text="signature expired or unknown")
    if request.headers.get("Content-Type") != upload.mime_type:
        raise web.HTTPForbidden(text="Content-Type does not match the signed mime_type")
    state.put_upload(upload, await request.read())
    return web.Response(status=200)


async def file_detail(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    upload = state.uploads.get(request.query.get("id", ""))
    if upload is None:
        return envelope(40000, "id: no such file")
    ready = (
        upload.put_mono is not None
        and time.monotonic() - upload.put_mono >= state.config.upload_ready_s
    )
    return envelope(
        0,
        "success",
        {"id": upload.file_id, "status": 1 if ready else 0, "full_path": upload.key},
    )


async def uploaded_file(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    file_id = request.match_info["file_id"]
    upload = state.uploads.get(file_id)
    if upload is None or upload.data is None:
        raise web.HTTPNotFound
    return web.Response(body=upload.data, content_type=upload.mime_type)


async def sim_stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE_KEY].stats())


async def sim_revoke(request: web.Request) -> web.Response:
    """Test hook: POST /_sim/revoke {"app_id": ...} takes that account's credentials away."""
    state = request.app[STATE_KEY]
    body = await _json_body(request)
    app_id = body.get("app_id") if isinstance(body, dict) else None
    key = "" if app_id == state.config.app_id else app_id
    if not isinstance(key, str) or (key and key not in state.accounts):
        raise web.HTTPNotFound(text="no such account")
    state.revoke(key)
    return web.json_response({"revoked": app_id})


def make_app(config: SimConfig, state_dir: Path | None = None) -> web.Application:
    """The API; with `state_dir`, the account is restored from and kept in that folder."""
    app = web.Application(middlewares=[api_guard], client_max_size=32 * 1024 * 1024)
    app[STATE_KEY] = state = SimState(config)
    if state_dir is not None:
        restore(state, state_dir)
        journal = Journal(state_dir)
        state.journal, state.save_upload = journal, journal.save_upload

        async def close_journal(_: web.Application) -> None:
            journal.close()

        app.on_cleanup.append(close_journal)
    app.router.add_post("/open/v1/access_token", access_token)
    app.router.add_post("/open/v1/ai_creation/task/submit", submit)
    app.router.add_get("/open/v1/ai_creation/task", get_task)
    app.router.add_post("/open/v1/ai_creation/task/page", page_tasks)
    app.router.add_get("/open/v1/common/create_upload_url", create_upload_url)
    app.router.add_get("/open/v1/common/file_detail", file_detail)
    app.router.add_put("/_upload/{file_id}", put_upload)
    app.router.add_get("/cdn/uploads/{file_id}/{name}", uploaded_file)
    app.router.add_get("/cdn/{unique_id}/{index:\\d+}.{ext:png|jpg|mp4}", make_handler(STATE_KEY))
    app.router.add_get("/_sim/stats", sim_stats)
    app.router.add_post("/_sim/revoke", sim_revoke)
    return app
