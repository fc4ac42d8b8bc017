"""`{placeholder}` filling for prompts and names.

Only `{identifier}` is a placeholder; `{{` and `}}` are literal braces; any
other brace stays as written, so a prompt quoting JSON is not an error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from runner.errors import MissingVar

_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


def placeholders(template: str) -> set[str]:
    return {m.group(1) for m in _TOKEN.finditer(template) if m.group(1)}


def fill(template: str, values: Mapping[str, str]) -> str:
    if "{" not in template and "}" not in template:
        return template

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return match.group(0)[0]
        if name not in values:
            raise MissingVar(name)
        return values[name]

    return _TOKEN.sub(sub, template)
