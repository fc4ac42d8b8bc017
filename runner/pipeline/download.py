"""Download stage: generated tasks in, images on disk.

CDN fetches are outside the API budget; `--concurrency` bounds them. Each
image streams into a temporary file beside its final name, is checked (length,
size cap, image magic bytes), fsynced and renamed, and only then recorded.
A failing URL makes us ask the API for fresh URLs, a bounded number of times.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import aiohttp
import anyio
from anyio.abc import ObjectReceiveStream

from runner.api import retry
from runner.errors import DiskWriteError, DownloadError, TransientApiError
from runner.pipeline.context import RunContext
from runner.records import ImageFile, TaskRecord, TaskState
from runner.rundir.files import PartFile, commit_file, image_kind, image_name, writing
from runner.rundir.replay import settle_images

log = logging.getLogger("runner.download")


async def worker(ctx: RunContext, receive: ObjectReceiveStream[TaskRecord]) -> None:
    async with receive:
        async for rec in receive:
            await download_task(ctx, rec)


async def download_task(ctx: RunContext, rec: TaskRecord) -> None:
    for index in range(rec.images_expected):
        if index in rec.files:
            continue
        error = await _download_image(ctx, rec, index)
        if error is not None:
            rec.image_errors[index] = error
            ctx.ledger.write(
                {"e": "image_failed", "key": rec.key, "i": index, "error": error}, durable=True
            )
            log.warning("task %s image %d: %s", rec.key, index + 1, error)
    settle_images(rec)
    if rec.state is TaskState.DONE:
        ctx.stats.counts["done"] += 1


async def _download_image(ctx: RunContext, rec: TaskRecord, index: int) -> str | None:
    """None when the image is on disk; otherwise why it could not be."""
    last = "no URL for this image"
    for attempt in range(1, ctx.options.download_attempts + 1):
        url = rec.urls[index] if index < len(rec.urls) else None
        if url is not None:
            try:
                image = await fetch(ctx, rec, index, url)
            except DownloadError as exc:
                last = exc.reason
                if not exc.refreshable:
                    return last
                log.info("task %s image %d: %s; asking for fresh URLs", rec.key, index + 1, last)
            else:
                rec.files[index] = image
                rec.image_errors.pop(index, None)
                ctx.ledger.write(
                    {
                        "e": "downloaded",
                        "key": rec.key,
                        "i": index,
                        "path": image.path,
                        "sha256": image.sha256,
                        "size": image.size,
                    },
                    durable=True,
                )
                ctx.stats.counts["images"] += 1
                return None
        if attempt < ctx.options.download_attempts:
            await anyio.sleep(retry.backoff_s(attempt, ctx.options.retry))
            await _refresh_urls(ctx, rec)
    return f"{last} (after {ctx.options.download_attempts} attempts)"


async def _refresh_urls(ctx: RunContext, rec: TaskRecord) -> None:
    if rec.unique_id is None:
        return
    try:
        item, trace = await ctx.client.get_task(rec.unique_id)
    except TransientApiError as exc:
        log.info("task %s: re-query for fresh URLs failed: %s", rec.key, exc)
        return
    raw = item.get("output_url")
    urls = [u for u in raw if isinstance(u, str)] if isinstance(raw, list) else []
    if urls:
        rec.urls = urls[: rec.images_expected]
        ctx.ledger.write(
            {
                "e": "finished",
                "key": rec.key,
                "uid": rec.unique_id,
                "status": "Success",
                "urls": rec.urls,
                "trace": trace,
            }
        )


async def fetch(ctx: RunContext, rec: TaskRecord, index: int, url: str) -> ImageFile:
    if not url.lower().startswith(("http://", "https://")):
        # not fetched; a re-query of the task may well give a proper URL
        raise DownloadError(url, "output URL is not http(s); not fetched", refreshable=True)
    cap = ctx.options.max_download_bytes
    with writing(ctx.images_dir):
        ctx.images_dir.mkdir(parents=True, exist_ok=True)
    temp = ctx.images_dir / f".{rec.key}.{index}.part"
    digest, size, head = hashlib.sha256(), 0, b""
    try:
        async with ctx.session.get(url, timeout=aiohttp.ClientTimeout(total=300)) as response:
            if response.status != 200:
                raise DownloadError(url, f"HTTP {response.status}", refreshable=True)
            expected = response.content_length
            if expected is not None and expected > cap:
                raise DownloadError(url, f"{expected:,} bytes is over the cap", refreshable=False)
            with PartFile(temp) as fh:
                async for chunk in response.content.iter_chunked(1 << 16):
                    size += len(chunk)
                    if size > cap:
                        raise DownloadError(url, f"more than {cap:,} bytes", refreshable=False)
                    if len(head) < 16:
                        head += chunk[:16]
                    digest.update(chunk)
                    fh.write(chunk)
            if expected is not None and size != expected:
                raise DownloadError(url, f"body {size:,} of {expected:,} bytes", refreshable=True)
    except DiskWriteError:
        temp.unlink(missing_ok=True)  # a full disk: the run stops; leave no .part behind
        raise
    except (aiohttp.ClientError, TimeoutError) as exc:
        temp.unlink(missing_ok=True)
        raise DownloadError(
            url, f"transfer failed: {exc.__class__.__name__}", refreshable=True
        ) from exc
    except DownloadError:
        temp.unlink(missing_ok=True)
        raise
    kind = image_kind(head)
    if kind is None:
        temp.unlink(missing_ok=True)
        raise DownloadError(url, "the body is not an image", refreshable=True)
    final = ctx.images_dir / image_name(rec.spec, index, kind, rec.attempt)
    try:
        await anyio.to_thread.run_sync(commit_file, temp, final)
    except DiskWriteError:
        temp.unlink(missing_ok=True)
        raise
    return ImageFile(str(Path("images") / final.name), digest.hexdigest(), size)


def verify_files(run_dir: Path, rec: TaskRecord) -> list[int]:
    """Indexes of recorded images that are missing or changed in size on disk.

    A stat, not a hash: every resume checks every image, and hashing a
    million of them would keep a resume from submitting for an hour. A file a
    crash cut short, or one removed, is caught; the sha256 is in the ledger
    for anyone who wants to check the bytes (`origin` does).
    """
    bad = []
    for index, image in list(rec.files.items()):
        try:
            ok = os.stat(run_dir / image.path).st_size == image.size
        except OSError:
            ok = False
        if not ok:
            bad.append(index)
    return bad
