"""The three-step upload flow: create_upload_url, the signed PUT, file_detail."""

from __future__ import annotations

import mimetypes
import time

from aiohttp import web

from runner.simulator.guard import STATE_KEY, envelope
from runner.simulator.routes_tasks import origin_of


async def create_upload_url(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    if request.query.get("service") != "ai_creation":
        return envelope(40000, "service: must be ai_creation")
    name = request.query.get("name", "")
    mime, _ = mimetypes.guess_type(name)
    if "." not in name or mime is None:
        return envelope(40000, "name: a file name with an extension is required")
    upload = state.add_upload(name, mime)
    origin = origin_of(request)
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
