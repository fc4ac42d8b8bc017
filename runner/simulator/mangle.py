"""Broken answers for the query endpoints, for the runner's robustness tests.

Each kind is something an API, a proxy or a bug has been seen to send:
the runner must log it (with the trace_id when there is one) and go on.
"""

from __future__ import annotations

import copy
import json
from typing import Any

KINDS = (
    "not_json",
    "truncated_json",
    "data_null",
    "list_not_list",
    "item_not_dict",
    "progress_unknown",
    "progress_missing",
    "output_url_string",
    "output_url_null",
    "extra_urls",
    "url_not_http",
    "wrong_types",
    "html",
)


def mangle(envelope: dict[str, Any], kind: str) -> tuple[bytes, str]:
    """Body and content type of a broken version of `envelope`."""
    if kind == "not_json":
        return b"this is not json", "application/json"
    if kind == "html":
        return b"<html><body>maintenance</body></html>", "text/html"
    text = json.dumps(envelope)
    if kind == "truncated_json":
        return text[: len(text) // 2].encode(), "application/json"
    env = copy.deepcopy(envelope)
    data = env.get("data")
    found: Any = data.get("list") if isinstance(data, dict) and "list" in data else [data]
    items: list[dict[str, Any]] = [i for i in found if isinstance(i, dict)]
    if kind == "data_null":
        env["data"] = None
    elif kind == "list_not_list" and isinstance(data, dict) and "list" in data:
        data["list"] = {"oops": True}
    elif kind == "item_not_dict" and isinstance(data, dict) and "list" in data:
        data["list"] = ["a string", 42, *data["list"]]
    for item in items:
        if kind == "progress_unknown":
            item["progress_desc"] = "Pondering"
        elif kind == "progress_missing":
            item.pop("progress_desc", None)
        elif kind == "output_url_string" and item.get("output_url"):
            item["output_url"] = item["output_url"][0]
        elif kind == "output_url_null":
            item["output_url"] = None
        elif kind == "extra_urls" and item.get("output_url"):
            item["output_url"] = item["output_url"] + ["https://cdn.invalid/extra.png"] * 3
        elif kind == "url_not_http" and item.get("output_url"):
            item["output_url"] = ["file:///etc/passwd" for _ in item["output_url"]]
        elif kind == "wrong_types":
            item["create_time"], item["photo_info"], item["unique_id"] = "yesterday", [], 12345
    return json.dumps(env).encode(), "application/json"
