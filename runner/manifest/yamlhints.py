"""Say what a YAML syntax error means, and where it began, in words a user can act on.

A parser notices a mistake where it gives up, often lines after the mistake
(an unclosed quote swallows the lines below it), so the message names both
marks PyYAML gives: the problem and the context it was parsing, e.g.
`did not find expected key (while parsing the mapping that starts at line 3:5)`.
The hint then points at the likely cause: a tab in the indentation, or the
line where a quote was opened and never closed.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

_PLAIN_WORDS = {
    "a block mapping": "the mapping",
    "a block collection": "the list",
    "a block sequence": "the list",
    "a flow sequence": "the [...] list",
    "a flow mapping": "the {...} mapping",
    "a quoted scalar": "the quoted text",
    "a plain scalar": "the text",
    "a simple key": "the key",
    "a directive": "the directive",
    "an anchor": "the anchor",
    "an alias": "the alias",
    "a tag": "the tag",
    "a block scalar": "the block text",
}


@dataclass(frozen=True, slots=True)
class Described:
    line: int  # 1-based, where the parser gave up; 0 when unknown
    column: int
    message: str
    hint: str


def describe(exc: yaml.MarkedYAMLError, text: str) -> Described:
    problem, context = exc.problem_mark, exc.context_mark
    line, col = (problem.line + 1, problem.column + 1) if problem else (0, 0)
    message = f"not valid YAML: {exc.problem or exc}"
    if context is not None and exc.context and not _same(context, problem):
        what = exc.context
        for jargon, plain in _PLAIN_WORDS.items():
            what = what.replace(jargon, plain)
        message += f" ({what} that starts at line {context.line + 1}:{context.column + 1})"
    lines = text.splitlines()
    return Described(line, col, message, _hint(lines, exc, line))


def _same(a: yaml.Mark, b: yaml.Mark | None) -> bool:
    return b is not None and (a.line, a.column) == (b.line, b.column)


def _hint(lines: list[str], exc: yaml.MarkedYAMLError, line: int) -> str:
    tab = _first_tab_indent(lines, line)
    if tab:
        return f"line {tab} is indented with a tab: indent with spaces"
    start = exc.context_mark.line + 1 if exc.context_mark else line
    opened = _unclosed_quote(lines, start, max(line, start))
    if opened:
        at_line, at_col, quote = opened
        return f"the {quote} opened at line {at_line}:{at_col} is never closed"
    problem = exc.problem_mark
    if problem is not None and problem.line < len(lines):
        before = lines[problem.line][: problem.column].rstrip()
        if before.endswith(("'", '"')):
            return (
                f"text follows the closing quote at line {problem.line + 1}:{len(before)}: "
                "quote the whole value; inside single quotes, write '' for a '"
            )
    return ""


def _first_tab_indent(lines: list[str], upto: int) -> int:
    """The first line, up to the problem's, whose indentation holds a tab."""
    for number, text in enumerate(lines[: max(upto, 1)], start=1):
        indent = text[: len(text) - len(text.lstrip(" \t"))]
        if "\t" in indent:
            return number
    return 0


def _unclosed_quote(lines: list[str], first: int, last: int) -> tuple[int, int, str] | None:
    """The first line in [first, last] where a value opens a quote it does not close."""
    for number in range(max(first, 1), min(last, len(lines)) + 1):
        found = _odd_quote(lines[number - 1])
        if found is not None:
            return number, found[0] + 1, found[1]
    return None


def _odd_quote(text: str) -> tuple[int, str] | None:
    """Column (0-based) and kind of a quote opened on this line and left open."""
    stripped = text.lstrip(" -")
    if stripped.startswith("#"):
        return None
    opened_at, quote, i = -1, "", 0
    while i < len(text):
        ch = text[i]
        if not quote and ch == "#" and (i == 0 or text[i - 1] in " \t"):
            break  # a comment
        if not quote and ch in "\"'" and (i == 0 or text[i - 1] in " \t:[{,-"):
            opened_at, quote = i, ch
        elif quote == '"' and ch == "\\":
            i += 1
        elif quote and ch == quote:
            if quote == "'" and text[i + 1 : i + 2] == "'":
                i += 1  # '' is a quote inside single quotes
            else:
                quote = ""
        i += 1
    if quote:
        return opened_at, "double quote" if quote == '"' else "single quote"
    return None
