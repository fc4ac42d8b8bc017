"""Download stage: generated tasks in, images and videos on disk.

CDN fetches are outside the API budget; `--concurrency` bounds them. Each
file streams into a temporary file beside its final name (images/ or videos/),
resumed with Range after a dropped connection (transfer.py), is checked
(length, the size cap of its kind, magic bytes: PNG, JPEG, WebP, MP4),
fsynced and renamed, and only then recorded. A failing URL makes us ask the
API for fresh URLs, a bounded number of times.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import anyio
from anyio.abc import ObjectReceiveStream

from runner.api import retry
from runner.errors import AuthError, DiskWriteError, DownloadError, TransientApiError
from runner.filetypes import file_kind
from runner.pipeline import transfer
from runner.pipeline.context import RunContext
from runner.records import ImageFile, TaskState
from runner.rundir.files import PartFile, commit_file, image_name, output_dir, writing
from runner.rundir.replay import settle_images
from runner.taskrecord import TaskRecord

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
            rec.add_image_error(index, error)
            ctx.ledger.write(
                {"e": "image_failed", "key": rec.key, "i": index, "error": error}, durable=True
            )
            log.warning("task %s image %d: %s", rec.key, index + 1, error)
    settle_images(rec)
    if rec.state is TaskState.DONE:
        ctx.stats.counts["done"] += 1
    if rec.state.final:
        ctx.final(rec)


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
                rec.add_file(index, image)
                rec.drop_image_error(index)
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
    account = ctx.pool.of(rec) if ctx.pool is not None else None
    client = ctx.client if account is None else account.client  # the task's own account
    if account is not None and not account.alive:
        log.info("task %s: no re-query for fresh URLs: %s left the pool", rec.key, account.name)
        return
    try:
        item, trace = await client.get_task(rec.unique_id)
    except TransientApiError as exc:
        log.info("task %s: re-query for fresh URLs failed: %s", rec.key, exc)
        return
    except AuthError as exc:
        if account is None or ctx.pool is None or not ctx.pool.retire(account, str(exc)):
            raise
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
    kind = rec.spec.request.kind
    opts = ctx.options
    cap = opts.max_video_download_bytes if kind == "video" else opts.max_download_bytes
    folder = ctx.run_dir / output_dir(kind)
    with writing(folder):
        folder.mkdir(parents=True, exist_ok=True)
    temp = folder / f".{rec.key}.{index}.part"
    try:
        with PartFile(temp) as part:
            got = await transfer.receive(ctx.session, url, part, cap, kind=kind)
    except (DiskWriteError, DownloadError):
        temp.unlink(missing_ok=True)  # a full disk stops the run; leave no .part behind
        raise
    if got.resumes:
        ctx.stats.counts["resumed"] += got.resumes
    ext = file_kind(got.head, kind)
    if ext is None:
        temp.unlink(missing_ok=True)
        what = "a video" if kind == "video" else "an image"
        raise DownloadError(url, f"the body is not {what}", refreshable=True)
    final = folder / image_name(rec.spec, index, ext, rec.attempt)
    try:
        await anyio.to_thread.run_sync(commit_file, temp, final)
    except DiskWriteError:
        temp.unlink(missing_ok=True)
        raise
    return ImageFile(str(Path(output_dir(kind)) / final.name), got.sha256, got.size)


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
