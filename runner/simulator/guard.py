"""What every API call meets first: the envelope, the account's QPS window and
token check, and the fault knobs (resets, 502s, 50000s, slow and mangled answers).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from runner.simulator.mangle import KINDS, mangle
from runner.simulator.state import SimState

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


def drop(request: web.Request) -> None:
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
            drop(request)
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


async def json_body(request: web.Request) -> Any:
    try:
        return json.loads(await request.read())
    except (ValueError, UnicodeDecodeError):
        return NOT_JSON
