"""Drive Debian's headless Chromium over the DevTools protocol (no Selenium needed).

`open_browser` starts Chromium, and yields a `Page` that can navigate, evaluate
JavaScript, press keys as a user does (real key events) and wait for a
condition by asking the browser again (the browser is another process). The
page benchmarks and the browser tests both use it.
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import anyio

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
KEYS = {  # key -> (code, windowsVirtualKeyCode)
    "ArrowRight": ("ArrowRight", 39),
    "ArrowLeft": ("ArrowLeft", 37),
    "Enter": ("Enter", 13),
    "Escape": ("Escape", 27),
    "/": ("Slash", 191),
}


class Page:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse):
        self.ws = ws
        self.ids = itertools.count(1)

    async def call(self, method: str, **params: Any) -> Any:
        wanted = next(self.ids)
        await self.ws.send_json({"id": wanted, "method": method, "params": params})
        async for msg in self.ws:
            data = json.loads(msg.data)
            if data.get("id") == wanted:
                assert "error" not in data, data
                assert "exceptionDetails" not in data.get("result", {}), data
                return data.get("result")
        raise AssertionError("the browser closed the connection")

    async def evaluate(self, script: str) -> Any:
        answer = await self.call(
            "Runtime.evaluate", expression=script, awaitPromise=True, returnByValue=True
        )
        return answer["result"].get("value")

    async def wait_for(self, condition: str, timeout_s: float = 20.0) -> Any:
        """Ask the browser until `condition` is truthy; returns its value."""
        with anyio.fail_after(timeout_s):
            while True:
                value = await self.evaluate(condition)
                if value:
                    return value
                await anyio.sleep(0.05)

    async def goto(self, url: str) -> None:
        await self.call("Page.navigate", url=url)
        await self.wait_for(
            f"location.href === {json.dumps(url)} && document.readyState === 'complete'"
        )

    async def press(self, key: str) -> None:
        code, vk = KEYS[key] if key in KEYS else (f"Key{key.upper()}", ord(key.upper()))
        text = {} if key in KEYS else {"text": key}
        for kind in ("keyDown", "keyUp"):
            await self.call(
                "Input.dispatchKeyEvent",
                type=kind,
                key=key,
                code=code,
                windowsVirtualKeyCode=vk,
                **(text if kind == "keyDown" else {}),
            )

    async def press_in(self, selector: str, text: str) -> None:
        """Focus a field and type into it."""
        await self.evaluate(f"document.querySelector({json.dumps(selector)}).focus()")
        await self.type_text(text)

    async def type_text(self, text: str) -> None:
        await self.call("Input.insertText", text=text)


@asynccontextmanager
async def open_browser(tmp: Path) -> AsyncIterator[Page]:
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
        "--window-size=1280,900",
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
                yield Page(ws)
    finally:
        proc.kill()
        await proc.aclose()
        # Chromium's helper processes may still be writing the profile for a moment.
        shutil.rmtree(tmp / "profile", ignore_errors=True)
