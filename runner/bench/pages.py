"""The review page and the static gallery on a 100,000-task run, in headless Chromium.

A synthetic run directory (ledger events and hard-linked images) is reported
(summary.json, index.html and its chunk files), then served by the review
server. Figures: time to the first grid on screen (ms after navigation starts,
as the page itself measures it), and the time from a filter's input event to
the new grid (the review page waits 150 ms for typing to pause: included).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import aiohttp

from runner.bench.browser import CHROMIUM, Page, open_browser
from runner.bench.synthetic_run import build
from runner.commands.report import report
from runner.review.server import running

# Resolves with the ms from the input event to the grid redrawn (body[data-MARK] changes).
FILTER = """
new Promise(resolve => {{
  const before = document.body.dataset.{mark};
  const t0 = performance.now();
  new MutationObserver((_, obs) => {{
    if (document.body.dataset.{mark} === before) return;
    obs.disconnect();
    resolve(performance.now() - t0);
  }}).observe(document.body, {{attributes: true}});
  const c = document.querySelector('#filters').elements['{field}'];
  c.value = {value!r};
  c.dispatchEvent(new Event('input', {{bubbles: true}}));
}})
"""
CARDS = "document.querySelectorAll('#grid > article').length"
INFO = "document.querySelector('#pageinfo').textContent"
CHUNKS = "[...document.scripts].filter(s => s.src.includes('chunk-')).length"
SEARCHES = "[...document.scripts].filter(s => s.src.includes('search-')).length"


async def _filter(page: Page, mark: str, field: str, value: str) -> float:
    ms: float = await page.evaluate(FILTER.format(mark=mark, field=field, value=value))
    return ms


async def _review(page: Page, url: str) -> list[str]:
    await page.goto(url)
    first = float(await page.wait_for("document.body.dataset.ready"))
    cards = await page.evaluate(CARDS)
    lines = [f"  review page  first grid    {first:6.0f} ms  ({cards} cards; it holds no more)"]
    for field, value in (
        ("q", "lighthouse canyon"),
        ("status", "failed"),
        ("model", "doubao-seedream-4.5"),
    ):
        ms = await _filter(page, "ready", field, value)
        shown = await page.evaluate(INFO)
        lines.append(f"  review page  filter        {ms:6.0f} ms  {field}={value!r}: {shown}")
        await _filter(page, "ready", field, "")
    lines.append("               (filter times include the page's 150 ms pause for typing)")
    return lines


async def _gallery(page: Page, index: Path) -> list[str]:
    await page.goto(index.as_uri())
    first = float(await page.wait_for("document.body.dataset.paintMs"))
    lines = [
        f"  gallery      first grid    {first:6.0f} ms  ({await page.evaluate(CARDS)} cards, "
        f"{await page.evaluate(CHUNKS)} chunk file(s) loaded)"
    ]
    ms = await _filter(page, "shown", "q", "lighthouse canyon")
    lines.append(
        f"  gallery      first filter  {ms:6.0f} ms  {await page.evaluate(INFO)} "
        f"(read {await page.evaluate(SEARCHES)} search files, "
        f"{await page.evaluate(CHUNKS)} chunk file(s) of cards)"
    )
    ms = await _filter(page, "shown", "status", "failed")
    info = await page.evaluate(INFO)
    lines.append(f"  gallery      next filter   {ms:6.0f} ms  {info} (and failed; in memory)")
    return lines


async def _api(url: str) -> str:
    times = []
    async with aiohttp.ClientSession() as s:
        for n in range(6):
            t0 = time.perf_counter()
            async with s.get(f"{url}api/tasks?q=forest+river&offset={n * 60}&limit=60") as r:
                await r.read()
            times.append((time.perf_counter() - t0) * 1000)
    return (
        f"  review API   a new text filter {times[0]:.0f} ms (scans every task); "
        f"its next pages median {statistics.median(times[1:]):.0f} ms"
    )


async def pages_report(tasks: int, folder: Path) -> str:
    lines = [f"Pages on a {tasks:,}-task run directory (synthetic, from ledger events):"]
    t0 = time.perf_counter()
    run_dir = build(folder / "pages-run", tasks)
    t1 = time.perf_counter()
    report(run_dir)
    t2 = time.perf_counter()
    lines.append(
        f"  built in {t1 - t0:.1f} s; `report` (summary.json, index.html, chunks) {t2 - t1:.1f} s"
    )
    async with running(run_dir) as review:
        t3 = time.perf_counter()
        lines.append(f"  review server ready in {t3 - t2:.1f} s (replays the ledger once)")
        lines.append(await _api(review.url))
        if CHROMIUM is None:
            lines.append("  chromium is not installed: browser figures skipped")
            return "\n".join(lines)
        async with open_browser(folder) as page:
            lines += await _review(page, review.url)
            lines += await _gallery(page, run_dir / "index.html")
    return "\n".join(lines)
