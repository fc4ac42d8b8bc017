"""The aiohttp application: the Chanjing Open API endpoints the runner uses.

Faithful to `chanjing-api.md`: every JSON answer is HTTP 200 with the
`{trace_id, code, msg, data}` envelope; 40001 guards every endpoint of the
account (the file endpoints also have their own 30-a-minute limit); the CDN
is outside the token and the QPS budget.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from runner.simulator.cdn import make_handler
from runner.simulator.config import SimConfig
from runner.simulator.guard import STATE_KEY, api_guard, json_body
from runner.simulator.journal import Journal, restore
from runner.simulator.routes_files import create_upload_url, file_detail, put_upload, uploaded_file
from runner.simulator.routes_tasks import access_token, get_task, page_tasks, submit
from runner.simulator.state import SimState


async def sim_stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE_KEY].stats())


async def sim_revoke(request: web.Request) -> web.Response:
    """Test hook: POST /_sim/revoke {"app_id": ...} takes that account's credentials away."""
    state = request.app[STATE_KEY]
    body = await json_body(request)
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
