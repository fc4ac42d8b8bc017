"""index.html: one self-contained page to look at a run.

No network: inline CSS, relative image paths, reference images shown as links
(not loaded). The status filter is CSS only (radio buttons), so it works with
scripts off. Every manifest-derived string is escaped.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from html import escape
from typing import Any

STATUSES = ("succeeded", "failed", "pending")
CSS = (
    "*{box-sizing:border-box}"
    "body{font:15px/1.45 system-ui,sans-serif;margin:0;padding:16px;background:#f6f6f4;color:#222}"
    "h1{font-size:1.3em;margin:0 0 4px}.totals{color:#555;margin:0 0 12px}"
    ".filters{display:flex;gap:8px;flex-wrap:wrap;margin-bottom:14px}"
    ".filters label{padding:4px 12px;border:1px solid #aaa;border-radius:16px;cursor:pointer;"
    "background:#fff}"
    "input[name=f]{position:absolute;opacity:0}"
    ".grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(260px,1fr));gap:14px}"
    ".task{background:#fff;border-radius:8px;padding:10px;box-shadow:0 1px 3px #0002;"
    "overflow-wrap:anywhere}"
    ".task.failed{border-left:4px solid #c33}.task.pending{border-left:4px solid #d90}"
    ".thumbs{display:flex;gap:6px;flex-wrap:wrap}.thumbs a{flex:1 1 45%}"
    ".thumbs img{max-width:100%;max-height:220px;border-radius:4px;background:#eee}"
    ".status{font-weight:600;text-transform:uppercase;font-size:.75em;letter-spacing:.05em}"
    ".succeeded .status{color:#275}.failed .status{color:#c33}.pending .status{color:#b70}"
    ".prompt{margin:6px 0}.params{color:#666;font-size:.85em}.error{color:#c33;font-size:.9em}"
    ".refs{font-size:.8em}"
    # The filter: a checked radio highlights its label and hides the other statuses.
    + "".join(
        f"#f-{s}:checked~.filters label[for=f-{s}]{{background:#222;color:#fff}}"
        for s in ("all", *STATUSES)
    )
    + "".join(f"#f-{s}:checked~.grid .task:not(.{s}){{display:none}}" for s in STATUSES)
)


def _task(item: dict[str, Any]) -> str:
    status = item["status"]
    params = item.get("parameters", {})
    thumbs = "".join(
        f'<a href="{escape(f)}"><img src="{escape(f)}" loading="lazy" '
        f'alt="image {i + 1} of task {escape(item["key"])}"></a>'
        for i, f in enumerate(item.get("files", []))
    )
    refs = "".join(
        f'<li><a href="{escape(u)}" rel="noreferrer">{escape(u[:80])}</a></li>'
        for u in params.get("ref_images", [])
        if u.lower().startswith(("http://", "https://"))
    )
    shown = ", ".join(
        f"{k} {escape(str(v))}" for k, v in params.items() if k not in ("ref_images",)
    )
    error = f'<div class="error">{escape(item["error"])}</div>' if item.get("error") else ""
    trace = f" · trace {escape(item['trace_id'])}" if item.get("trace_id") else ""
    title = escape(item.get("name") or item["key"])
    return (
        f'<article class="task {status}" data-key="{escape(item["key"])}">'
        f'<div><span class="status">{status}</span> <b>{title}</b></div>'
        f'<div class="thumbs">{thumbs}</div>'
        f'<p class="prompt">{escape(item["prompt"])}</p>'
        f'<div class="params">{shown}{trace}</div>{error}'
        f"{'<ul class=refs>' + refs + '</ul>' if refs else ''}</article>"
    )


def gallery_parts(head: dict[str, Any], items: Iterable[dict[str, Any]]) -> Iterator[str]:
    """The page in pieces, one per task, so a 100,000-task run is never held whole."""
    tasks, images = head["tasks"], head["images"]
    counts = {k: tasks[k] for k in STATUSES}
    filters = "".join(
        f'<label for="f-{k}">{k} ({n})</label>'
        for k, n in [("all", tasks["total"]), *counts.items()]
    )
    radios = "".join(
        f'<input type="radio" name="f" id="f-{k}"{" checked" if k == "all" else ""}>'
        for k in ("all", *STATUSES)
    )
    yield (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{escape(head['name'])} · seedream-batch</title><style>{CSS}</style></head>"
        f"<body><h1>{escape(head['name'])}</h1>"
        f'<p class="totals">{tasks["total"]} tasks: {tasks["succeeded"]} succeeded, '
        f"{tasks['failed']} failed, {tasks['pending']} pending · "
        f"{images['downloaded']} of {images['expected']} images · {head['generated_at']}</p>"
        f'{radios}<nav class="filters">{filters}</nav><main class="grid">'
    )
    for item in items:
        yield _task(item)
    yield "</main></body></html>"
