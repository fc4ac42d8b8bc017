"""A local server's guards: loopback only, its own Host and Origin, a session token.

A web page elsewhere in the same browser can send requests to 127.0.0.1; it
must not be able to change anything. Every request must name this server in
`Host` (no DNS rebinding); a state-changing request must come from this
page's own origin and carry the token that only this page was given.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

TOKEN_HEADER = "X-Review-Token"
LOOPBACK = "127.0.0.1"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def new_token() -> str:
    return secrets.token_urlsafe(32)


def own_hosts(port: int) -> set[str]:
    return {f"{LOOPBACK}:{port}", f"localhost:{port}"}


def guard(port_of: Callable[[], int], token: str) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        hosts = own_hosts(port_of())
        if request.headers.get("Host", "") not in hosts:
            raise web.HTTPMisdirectedRequest(text="this server answers only to its own address\n")
        if request.method not in ("GET", "HEAD"):
            origin = request.headers.get("Origin")
            if origin is not None and origin not in {f"http://{h}" for h in hosts}:
                raise web.HTTPForbidden(text="cross-origin request refused\n")
            site = request.headers.get("Sec-Fetch-Site")
            if site is not None and site not in ("same-origin", "none"):
                raise web.HTTPForbidden(text="cross-site request refused\n")
            given = request.headers.get(TOKEN_HEADER, "")
            if not hmac.compare_digest(given.encode(), token.encode()):
                raise web.HTTPForbidden(text="missing or wrong session token\n")
        response = await handler(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    return middleware


def inside(run_dir: Path, relative: str) -> Path | None:
    """A recorded file path, only if it stays inside the run directory and exists."""
    if not relative or relative.startswith(("/", "\\")) or ".." in Path(relative).parts:
        return None
    root = run_dir.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return None
    return path
