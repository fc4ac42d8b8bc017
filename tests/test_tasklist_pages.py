"""Reading an account's task list: pages come in order, newest first, a long scan
asks for a few at once, and a scan that stops early asks for nothing more."""

from __future__ import annotations

from typing import Any

import pytest

from runner.errors import TransientApiError
from runner.pipeline import tasklist
from runner.records import Request

from .test_audit_early import TaskList


def _account(n: int) -> TaskList:
    tasks = TaskList()
    for i in range(n):  # task i made at second 1000 + i: the newest is first
        tasks.create(f"u{i}", Request(f"p{i}"), 1000 + i)
    return tasks


async def _scan(tasks: TaskList, since_t: float, max_pages: int = 200) -> list[str]:
    seen: list[str] = []
    async for batch in tasklist.pages(tasks, since_t, max_pages):  # type: ignore[arg-type]
        seen += [item["unique_id"] for item in batch]
    return seen


async def test_a_long_scan_yields_every_page_in_order() -> None:
    tasks = _account(1000)  # 20 pages
    seen = await _scan(tasks, since_t=0)
    assert seen == [f"u{i}" for i in range(999, -1, -1)]
    assert sorted(tasks.asked) == list(range(1, 21))  # each page once, none past the end


async def test_a_scan_that_stops_early_asks_for_what_it_read_and_little_more() -> None:
    tasks = _account(1000)
    seen = await _scan(tasks, since_t=1000 + 1000 - 60)  # the newest 60: two pages
    assert seen[:60] == [f"u{i}" for i in range(999, 939, -1)]
    assert tasks.asked == [1, 2]
    tasks.asked.clear()
    seen = await _scan(tasks, since_t=1000 + 1000 - 400)  # 400 tasks back: page 9 passes it
    assert len(seen) == 9 * 50
    assert max(tasks.asked) <= 9 + tasklist.PAGES_AHEAD - 1 and len(set(tasks.asked)) == len(
        tasks.asked
    )


async def test_a_failed_page_raises_as_itself() -> None:
    tasks = _account(1000)
    tasks.fail_at = 5
    with pytest.raises(TransientApiError):
        await _scan(tasks, since_t=0)


async def test_the_page_cap_stops_a_scan(caplog: Any) -> None:
    tasks = _account(1000)
    seen = await _scan(tasks, since_t=0, max_pages=3)
    assert len(seen) == 150 and max(tasks.asked) == 3
    assert "stopped after 3 pages" in caplog.text
