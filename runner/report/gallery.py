"""index.html: the run's gallery, openable from a file share, quick at 100,000 tasks.

The page itself is small: totals, filter controls, and the first page of tasks
as plain HTML (what a reader without scripts sees). The tasks live beside it
in `gallery/chunk-NNNNN.js`, CHUNK tasks a file, failed ones first; an inline
script loads the chunk a page needs (script tags work from file://, fetch does
not). A filter or another order reads `gallery/search-NNNNN.js` (each task's
state, decision, model, kind and lower-cased text: a fraction of the cards),
then loads only the chunks that hold the page of matches it shows.
Nothing is fetched from the network, and every run-derived string is escaped
(here) or set as text (in the script).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from html import escape
from importlib import resources
from itertools import islice
from pathlib import Path
from typing import Any

import orjson

from runner.report.gallery_cards import card_html
from runner.rundir.files import commit_file
from runner.taskrecord import TaskRecord

PAGE = 100
CHUNK = 2000
RANK = {"failed": 0, "blocked": 1, "pending": 2, "succeeded": 3}
ItemOf = Callable[[TaskRecord], dict[str, Any]]


def _asset(name: str) -> str:
    return resources.files("runner.report").joinpath("assets", name).read_text("utf-8")


def accounts_line(head: dict[str, Any]) -> str:
    """A pool run: tasks per account label (labels only, never credentials)."""
    accounts = head.get("accounts") or {}
    if not accounts:
        return ""
    parts = ", ".join(
        f"{escape(label)} {c['tasks']} ({c['succeeded']} succeeded)"
        for label, c in accounts.items()
    )
    return f'<p class="totals accounts">accounts: {parts}</p>'


def gallery_order(
    records: Sequence[TaskRecord], status_of: Callable[[TaskRecord], str]
) -> Iterator[int]:
    """Failed first, then pending, then succeeded; the manifest's order within each.
    A pass over the records a status: no list of a million places is made."""
    for status in RANK:
        for i, rec in enumerate(records):
            if status_of(rec) == status:
                yield i


def search_row(item: dict[str, Any]) -> list[Any]:
    """What the filters read, small: a search loads these for every task, not the cards."""
    text = f"{item.get('name') or ''}\n{item['prompt']}\n{item['key']}".lower()
    model = item.get("model_code") or item.get("parameters", {}).get("model_code", "")
    kind = item.get("kind") or "image"
    return [item["status"], item.get("decision") or "none", model, kind, text, item.get("n", 0)]


def _commit_js(folder: Path, name: str, call: bytes, number: int, data: bytes) -> None:
    tmp = folder / f".{name}.tmp"
    tmp.write_bytes(b"%s(%d,%s);\n" % (call, number, data))
    commit_file(tmp, folder / name)


def write_chunks(folder: Path, items: Iterator[dict[str, Any]]) -> int:
    """Write the items in chunk files, and their search rows in search files beside
    them; returns how many chunks; stale files are removed."""
    folder.mkdir(exist_ok=True)
    count, batch = 0, list[dict[str, Any]]()

    def flush() -> None:
        nonlocal count
        rows = orjson.dumps([search_row(item) for item in batch])
        _commit_js(folder, f"chunk-{count:05d}.js", b"galleryChunk", count, orjson.dumps(batch))
        _commit_js(folder, f"search-{count:05d}.js", b"gallerySearch", count, rows)
        count += 1
        batch.clear()

    for item in items:
        batch.append(item)
        if len(batch) >= CHUNK:
            flush()
    if batch or count == 0:
        flush()
    for old in [*folder.glob("chunk-*.js"), *folder.glob("search-*.js")]:
        if int(old.stem.split("-", 1)[1]) >= count:
            old.unlink()
    return count


def write_gallery(
    run_dir: Path,
    head: dict[str, Any],
    records: Sequence[TaskRecord],
    item_of: ItemOf,
    status_of: Callable[[TaskRecord], str],
) -> None:
    version = str(head.get("generated_at", ""))

    def items() -> Iterator[dict[str, Any]]:
        for i in gallery_order(records, status_of):
            item = item_of(records[i])
            item["n"] = i
            yield item

    chunks = write_chunks(run_dir / "gallery", items())
    first = [item_of(records[i]) for i in islice(gallery_order(records, status_of), PAGE)]
    facets = {"model": sorted(Counter(r.spec.request.model_code for r in records))}
    meta = {"chunks": chunks, "chunk": CHUNK, "page": PAGE, "total": len(records), "v": version}
    tmp = run_dir / ".index.html.tmp"
    with tmp.open("w", encoding="utf-8") as out:
        for part in gallery_parts(head, first, facets, meta):
            out.write(part)
    commit_file(tmp, run_dir / "index.html")


def _options(name: str, label: str, values: list[str]) -> str:
    opts = "".join(f'<option value="{escape(v)}">{escape(v)}</option>' for v in values)
    first = f'<option value="">{label}</option>'
    return f'<select name="{name}" aria-label="{label}">{first}{opts}</select>'


def gallery_parts(
    head: dict[str, Any],
    first: list[dict[str, Any]],
    facets: dict[str, list[str]],
    meta: dict[str, Any],
) -> Iterator[str]:
    tasks, images = head["tasks"], head["images"]
    decisions = head.get("decisions", {})
    kept = (
        f" · kept {decisions.get('keep', 0)}, rejected {decisions.get('reject', 0)}"
        if decisions
        else ""
    )
    videos = head.get("videos") or {}
    if videos.get("expected"):
        kept = f" · {videos['downloaded']} of {videos['expected']} videos{kept}"
    more = (
        f'<p class="more">showing the first {len(first)} of {tasks["total"]} tasks (failed first);'
        " the pages, search and filters need scripts enabled</p>"
        if tasks["total"] > len(first)
        else ""
    )
    # JSON in a script element: escape "<" so no value can close the element.
    meta_js = orjson.dumps(meta).decode().replace("<", "\\u003c")
    yield (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{escape(head['name'])} · seedream-batch</title>"
        f"<style>{_asset('gallery.css')}</style></head>"
        f"<body><header><h1>{escape(head['name'])}</h1>"
        f'<p class="totals">{tasks["total"]} tasks: {tasks["succeeded"]} succeeded, '
        f"{tasks['failed']} failed, {tasks['pending']} pending"
        f"{f', {b} blocked' if (b := tasks.get('blocked')) else ''} · "
        f"{images['downloaded']} of {images['expected']} images{kept} · {head['generated_at']}</p>"
        + _duplicates_line(head)
        + accounts_line(head)
        + '<form id="filters" hidden onsubmit="return false">'
        '<input type="search" name="q" placeholder="search prompts and names" '
        'aria-label="search prompts and names">'
        + _options("status", "every state", ["failed", "blocked", "pending", "succeeded"])
        + _options("decision", "any decision", ["keep", "reject", "none"])
        + _options("model", "every model", facets["model"])
        + _options("kind", "images and videos", ["image", "video"])
        + '<select name="sort" aria-label="order"><option value="">failed first</option>'
        '<option value="order">manifest order</option></select>'
        '</form><nav id="pager" hidden><button type="button" id="prev">‹ previous</button>'
        ' <span id="pageinfo"></span> <button type="button" id="next">next ›</button></nav>'
        '</header><main id="grid" class="grid">'
    )
    for item in first:
        yield card_html(item)
    yield (
        f"</main>{more}<script>const GALLERY = {meta_js};</script>"
        f"<script>{_asset('gallery.js')}</script></body></html>"
    )


def _duplicates_line(head: dict[str, Any]) -> str:
    """The audit's finding, if any: one line any gallery layout can carry over."""
    n = head.get("duplicates_billed") or 0
    if not n:
        return ""
    return (
        f'<p class="duplicates" style="color:#c33;font-weight:600">{n} task(s) were created '
        "twice on the server and billed twice (found by the audit); their images are kept "
        'too (*.dup-*), see "duplicates" in summary.json</p>'
    )
