"""The CDN of task outputs: plain HTTP, outside the token and the QPS budget.

It honours a single `Range: bytes=a-b` (206 with Content-Range, 416 when
unsatisfiable) and streams bodies by offset, so a 500 MB video costs no
memory. Faults: an expired URL (404; the task then lists a fresh one), an
HTML page instead of the file, and a connection dropped mid-body (the
`truncate_rate` and `cdn_drop_first` knobs). `state.cdn_bytes` counts the
bytes actually sent per path: what a test checks to see that a resumed
download did not start over.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from runner.simulator.outputs import (
    CONTENT_TYPES,
    file_format,
    output_body,
    output_count,
    sha256_of,
)
from runner.simulator.state import SimState

CHUNK = 256 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """[start, end) asked for; None for the whole body; "bad" when unsatisfiable."""
    if not header:
        return None
    m = _RANGE.match(header.strip())
    if m is None or (not m.group(1) and not m.group(2)):
        return None  # a form we do not serve (several ranges): the whole body, as RFC 9110 allows
    if not m.group(1):  # the last N bytes
        start, end = max(0, size - int(m.group(2))), size
    else:
        start = int(m.group(1))
        end = min(size, int(m.group(2)) + 1) if m.group(2) else size
    if start >= size or start >= end:
        return "bad"
    return start, end


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def make_handler(state_of: web.AppKey[SimState]) -> Handler:
    async def cdn_output(request: web.Request) -> web.StreamResponse:
        state = request.app[state_of]
        cfg = state.config
        task = state.tasks.get(request.match_info["unique_id"])
        index = int(request.match_info["index"])
        if (
            task is None
            or task.progress(time.monotonic()) != "Success"
            or not 0 <= index < output_count(task.body)
            or request.query.get("v", "0") != str(task.url_version)
        ):
            raise web.HTTPNotFound
        key = (task.unique_id, index)
        state.cdn_fetches[key] += 1
        fetches = state.cdn_fetches[key]
        forced = fetches <= cfg.cdn_fail_first
        if forced and fetches % 2 == 1:
            state.expire_url(task)
            raise web.HTTPNotFound
        if state.chance(cfg.cdn_not_image_rate, "not-image", request.path):
            return web.Response(text="<html>captive portal</html>", content_type="text/html")
        if state.chance(cfg.cdn_404_rate, "404", request.path):
            state.expire_url(task)  # this URL has "expired"; the task now lists a fresh one
            raise web.HTTPNotFound
        body = output_body(cfg, task.unique_id, task.body, index)
        if request.path not in state.served:
            state.served[request.path] = sha256_of(body)
        state.notify("served", request.path)
        asked = parse_range(request.headers.get("Range"), body.size)
        headers = {"Content-Type": CONTENT_TYPES[file_format(task.body)], "Accept-Ranges": "bytes"}
        if asked == "bad":
            headers["Content-Range"] = f"bytes */{body.size}"
            return web.Response(status=416, headers=headers)
        start, end = asked if isinstance(asked, tuple) else (0, body.size)
        if isinstance(asked, tuple):
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{body.size}"
        dropped = (
            forced
            or fetches <= cfg.cdn_drop_first
            or state.chance(cfg.truncate_rate, "truncate", request.path)
        )
        stop = start + (end - start) // 2 if dropped else end
        response = web.StreamResponse(
            status=206 if isinstance(asked, tuple) else 200, headers=headers
        )
        response.content_length = end - start
        await response.prepare(request)
        at = start
        while at < stop:
            piece = body.read(at, min(stop, at + CHUNK))
            await response.write(piece)
            state.cdn_bytes[request.path] += len(piece)
            at += len(piece)
        if dropped:  # the connection goes away mid-body
            if request.transport is not None:
                request.transport.close()
            return response
        await response.write_eof()
        return response

    return cdn_output
