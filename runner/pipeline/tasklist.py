"""The account's task list (`/task/page` without ids), read a page at a time.

An account can hold far more tasks than a run: whoever reads the listing (the
in-doubt lookup, resume-time adoption, the end-of-run audit) keeps only what
can match one of its requests, reduced by `slim` to the fields a match reads,
and drops the rest of each page before the next is fetched.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import anyio

from runner.api.client import ApiClient
from runner.records import Request
from runner.taskrecord import TaskRecord

log = logging.getLogger("runner.reconcile")

# What `same_request`, `assign` and the audit read of a listed task: nothing else is kept.
_ITEM_FIELDS = (
    *("unique_id", "create_time", "progress_desc"),
    *("model_code", "ref_img_url", "aspect_ratio"),
)
_INFO_FIELDS = (
    *("ref_prompt", "ref_img_url", "start_frame", "end_frame", "aspect_ratio"),
    *("clarity", "number_of_images", "video_duration", "quality_mode"),
)


def slim(item: dict[str, Any]) -> dict[str, Any]:
    """A listed task reduced to the fields a match reads (not its URLs, not the rest)."""
    out = {k: item[k] for k in _ITEM_FIELDS if k in item}
    for name in ("photo_info", "motion_info"):
        info = item.get(name)
        if isinstance(info, dict):
            out[name] = {k: info[k] for k in _INFO_FIELDS if k in info}
    return out


def listed_prompt(item: dict[str, Any]) -> str | None:
    """The prompt a listed task (image or video) was created with."""
    info = item.get("photo_info") or item.get("motion_info")
    prompt = info.get("ref_prompt") if isinstance(info, dict) else None
    return prompt if isinstance(prompt, str) else None


def prompt_filter(prompts: set[str]) -> Callable[[dict[str, Any]], dict[str, Any] | None]:
    """`keep` for `scan`: only tasks carrying one of these prompts, slimmed."""

    def keep(item: dict[str, Any]) -> dict[str, Any] | None:
        return slim(item) if listed_prompt(item) in prompts else None

    return keep


# A long scan waits on round trips, not on the QPS budget (the limiter still spaces
# every call): after the first page, pages are asked for 1, 2, then up to this many
# at once. A scan that stops after a page or two asks for nothing more; a long one
# reads at most this many less one past the page where it stops.
PAGES_AHEAD = 4


async def pages(
    client: ApiClient, since_t: float, max_pages: int, kind_type: int = 3
) -> AsyncIterator[list[dict[str, Any]]]:
    """The account's tasks of one kind (3 image, 4 video) back to `since_t`, a page at a time,
    newest first: a caller keeps what it needs of each page, never the whole listing.

    The order of `list` is undocumented: stopping early is only done while
    every page seen so far came in descending create_time order.
    """
    previous: float | None = None
    descending = True
    first, total_page, _ = await client.page([], 1, 50, kind_type)
    window: list[list[dict[str, Any]]] = [first]
    page, ahead = 1, 1
    while True:
        for batch in window:
            for item in batch:
                t = item.get("create_time")
                if isinstance(t, int | float):
                    descending = descending and (previous is None or t <= previous)
                    previous = t
            yield batch
            if not batch or page >= total_page:
                return
            if descending and previous is not None and previous < since_t:
                return
            if page >= max_pages:
                log.warning("in-doubt scan stopped after %d pages (--max-scan-pages)", max_pages)
                return
            page += 1
        last = min(total_page, max_pages, page + ahead - 1)
        window = await _fetch(client, range(page, last + 1), kind_type)
        ahead = min(PAGES_AHEAD, ahead * 2)


async def _fetch(client: ApiClient, numbers: range, kind_type: int) -> list[list[dict[str, Any]]]:
    """These pages, asked for together; the first failure, as itself, once all are back."""
    got: dict[int, list[dict[str, Any]]] = {}
    failed: dict[int, Exception] = {}

    async def one(number: int) -> None:
        try:
            got[number] = (await client.page([], number, 50, kind_type))[0]
        except Exception as exc:  # raised below as itself, not in an exception group
            failed[number] = exc

    async with anyio.create_task_group() as tg:
        for number in numbers:
            tg.start_soon(one, number)
    if failed:
        raise failed[min(failed)]
    return [got[n] for n in numbers]


def kinds_of(records: Iterable[TaskRecord]) -> tuple[int, ...]:
    """The task-list types (3 image, 4 video) these tasks are listed under: one kind a call."""
    # A million records share a handful of request forms: the table is asked once a form.
    forms = {r.spec.request.form for r in records}
    return tuple(sorted({Request("", form=form).creation_type for form in forms}))


async def scan(
    client: ApiClient,
    since_t: float,
    max_pages: int,
    kinds: Iterable[int],
    keep: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None,
) -> list[dict[str, Any]]:
    """The account's tasks of these kinds back to `since_t` (see `pages`); with `keep`, only
    what it returns for each (None: dropped), so memory follows the matches, not the account."""
    items: list[dict[str, Any]] = []
    for kind in kinds:
        async for batch in pages(client, since_t, max_pages, kind):
            if keep is None:
                items.extend(batch)
            else:
                items.extend(k for k in map(keep, batch) if k is not None)
    return items
