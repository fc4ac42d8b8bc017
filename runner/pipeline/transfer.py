"""One output file's bytes from the CDN into a temporary file, resumed after a drop.

The body streams to disk in 64 KB pieces, hashed as it goes, so memory stays
flat for a 500 MB video. When the connection drops mid-body, the transfer
goes on from the last byte written with `Range: bytes=N-` instead of starting
over; a server that ignores Range (200) is read from the start again, and a
206 for the wrong offset is refused. Each resume must bring new bytes, and
there are at most `max_resumes` of them; then the caller's retry takes over.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass

import aiohttp

from runner.errors import DownloadError
from runner.rundir.files import PartFile

log = logging.getLogger("runner.download")
CHUNK = 1 << 16
HEAD = 16  # bytes kept to tell the file type
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


def timeout_for(kind: str) -> aiohttp.ClientTimeout:
    """One request's limits: a CDN that drips bytes is given up on, in time for a retry."""
    total = 3600.0 if kind == "video" else 300.0
    return aiohttp.ClientTimeout(total=total, sock_connect=30, sock_read=120)


@dataclass(frozen=True, slots=True)
class Received:
    size: int
    sha256: str
    head: bytes  # the first bytes, for the file type
    resumes: int  # how often a dropped connection was resumed


class _Dropped(Exception):
    """The body ended before its length: resume it."""


def _range_start(header: str | None) -> tuple[int, int | None] | None:
    m = _CONTENT_RANGE.match((header or "").strip())
    if m is None:
        return None
    return int(m.group(1)), None if m.group(3) == "*" else int(m.group(3))


async def receive(
    session: aiohttp.ClientSession,
    url: str,
    part: PartFile,
    cap: int,
    *,
    kind: str = "image",
    max_resumes: int = 20,
) -> Received:
    """Write the body at `url` into `part`; raises DownloadError when it cannot."""
    digest, size, head = hashlib.sha256(), 0, b""
    total: int | None = None
    resumes = 0
    while True:
        before = size
        headers = {"Range": f"bytes={size}-"} if size else {}
        try:
            async with session.get(url, headers=headers, timeout=timeout_for(kind)) as response:
                if size and response.status == 206:
                    found = _range_start(response.headers.get("Content-Range"))
                    if found is None or found[0] != size:
                        raise DownloadError(url, "resumed at another offset", refreshable=True)
                    total = found[1] if found[1] is not None else total
                elif response.status == 200:
                    if size:  # Range ignored: the whole body again, from the start
                        part.truncate()
                        digest, size, head = hashlib.sha256(), 0, b""
                    total = response.content_length
                else:
                    raise DownloadError(url, f"HTTP {response.status}", refreshable=True)
                if total is not None and total > cap:
                    raise DownloadError(url, f"{total:,} bytes is over the cap", refreshable=False)
                async for chunk in response.content.iter_chunked(CHUNK):
                    size += len(chunk)
                    if size > cap:
                        raise DownloadError(url, f"more than {cap:,} bytes", refreshable=False)
                    if len(head) < HEAD:
                        head += chunk[: HEAD - len(head)]
                    digest.update(chunk)
                    part.write(chunk)
                if total is not None and size < total:
                    raise _Dropped(f"body {size:,} of {total:,} bytes")
                if total is not None and size > total:
                    raise DownloadError(url, f"body {size:,} of {total:,} bytes", refreshable=True)
                return Received(size, digest.hexdigest(), head, resumes)
        except (aiohttp.ClientError, TimeoutError, _Dropped) as exc:
            why = str(exc) if isinstance(exc, _Dropped) else exc.__class__.__name__
            if size == before or resumes >= max_resumes:
                raise DownloadError(url, f"transfer failed: {why}", refreshable=True) from exc
            resumes += 1
            log.info(
                "%s: connection dropped after %s of %s bytes (%s); resuming with Range",
                url,
                f"{size:,}",
                f"{total:,}" if total is not None else "?",
                why,
            )
