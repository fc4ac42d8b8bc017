"""The review page: a real browser keeps and rejects by keyboard; the server's guards hold."""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import orjson
import pytest

from runner.review import decisions
from runner.review.server import ReviewApp, running
from runner.rundir.ledger import Ledger, read
from runner.rundir.lock import RunLock

from .cdp import needs_chromium, open_browser
from .conftest import Harness

CARDS = "[...document.querySelectorAll('article.card')]"
CLASSES = f"{CARDS}.map(c => c.querySelector('.name').textContent + ' ' + c.className)"


async def _finished_run(harness: Harness) -> None:
    word = harness.sim.config.reject_word
    manifest = harness.manifest(f"""
        tasks:
          - {{prompt: "a harbour at dawn", name: harbour}}
          - {{prompt: "a quiet library", name: library}}
          - {{prompt: "a walled garden", name: garden, number_of_images: 2}}
          - {{prompt: "poster {word}", name: poster}}
    """)
    assert await harness.run(manifest) == 1


def _decisions(run_dir: Path) -> dict[str, str | None]:
    return {r.spec.name: r.decision for r in read(run_dir / "ledger.jsonl").records.values()}


async def _set(page: Any, field: str, value: str) -> None:
    """Change a filter as a person would with the mouse: the control fires `input`."""
    await page.evaluate(
        f"(() => {{ const c = document.querySelector('#filters').elements[{json.dumps(field)}];"
        f"c.value = {json.dumps(value)};"
        "c.dispatchEvent(new Event('input', {bubbles: true})) })()"
    )


@needs_chromium
async def test_keep_reject_undo_by_keyboard_survive_a_reload(harness: Harness) -> None:
    await _finished_run(harness)
    async with running(harness.out) as review, open_browser(harness.tmp) as page:
        await page.goto(review.url)
        await page.wait_for(f"{CARDS}.length === 4")
        assert await page.evaluate("document.images.length") == 4
        assert await page.wait_for(
            "[...document.images].every(i => i.complete && i.naturalWidth > 0)"
        )

        # Filter: typed text searches names and prompts; the state menu narrows further.
        await page.press("/")
        await page.type_text("garden")
        await page.wait_for(f"{CARDS}.length === 1")
        assert "garden" in (await page.evaluate(CLASSES))[0]
        await _set(page, "q", "")
        await page.wait_for(f"{CARDS}.length === 4")
        await page.press("Escape")
        await _set(page, "status", "failed")
        await page.wait_for(f"{CARDS}.length === 1 && {CLASSES}[0].startsWith('poster')")
        assert (await page.evaluate(CLASSES))[0].startswith("poster card failed")
        await _set(page, "status", "")
        await page.wait_for(f"{CARDS}.length === 4")

        # Keyboard: k keeps and moves on, x rejects, u undoes the last one.
        await page.press("k")
        await page.wait_for(f"{CARDS}[0].classList.contains('keep')")
        await page.press("x")
        await page.wait_for(f"{CARDS}[1].classList.contains('reject')")
        await page.press("x")
        await page.wait_for(f"{CARDS}[2].classList.contains('reject')")
        await page.press("u")
        await page.wait_for(f"!{CARDS}[2].classList.contains('reject')")
        assert await page.evaluate(f"{CARDS}[2].classList.contains('sel')")
        await page.press("ArrowLeft")
        await page.press("Enter")
        detail = await page.wait_for(
            "!document.querySelector('#detail').hidden && "
            "document.querySelector('#detail').innerText"
        )
        records = read(harness.out / "ledger.jsonl").records.values()
        library = next(r for r in records if r.spec.name == "library")
        assert library.unique_id and library.unique_id in detail and "a quiet library" in detail
        await page.press("Escape")

        await page.goto(review.url)
        await page.wait_for(f"{CARDS}.length === 4")
        shown = await page.evaluate(CLASSES)
        assert [s.split()[0] for s in shown if "keep" in s.split()] == ["harbour"]
        assert [s.split()[0] for s in shown if "reject" in s.split()] == ["library"]

        # The mouse: a card's own button.
        await page.evaluate(f"{CARDS}[3].querySelector('button.keep').click()")
        await page.wait_for(f"{CARDS}[3].classList.contains('keep')")

        # A page on another origin posts to the review server: refused, nothing recorded.
        await page.goto(harness.sim.base_url + "/")
        sent = {"key": library.key, "attempt": 1, "decision": "keep"}
        status = await page.evaluate(
            f"fetch({json.dumps(review.url + 'api/decisions')}, {{method: 'POST', "
            f"mode: 'no-cors', headers: {{'Content-Type': 'text/plain'}}, "
            f"body: {json.dumps(json.dumps(sent))}}}).then(r => r.type, e => 'blocked')"
        )
        assert status in ("opaque", "blocked")

    assert _decisions(harness.out) == {
        "harbour": "keep",
        "library": "reject",
        "garden": None,
        "poster": "keep",
    }


async def _post(
    s: aiohttp.ClientSession, review: ReviewApp, body: Any, **headers: str
) -> tuple[int, Any]:
    sent = {"Content-Type": "application/json", "X-Review-Token": review.token, **headers}
    async with s.post(review.url + "api/decisions", data=orjson.dumps(body), headers=sent) as r:
        return r.status, await r.text()


async def test_state_changes_need_the_token_and_the_pages_own_origin(harness: Harness) -> None:
    await _finished_run(harness)
    key = next(r.key for r in harness.ledger().records.values() if r.spec.name == "harbour")
    keep = {"key": key, "attempt": 1, "decision": "keep"}
    async with running(harness.out) as review, aiohttp.ClientSession() as s:
        own = f"http://127.0.0.1:{review.port}"
        assert (await _post(s, review, keep, Origin="http://evil.example"))[0] == 403
        assert (await _post(s, review, keep, **{"X-Review-Token": "guess"}))[0] == 403
        assert (await _post(s, review, keep, **{"Sec-Fetch-Site": "cross-site"}))[0] == 403
        async with s.get(review.url, headers={"Host": f"evil.example:{review.port}"}) as r:
            assert r.status == 421  # DNS rebinding: a foreign name pointing at 127.0.0.1
        assert _decisions(harness.out)["harbour"] is None

        status, text = await _post(s, review, {**keep, "key": "../../etc"}, Origin=own)
        assert status == 400 and "no task" in text
        status, text = await _post(s, review, {**keep, "decision": "burn"}, Origin=own)
        assert status == 400
        for path in ("files/../ledger.jsonl", f"files/{key}/1/5", "files/%2e%2e/1/0", "refs/x"):
            async with s.get(review.url + path) as r:
                assert r.status == 404, path

        # Recorded while a run holds the directory's lock, and on disk when answered.
        with RunLock(harness.out):
            assert (await _post(s, review, keep, Origin=own))[0] == 200
        assert _decisions(harness.out)["harbour"] == "keep"


async def test_a_decision_is_never_glued_to_a_torn_line(harness: Harness) -> None:
    await _finished_run(harness)
    key = next(r.key for r in harness.ledger().records.values() if r.spec.name == "library")
    with (harness.out / "ledger.jsonl").open("ab") as fh:
        fh.write(b'{"e":"finished","key":"tor')  # a crash mid-write
    async with running(harness.out) as review, aiohttp.ClientSession() as s:
        body = {"key": key, "attempt": 1, "decision": "reject", "prompt": "a loud library"}
        assert (await _post(s, review, body))[0] == 200
    ledger = Ledger(harness.out / "ledger.jsonl")
    replay = ledger.open()  # a run starting: cuts torn tails, keeps whole lines
    ledger.close()
    library = replay.records[key]
    assert (library.decision, library.reroll_prompt) == ("reject", "a loud library")


async def test_new_results_show_up_while_the_page_is_open(harness: Harness) -> None:
    await _finished_run(harness)
    async with running(harness.out) as review, aiohttp.ClientSession() as s:
        async with s.get(review.url + "api/tasks?q=lighthouse") as r:
            assert (await r.json())["total"] == 0
        ledger = Ledger(harness.out / "ledger.jsonl")
        ledger.open()
        req = {"prompt": "a lighthouse", "aspect_ratio": "1:1", "clarity": 2048}
        ledger.write({"e": "planned", "key": "feedfeedfeedfeed", "name": "light", "req": req})
        ledger.close()
        async with s.get(review.url + "api/tasks?q=lighthouse&status=pending") as r:
            page = await r.json()
        assert page["total"] == 1 and page["items"][0]["name"] == "light"
        assert page["all"] == 5 and page["facets"]["status"]["pending"] == 1


async def test_an_acknowledged_decision_survives_kill_9_of_the_server(harness: Harness) -> None:
    await _finished_run(harness)
    key = next(r.key for r in harness.ledger().records.values() if r.spec.name == "garden")
    proc = await anyio.open_process(
        [sys.executable, "-m", "runner", "review", str(harness.out)], stdout=subprocess.PIPE
    )
    try:
        said = b""
        with anyio.fail_after(30):
            assert proc.stdout is not None
            while not (m := re.search(rb"(http://127\.0\.0\.1:\d+/)", said)):
                said += await proc.stdout.receive()
        url = m.group(1).decode()
        async with aiohttp.ClientSession() as s:
            async with s.get(url) as r:
                token = re.search(r'name="review-token" content="([^"]+)"', await r.text())
            assert token is not None
            body = {"key": key, "attempt": 1, "decision": "keep"}
            headers = {"X-Review-Token": token.group(1), "Origin": url.rstrip("/")}
            async with s.post(url + "api/decisions", json=body, headers=headers) as r:
                assert r.status == 200
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        await proc.aclose()
    assert _decisions(harness.out)["garden"] == "keep"


async def test_a_checkpoint_taken_by_a_going_run_keeps_decisions_made_meanwhile(
    harness: Harness,
) -> None:
    await _finished_run(harness)
    key = next(r.key for r in harness.ledger().records.values() if r.spec.name == "harbour")
    ledger = Ledger(harness.out / "ledger.jsonl")
    ledger.open()  # the run has its ledger open and its state in memory...
    decisions.record(ledger.path, decisions.Decision(key, 1, "reject", "a harbour at night"))
    ledger.write({"e": "run", "what": "end", "exit": 0})
    ledger.checkpoint()  # ...and snapshots it, covering the review's line too
    ledger.close()
    assert (harness.out / "ledger.checkpoint").exists()
    replay = read(harness.out / "ledger.jsonl")
    assert (replay.records[key].decision, replay.records[key].reroll_prompt) == (
        "reject",
        "a harbour at night",
    )


async def test_a_decision_that_cannot_be_written_is_not_acknowledged(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _finished_run(harness)
    key = next(r.key for r in harness.ledger().records.values() if r.spec.name == "harbour")

    def full(path: Path, event: dict[str, Any]) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(decisions, "append_durable", full)
    async with running(harness.out) as review, aiohttp.ClientSession() as s:
        status, text = await _post(s, review, {"key": key, "attempt": 1, "decision": "keep"})
    assert status == 507 and "No space left" in text
    assert _decisions(harness.out)["harbour"] is None
