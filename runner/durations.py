"""`--deadline` values: a duration (`90m`, `6h`, `1h30m`, `45s`, `120`) or a
clock time (`07:00`, the next time the local clock shows it)."""

from __future__ import annotations

import datetime as dt
import re

from runner.errors import UsageError

_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration_s(text: str) -> float:
    text = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    if text and _PART.sub("", text) == "":
        return sum(float(n) * _UNIT[u] for n, u in _PART.findall(text))
    raise UsageError(f"{text!r} is not a duration (examples: 90m, 6h, 1h30m, 45s)")


def parse_deadline_s(text: str, now: dt.datetime | None = None) -> float:
    """Seconds from `now` until the deadline."""
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", text.strip())
    if not match:
        return parse_duration_s(text)
    hour, minute = int(match[1]), int(match[2])
    if hour > 23 or minute > 59:
        raise UsageError(f"{text!r} is not a clock time")
    now = now or dt.datetime.now()
    target = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if target <= now:
        target += dt.timedelta(days=1)
    return (target - now).total_seconds()
