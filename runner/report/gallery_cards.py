"""One task as a gallery card, in HTML: the page's first screen without scripts.

gallery.js draws the same card for the other pages. Each card says what
differs from task to task (name, images, prompt, error); the model, trace id
and parameters sit in a folded details line.
"""

from __future__ import annotations

from html import escape
from typing import Any

VIDEO_SUFFIXES = (".mp4", ".webm", ".mov")


def media_html(path: str, alt: str) -> str:
    p = escape(path)
    if path.lower().endswith(VIDEO_SUFFIXES):
        return f'<video controls preload="metadata" src="{p}"></video>'
    return f'<a href="{p}"><img src="{p}" loading="lazy" alt="{escape(alt)}"></a>'


def _refs(item: dict[str, Any]) -> str:
    out = []
    for ref in item.get("refs", []):
        name, thumb, raw = ref.get("name"), ref.get("thumb"), ref.get("ref", "")
        if thumb:
            figure = (
                f'<figure><img src="{escape(thumb)}" loading="lazy" alt="">'
                f"<figcaption>{escape(name or raw)}</figcaption></figure>"
            )
            parent = ref.get("parent")  # another task's output: link to that task's card
            out.append(f'<a href="#t-{escape(parent)}">{figure}</a>' if parent else figure)
        elif raw.lower().startswith(("http://", "https://")):
            out.append(f'<a href="{escape(raw)}" rel="noreferrer">{escape(raw[:80])}</a>')
        else:
            out.append(f"<span>{escape(name or raw)}</span>")
    return f'<div class="refs">{"".join(out)}</div>' if out else ""


def card_html(item: dict[str, Any]) -> str:
    status, decision = item["status"], item.get("decision") or ""
    title = escape(item.get("name") or item["key"])
    thumbs = "".join(
        media_html(f, f"image {i + 1} of {item.get('name') or item['key']}")
        for i, f in enumerate(item.get("files", []))
    )
    badges = (f'<span class="badge {status}">{status}</span>' if status != "succeeded" else "") + (
        f'<span class="badge {decision}">{decision}</span>' if decision else ""
    )
    params = item.get("parameters", {})
    shown = " · ".join(
        f"{k} {escape(str(v))}" for k, v in params.items() if k not in ("ref_images", "model_code")
    )
    ids = " · ".join(
        f"{label} {escape(str(item[k]))}"
        for k, label in (("unique_id", "unique_id"), ("trace_id", "trace"), ("key", "key"))
        if item.get(k)
    )
    earlier = "".join(
        f'<div class="earlier">attempt {a["attempt"]} '
        f"({escape(a.get('decision') or 'undecided')}): "
        + "".join(media_html(f, f"attempt {a['attempt']}") for f in a.get("files", []))
        + "</div>"
        for a in item.get("attempts", [])
    )
    error = f'<p class="error">{escape(item["error"])}</p>' if item.get("error") else ""
    return (
        f'<article class="{escape(" ".join(filter(None, ("task", status, decision))))}" '
        f'id="t-{escape(item["key"])}" data-key="{escape(item["key"])}">'
        f'<div class="head"><b>{title}</b>{badges}</div>'
        f'<div class="thumbs">{thumbs}</div>'
        f'<p class="prompt">{escape(item["prompt"])}</p>{error}{_refs(item)}'
        f"<details><summary>{escape(str(params.get('model_code', '')))}</summary>"
        f'<div class="params">{shown}</div><div class="ids">{ids}</div>{earlier}</details>'
        "</article>"
    )
