"""Upload stage: local reference images go up before the tasks that use them.

Three steps per file (vendor flow): create_upload_url (service=ai_creation),
PUT the bytes to sign_url, poll file_detail until status 1. Each distinct
file (by sha256) is uploaded once per run, single-flight, and recorded in the
ledger, so a resume never uploads it again. The file endpoints have their own
limit (30 a minute), on top of the account's QPS: calls to them are paced
evenly (one every two seconds by default).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import aiohttp
import anyio
from aiolimiter import AsyncLimiter
from anyio.abc import ObjectReceiveStream, ObjectSendStream

from runner.errors import ApiError, UploadFailed
from runner.manifest.localrefs import PREFIX, LocalFile, is_placeholder
from runner.pipeline import outputrefs
from runner.pipeline.context import ReferenceUploads, RunContext
from runner.records import TaskState
from runner.taskrecord import TaskRecord

log = logging.getLogger("runner.upload")
READY, FAILED_CHECK, DELETED = 1, 98, (99, 100)
MAX_DETAIL_POLLS = 60
UPLOAD_TTL_S = 29 * 86_400  # the vendor deletes uploads after 30 days


def uploaded_url(
    uploads: dict[str, tuple[str, float]], sha: str, max_age_s: float | None = None
) -> str | None:
    """Where the file with this sha256 was uploaded (None: never, or over `max_age_s` ago)."""
    entry = uploads.get(sha)
    if entry is None or (max_age_s is not None and time.time() - entry[1] > max_age_s):
        return None
    return entry[0]


def sent_refs(rec: TaskRecord, uploads: dict[str, tuple[str, float]]) -> list[str] | None:
    """The reference URLs a submit of `rec` carried (local files by their uploaded URL),
    to recognise it on the server; None when it has no local references."""
    if rec.sent_refs is not None:  # recorded with the intent (chained tasks, new ledgers)
        return rec.sent_refs
    refs = rec.spec.request.ref_images
    if not any(is_placeholder(r) for r in refs):
        return None
    known = rec.ref_urls or {}
    return [
        known.get(r) or uploaded_url(uploads, r.removeprefix(PREFIX)) or r
        if is_placeholder(r)
        else r
        for r in refs
    ]


@dataclass
class Uploader:
    ctx: RunContext
    files: dict[str, LocalFile]  # sha256 -> file
    urls: dict[str, tuple[str, float]] = field(default_factory=dict)  # sha256 -> (url, when)
    file_limiter: AsyncLimiter = field(init=False)
    _locks: dict[str, anyio.Lock] = field(default_factory=dict)
    _failed: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Paced, not bursty: a sliding one-minute window would refuse a burst of 30.
        self.file_limiter = AsyncLimiter(1, 60.0 / self.ctx.options.file_calls_per_min)

    def add(self, file: LocalFile) -> None:
        """A file to upload on demand (a parent's output, for the fallback)."""
        self.files.setdefault(file.sha256, file)

    def known(self, sha: str) -> str | None:
        return uploaded_url(self.urls, sha, max_age_s=UPLOAD_TTL_S)

    async def url_for(self, sha: str) -> str:
        lock = self._locks.setdefault(sha, anyio.Lock())
        async with lock:
            if sha in self._failed:
                raise UploadFailed(self._failed[sha])
            url = self.known(sha)
            if url is None:
                try:
                    url = await self._upload(self.files[sha])
                except (UploadFailed, ApiError) as exc:
                    self._failed[sha] = str(exc)
                    raise UploadFailed(str(exc)) from exc
                self.urls[sha] = (url, time.time())
                self.ctx.ledger.write({"e": "uploaded", "sha256": sha, "url": url}, durable=True)
            return url

    async def _file_call(self, path: str, params: dict[str, str]) -> dict[str, object]:
        async with self.file_limiter:
            answer = await self.ctx.client.call("GET", path, params=params)
        if not isinstance(answer.data, dict):
            raise UploadFailed(f"{path}: answer has no data [trace_id {answer.trace_id}]")
        return answer.data

    async def _upload(self, file: LocalFile) -> str:
        name = file.path.name
        data = await self._file_call(
            "/open/v1/common/create_upload_url", {"service": "ai_creation", "name": name}
        )
        sign_url, full_path = data.get("sign_url"), data.get("full_path")
        file_id, mime = data.get("file_id"), data.get("mime_type")
        if not all(isinstance(v, str) and v for v in (sign_url, full_path, mime)) or not file_id:
            raise UploadFailed(f"{name}: create_upload_url answer is incomplete")
        assert isinstance(sign_url, str) and isinstance(full_path, str) and isinstance(mime, str)
        body = await anyio.to_thread.run_sync(file.path.read_bytes)
        try:
            async with self.ctx.session.put(
                sign_url,
                data=body,
                headers={"Content-Type": mime},
                timeout=aiohttp.ClientTimeout(total=300),
            ) as r:
                if r.status >= 300:
                    raise UploadFailed(f"{name}: upload refused (HTTP {r.status})")
        except aiohttp.ClientError as exc:
            raise UploadFailed(f"{name}: upload failed ({exc.__class__.__name__})") from exc
        for _ in range(MAX_DETAIL_POLLS):
            detail = await self._file_call("/open/v1/common/file_detail", {"id": str(file_id)})
            status = detail.get("status")
            if status == READY:
                log.info("uploaded %s (%s bytes)", name, f"{file.size:,}")
                return full_path
            if status == FAILED_CHECK:
                raise UploadFailed(f"{name}: refused by the content check (status 98)")
            if status in DELETED:
                raise UploadFailed(f"{name}: deleted by the server (status {status})")
        raise UploadFailed(f"{name}: not ready after {MAX_DETAIL_POLLS} checks")


async def worker(
    ctx: RunContext,
    uploader: ReferenceUploads,
    receive: ObjectReceiveStream[TaskRecord],
    send: ObjectSendStream[TaskRecord],
) -> None:
    """Pass tasks on once their local references are on the server."""
    async with receive, send:
        async for rec in receive:
            try:
                urls = {
                    ref: await uploader.url_for(ref.removeprefix(PREFIX))
                    for ref in rec.spec.request.ref_images
                    if is_placeholder(ref)
                }
                if outputrefs.has_output_refs(rec):
                    urls.update(await outputrefs.resolve(ctx, uploader, rec))
            except UploadFailed as exc:
                rec.state, rec.error = TaskState.FAILED, f"reference image: {exc}"
                ctx.ledger.write({"e": "failed", "key": rec.key, "error": rec.error}, durable=True)
                log.warning("task %s: %s", rec.key, rec.error)
                ctx.final(rec)
                continue
            rec.ref_urls = urls
            await send.send(rec)
