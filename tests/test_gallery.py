"""The gallery as a person sees it, in headless Chromium: tasks, images, filters."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest

from .conftest import Harness

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian's chromium is not installed (.ci/run installs it); the gallery is unchecked",
)

CHECK = """
(async () => {
  const visible = () => [...document.querySelectorAll('article.task')]
      .filter(a => a.offsetParent !== null).map(a => a.className);
  const imgs = [...document.images];
  await Promise.all(imgs.map(i => i.decode().catch(() => null)));
  const out = {
    tasks: document.querySelectorAll('article.task').length,
    images: imgs.length,
    loaded: imgs.filter(i => i.complete && i.naturalWidth > 0).length,
    all: visible().length,
  };
  document.querySelector('label[for=f-failed]').click();
  out.failed = visible();
  document.querySelector('label[for=f-succeeded]').click();
  out.succeeded = visible().length;
  document.querySelector('label[for=f-all]').click();
  out.back = visible().length;
  out.text = document.body.innerText;
  return out;
})()
"""


async def evaluate_in_chromium(page: Path, tmp: Path, script: str) -> Any:
    assert CHROMIUM is not None
    args = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp / 'profile'}",
        "--remote-debugging-port=0",
        "--allow-file-access-from-files",
        "about:blank",
    ]
    proc = await anyio.open_process(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        said = b""
        with anyio.fail_after(30):
            assert proc.stderr is not None
            while not (m := re.search(rb"ws://127\.0\.0\.1:(\d+)/", said)):
                said += await proc.stderr.receive()
        port = int(m.group(1))
        async with aiohttp.ClientSession() as s:
            with anyio.fail_after(30):
                while True:  # the page target appears once the page has started loading
                    targets = await (await s.get(f"http://127.0.0.1:{port}/json/list")).json()
                    pages = [t for t in targets if t.get("type") == "page"]
                    if pages:
                        break
                    await anyio.sleep(0.1)
                async with s.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                    ids = iter(range(1, 10_000))

                    async def call(method: str, **params: Any) -> Any:
                        wanted = next(ids)
                        await ws.send_json({"id": wanted, "method": method, "params": params})
                        async for msg in ws:
                            data = json.loads(msg.data)
                            if data.get("id") == wanted:
                                assert "exceptionDetails" not in data.get("result", {}), data
                                return data.get("result")
                        raise AssertionError("the browser closed the connection")

                    await call("Page.navigate", url=page.as_uri())
                    ready = (
                        f"location.href === {json.dumps(page.as_uri())} && "
                        "document.readyState === 'complete'"
                    )
                    # The browser is another process: asking again is the only way to know.
                    for _ in range(600):
                        answer = await call(
                            "Runtime.evaluate", expression=ready, returnByValue=True
                        )
                        if answer["result"]["value"]:
                            break
                        await anyio.sleep(0.05)
                    result = await call(
                        "Runtime.evaluate", expression=script, awaitPromise=True, returnByValue=True
                    )
                    return result["result"]["value"]
    finally:
        proc.kill()
        await proc.aclose()


async def test_the_gallery_shows_every_task_its_images_and_filters(harness: Harness) -> None:
    word = harness.sim.config.reject_word
    manifest = harness.manifest(f"""
        tasks:
          - {{prompt: "a <b>bold</b> harbour", name: harbour, number_of_images: 2}}
          - {{prompt: quiet library, aspect_ratio: "16:9"}}
          - "poster {word}"
    """)
    assert await harness.run(manifest) == 1

    seen = await evaluate_in_chromium(harness.out / "index.html", harness.tmp, CHECK)

    assert seen["tasks"] == 3 and seen["all"] == 3
    assert seen["images"] == 3 and seen["loaded"] == 3  # relative paths, all on disk
    assert seen["failed"] == ["task failed"]
    assert seen["succeeded"] == 2 and seen["back"] == 3
    assert "a <b>bold</b> harbour" in seen["text"]  # shown as text, not markup
    assert "moderation" in seen["text"]  # the failure's reason is on the page
