"""A video in the gallery plays in headless Chromium: the simulator's MP4s are real."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from .cdp import needs_chromium, open_browser
from .conftest import FAST_SIM, Harness

# Wait for the metadata (what preload="metadata" fetches), then decode a frame
# and read two pixels back (sky at the top, ground at the bottom), then play it.
CHECK = """
(async () => {
  const v = document.querySelector('video');
  const settle = (ok, event) => new Promise(r => {
    if (ok()) return r();
    for (const e of [event, 'error']) v.addEventListener(e, r);
    setTimeout(r, 10000); });
  await settle(() => v.readyState >= 1, 'loadedmetadata');
  const meta = {videos: document.querySelectorAll('video').length,
                preload: v.getAttribute('preload'), controls: v.controls,
                ready: v.readyState, width: v.videoWidth, height: v.videoHeight,
                duration: v.duration, error: v.error && v.error.message};
  v.preload = 'auto'; v.load();
  await settle(() => v.readyState >= 2, 'loadeddata');
  const c = document.createElement('canvas'); c.width = v.videoWidth; c.height = v.videoHeight;
  const g = c.getContext('2d'); g.drawImage(v, 0, 0);
  meta.top = [...g.getImageData(4, 4, 1, 1).data].slice(0, 3);
  meta.bottom = [...g.getImageData(4, c.height - 4, 1, 1).data].slice(0, 3);
  v.muted = true;
  await v.play();
  await new Promise(r => { v.addEventListener('timeupdate', () => v.currentTime > 0.5 && r());
                           setTimeout(r, 10000); });
  meta.played_s = v.currentTime;
  return meta;
})()
"""


@needs_chromium
async def test_a_video_task_plays_inline_in_the_gallery(sim_factory, tmp_path: Path) -> None:
    h = Harness(tmp_path, await sim_factory(replace(FAST_SIM, video_gen_s=(0.2, 0.3))))
    manifest = h.manifest(
        "tasks:\n  - {prompt: waves, model: seedance-1.0-pro, aspect_ratio: '9:16'}\n"
    )
    assert await h.run(manifest, video_first_poll_s=0.2, video_poll_interval_s=0.1) == 0

    async with open_browser(h.tmp) as page:
        await page.goto((h.out / "index.html").as_uri())
        await page.wait_for("!!document.querySelector('video')")
        seen = await page.evaluate(CHECK)

    assert seen["videos"] == 1 and seen["preload"] == "metadata" and seen["controls"]
    assert seen["error"] is None
    assert seen["ready"] >= 1 and (seen["width"], seen["height"]) == (144, 256)
    assert seen["duration"] == 5
    assert seen["top"] != seen["bottom"]  # a decoded picture: sky above, ground below
    assert max(seen["top"]) > 0 and max(seen["bottom"]) > 0
    assert seen["played_s"] > 0.5  # it plays, not only loads
