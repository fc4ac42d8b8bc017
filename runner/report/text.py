"""What the read-only commands print: indented JSON, and text cut to a width."""

from __future__ import annotations

from typing import Any

import orjson


def dumps(data: Any) -> str:
    return orjson.dumps(data, option=orjson.OPT_INDENT_2).decode()


def short(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
