"""Submit: the simulator's own output URLs given back as reference images.

Accepted while the CDN still serves them (the task succeeded, the index exists,
the URL's version is current); `refuse_output_refs` makes every one of them a
40000 naming the URL, so the runner's fallback to uploading the file is tested.
"""

from __future__ import annotations

import time

import yarl

from runner.simulator.state import SimState


def check_output_refs(state: SimState, refs: list[str], origin: str) -> str | None:
    """Our own output URLs are fine references while they serve (unless the knob refuses them)."""
    for url in refs:
        parsed = yarl.URL(url)
        parts = parsed.path.split("/")
        if str(parsed.origin()) != origin or len(parts) != 4 or parts[1] != "cdn":
            continue
        if parts[2] == "uploads":
            continue
        if state.config.refuse_output_refs:
            return f"ref_img_url: {url} is not accepted as a reference image"
        task = state.tasks.get(parts[2])
        index = parts[3].split(".")[0]
        if (
            task is None
            or task.progress(time.monotonic()) != "Success"
            or not index.isdigit()
            or not 0 <= int(index) < task.body.get("number_of_images", 1)
            or parsed.query.get("v") != str(task.url_version)
        ):
            return f"ref_img_url: cannot fetch {url}"
    return None
