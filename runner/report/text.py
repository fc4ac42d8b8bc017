"""What the read-only commands print: indented JSON, and text cut to a width."""

from __future__ import annotations

from typing import Any

import orjson


def dumps(data: Any) -> str:
    return orjson.dumps(data, option=orjson.OPT_INDENT_2).decode()


def short(text: str, width: int) -> str:
    """The text on one line, runs of whitespace as one space, cut to `width` with `…`."""
    # A printable text's only whitespace is " " (the others are Unicode's "Other" or
    # "Separator"): single spaces inside it leave nothing to join (a million plan rows).
    if not text.isprintable() or "  " in text or text[:1] == " " or text[-1:] == " ":
        text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def shorts(texts: list[str], width: int) -> list[str]:
    """short() of each text. Joined by single spaces, texts that are printable, with no
    double space and no outer space make a text that is so too: then only the cut is
    left to do (plan shows a million prompts)."""
    joined = " ".join(texts)
    if not joined.isprintable() or "  " in joined or joined[:1] == " " or joined[-1:] == " ":
        return [short(text, width) for text in texts]
    return [text if len(text) <= width else text[: width - 1] + "…" for text in texts]
