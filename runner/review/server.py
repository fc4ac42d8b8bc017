"""The review page's routes, served by aiohttp on 127.0.0.1 only.

    GET  /                         the page (carries this session's token)
    GET  /assets/{app.js,app.css}  its script and style
    GET  /api/tasks?status=&decision=&model=&kind=&q=&sort=&offset=&limit=
    GET  /api/tasks/{key}          one task in full
    POST /api/decisions            {key, attempt, decision, prompt?}: fsynced, then 200
    GET  /files/{key}/{attempt}/{i} an output file, looked up in the ledger
    GET  /refs/{sha256}            a local reference image's thumbnail copy

Nothing the page sends becomes a path: files are found by task key and
position in the replayed ledger, and the recorded path must stay inside the
run directory.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from html import escape
from importlib import resources
from pathlib import Path
from typing import Any

import anyio
import orjson
from aiohttp import web

from runner.errors import RunDirError
from runner.review import decisions
from runner.review.data import Query, RunIndex
from runner.review.detail import detail
from runner.review.follow import LedgerFollower
from runner.review.security import LOOPBACK, guard, inside, new_token

log = logging.getLogger("runner.review")
ASSETS = {"app.js": "text/javascript", "app.css": "text/css"}


def _asset(name: str) -> str:
    return resources.files("runner.review").joinpath("assets", name).read_text("utf-8")


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


class ReviewApp:
    def __init__(self, run_dir: Path, token: str | None = None):
        self.run_dir = run_dir
        self.ledger = run_dir / "ledger.jsonl"
        if not self.ledger.exists():
            raise RunDirError(f"{run_dir}: no ledger.jsonl here; is it a run directory?")
        self.token = token or new_token()
        self.index = RunIndex(LedgerFollower(self.ledger))
        self.index.sync()
        self.index.page(Query(), 0, 1)  # the first page's facets and list, before anyone asks
        self.port = 0
        self._assets = {name: _asset(name) for name in ASSETS}

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/"

    def app(self) -> web.Application:
        app = web.Application(middlewares=[guard(lambda: self.port, self.token)])
        app.router.add_get("/", self.page)
        app.router.add_get("/assets/{name}", self.asset)
        app.router.add_get("/api/tasks", self.tasks)
        app.router.add_get("/api/tasks/{key}", self.task)
        app.router.add_post("/api/decisions", self.decide)
        app.router.add_get("/files/{key}/{attempt}/{i}", self.file)
        app.router.add_get("/refs/{sha}", self.ref)
        return app

    async def page(self, request: web.Request) -> web.Response:
        name = next((e["name"] for e in self.index.follower.replay.runs if e.get("name")), "")
        html = (
            _asset("index.html")
            .replace("{{token}}", escape(self.token))
            .replace("{{name}}", escape(name or self.run_dir.name))
        )
        return web.Response(
            text=html, content_type="text/html", headers={"Cache-Control": "no-store"}
        )

    async def asset(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in ASSETS:
            raise web.HTTPNotFound()
        return web.Response(text=self._assets[name], content_type=ASSETS[name])

    async def _sync(self) -> None:
        # On the event loop, not in a thread: handlers read the rows it updates.
        # Reading what the ledger gained since the last request takes milliseconds.
        self.index.sync()

    async def tasks(self, request: web.Request) -> web.Response:
        try:
            query = Query.from_params(request.query)
            offset = int(request.query.get("offset", "0"))
            limit = int(request.query.get("limit", "60"))
        except ValueError as exc:
            return _json({"error": str(exc)}, 400)
        await self._sync()
        page = self.index.page(query, offset, limit)
        if "at" in request.query:  # where a task is in this list (keyboard: keep the cursor)
            page["at"] = self.index.position(query, request.query["at"])
        return _json(page)

    async def task(self, request: web.Request) -> web.Response:
        await self._sync()
        rec = self.index.records.get(request.match_info["key"])
        if rec is None:
            raise web.HTTPNotFound(text="no such task\n")
        return _json(detail(self.index, rec))

    async def decide(self, request: web.Request) -> web.Response:
        if request.content_type != "application/json":
            return _json({"error": "send JSON"}, 415)
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return _json({"error": "not JSON"}, 400)
        await self._sync()
        try:
            decision = decisions.parse(body, self.index.records)
        except ValueError as exc:
            return _json({"error": str(exc)}, 400)
        try:
            await anyio.to_thread.run_sync(decisions.record, self.ledger, decision)
        except OSError as exc:  # a full or read-only disk: the page says so, nothing recorded
            return _json({"error": f"not recorded: {exc.strerror or exc}"}, 507)
        await self._sync()
        rec = self.index.records[decision.key]
        return _json({"key": rec.key, "decision": rec.decision, "reroll_prompt": rec.reroll_prompt})

    async def file(self, request: web.Request) -> web.StreamResponse:
        rec = self.index.records.get(request.match_info["key"])
        try:
            attempt, position = int(request.match_info["attempt"]), int(request.match_info["i"])
        except ValueError:
            raise web.HTTPNotFound() from None
        paths: list[str] = []
        if rec is not None and attempt == rec.attempt:
            paths = [rec.files[i].path for i in sorted(rec.files)]
        elif rec is not None:
            paths = next(
                ([f.path for f in a.files] for a in rec.earlier if a.attempt == attempt), []
            )
        path = inside(self.run_dir, paths[position]) if 0 <= position < len(paths) else None
        if path is None:
            raise web.HTTPNotFound()
        return web.FileResponse(path, headers={"Cache-Control": "private, max-age=3600"})

    async def ref(self, request: web.Request) -> web.StreamResponse:
        names = self.index.follower.replay.ref_names
        _, copy = names.get(request.match_info["sha"], ("", ""))
        path = inside(self.run_dir, copy) if copy else None
        if path is None:
            raise web.HTTPNotFound()
        return web.FileResponse(path)


@asynccontextmanager
async def running(run_dir: Path, port: int = 0) -> AsyncIterator[ReviewApp]:
    """The page served on 127.0.0.1 (port 0: a free one) while the block runs."""
    review = ReviewApp(run_dir)
    runner = web.AppRunner(review.app(), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, LOOPBACK, port).start()
        review.port = int(runner.addresses[0][1])
        yield review
    finally:
        await runner.cleanup()


async def serve(
    run_dir: Path, port: int = 0, on_ready: Callable[[str], None] = lambda url: None
) -> None:
    """Serve until cancelled (Ctrl-C). `on_ready` gets the page's URL."""
    async with running(run_dir, port) as review:
        log.debug("review page for %s: %s", run_dir, review.url)
        on_ready(review.url)
        await anyio.sleep_forever()
