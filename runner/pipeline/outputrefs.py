"""How a parent's output becomes a child's reference image.

By default the parent's output URL is sent as it is: no extra calls. The
downloaded file is uploaded instead (through the upload flow, once per
content) when that URL is older than `--ref-url-max-age` (how long output
URLs stay valid is unpublished), when the parent has no URL for it, or when a
submit was refused because of it (code 40000 naming the URL or `ref_img_url`).
"""

from __future__ import annotations

import time

from runner import modeltable
from runner.errors import PermanentApiError
from runner.manifest.localrefs import LocalFile
from runner.pipeline.context import ReferenceUploads, RunContext
from runner.records import parse_task_ref
from runner.taskrecord import TaskRecord


def has_output_refs(rec: TaskRecord) -> bool:
    return any(parse_task_ref(ref) for ref in rec.spec.request.ref_images)


async def resolve(
    ctx: RunContext, uploader: ReferenceUploads, rec: TaskRecord, *, upload: bool = False
) -> dict[str, str]:
    """`task:<key>#<i>` -> the URL to send for each parent output `rec` takes."""
    urls: dict[str, str] = {}
    max_age_s = ctx.options.ref_url_max_age_s
    for ref in rec.spec.request.ref_images:
        found = parse_task_ref(ref)
        if found is None or ref in urls:
            continue
        parent = ctx.records[found[0]]
        index = found[1]
        url = parent.urls[index] if index < len(parent.urls) else None
        age_s = time.time() - (parent.finished_at or 0.0)
        if url is not None and not upload and age_s <= max_age_s:
            urls[ref] = url
            continue
        image = parent.files[index]
        uploader.add(LocalFile(image.sha256, ctx.run_dir / image.path, image.size))
        urls[ref] = await uploader.url_for(image.sha256)
    return urls


def refused_output_url(exc: PermanentApiError, rec: TaskRecord) -> bool:
    """Was this 40000 about the output URLs we sent as references?"""
    if exc.code != 40000 or not rec.ref_urls:
        return False
    sent = [url for ref, url in rec.ref_urls.items() if parse_task_ref(ref) is not None]
    spec = modeltable.find(rec.spec.request.model_code)
    fields = ("ref_img_url", *(spec.references.fields if spec else ()))
    return bool(sent) and any(text in exc.message for text in (*sent, *fields))


def likely_sent(
    rec: TaskRecord,
    records: dict[str, TaskRecord],
    uploads: dict[str, tuple[str, float]],
    sent: list[str] | None,
) -> list[str] | None:
    """The references a submit of `rec` most likely carried, to recognise it on the
    server when the ledger lost its intent: each parent output by its URL (the
    default), else by its uploaded copy. `sent`: what the intent recorded, or the
    request's references with local files resolved."""
    if rec.sent_refs is not None or not has_output_refs(rec):
        return sent
    out = list(sent if sent is not None else rec.spec.request.ref_images)
    for pos, ref in enumerate(rec.spec.request.ref_images):
        found = parse_task_ref(ref)
        parent = records.get(found[0]) if found else None
        if found is None or parent is None:
            continue
        index = found[1]
        image = parent.files.get(index)
        if index < len(parent.urls):
            out[pos] = parent.urls[index]
        elif image is not None and image.sha256 in uploads:
            out[pos] = uploads[image.sha256][0]
    return out
