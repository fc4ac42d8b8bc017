"""`--notify-url`: POST summary.json somewhere when a run ends, however it ends.

A failed notification is logged, never fatal: the run's result is on disk.
"""

from __future__ import annotations

import logging
from pathlib import Path

import aiohttp

log = logging.getLogger("runner.notify")


async def notify(url: str, summary_path: Path, timeout_s: float = 30.0) -> bool:
    try:
        async with aiohttp.ClientSession() as session:
            with summary_path.open("rb") as body:
                async with session.post(
                    url,
                    data=body,
                    headers={"Content-Type": "application/json"},
                    timeout=aiohttp.ClientTimeout(total=timeout_s),
                ) as response:
                    if response.status >= 300:
                        log.warning("notification to %s answered HTTP %d", url, response.status)
                        return False
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        log.warning("notification to %s failed: %s", url, exc.__class__.__name__)
        return False
    log.info("notified %s", url)
    return True
