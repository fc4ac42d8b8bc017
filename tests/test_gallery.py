"""The gallery as a person sees it, in headless Chromium: failed first, pages, search, filters."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest

from runner.bench.synthetic_run import build
from runner.commands.report import report
from runner.report import gallery
from runner.simulator.images import render_png

from .cdp import needs_chromium, open_browser
from .conftest import Harness

CARDS = "[...document.querySelectorAll('#grid article.task')]"
NAMES = f"{CARDS}.map(a => a.querySelector('b').textContent)"
SHOWN = "document.body.dataset.shown"


async def _set(page: object, field: str, value: str) -> None:
    await page.evaluate(  # type: ignore[attr-defined]
        f"(() => {{ const c = document.querySelector('#filters').elements['{field}'];"
        f"c.value = '{value}'; c.dispatchEvent(new Event('input', {{bubbles: true}})) }})()"
    )


@needs_chromium
async def test_the_gallery_shows_failed_first_and_searches_prompts(harness: Harness) -> None:
    word = harness.sim.config.reject_word
    manifest = harness.manifest(f"""
        tasks:
          - {{prompt: "a <b>bold</b> harbour", name: harbour, number_of_images: 2}}
          - {{prompt: quiet library, aspect_ratio: "16:9"}}
          - "poster {word}"
    """)
    assert await harness.run(manifest) == 1
    html = (harness.out / "index.html").read_text()
    assert html.count("<article") == 3  # the first page is there without scripts
    assert "a &lt;b&gt;bold&lt;/b&gt; harbour" in html

    async with open_browser(harness.tmp) as page:
        await page.goto((harness.out / "index.html").as_uri())
        await page.wait_for(SHOWN)
        assert (
            await page.wait_for(
                "[...document.images].every(i => i.complete && i.naturalWidth > 0) && "
                "document.images.length"
            )
            == 3
        )  # relative paths, all on disk
        first = await page.evaluate(f"{CARDS}[0].className + ' ' + {CARDS}[0].innerText")
        assert first.startswith("task failed") and "moderation" in first
        text = await page.evaluate("document.body.innerText")
        assert "a <b>bold</b> harbour" in text  # shown as text, not markup

        await page.press_in("input[name=q]", "HARBOUR")
        await page.wait_for(f"{CARDS}.length === 1")
        assert await page.evaluate(NAMES) == ["harbour"]
        await _set(page, "q", "")
        await _set(page, "status", "succeeded")
        await page.wait_for(f"{CARDS}.length === 2")
        await _set(page, "status", "")
        await _set(page, "sort", "order")
        await page.wait_for(f"{CARDS}.length === 3 && {NAMES}[0] === 'harbour'")
        assert "poster" in await page.evaluate(f"{CARDS}[2].innerText")


@needs_chromium
async def test_a_large_run_opens_on_its_first_page_and_pages_through_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gallery, "CHUNK", 70)  # pages of 100 straddle chunk files
    run_dir = build(tmp_path / "big", 450, files=False)
    report(run_dir)
    assert len(list((run_dir / "gallery").glob("chunk-*.js"))) == 7
    assert len(list((run_dir / "gallery").glob("search-*.js"))) == 7
    async with open_browser(tmp_path) as page:
        await page.goto((run_dir / "index.html").as_uri())
        await page.wait_for(SHOWN)
        info = await page.evaluate("document.querySelector('#pageinfo').textContent")
        assert re.match(r"1–100 of 450 · page 1 of 5", info)
        loaded = "[...document.scripts].filter(s => s.src.includes('chunk-')).length"
        assert await page.evaluate(loaded) == 2  # not the whole run
        await page.evaluate("document.querySelector('#next').click()")
        await page.wait_for(f"{NAMES}.length === 100 && {NAMES}[0] !== 'task-7'")
        assert await page.evaluate(loaded) == 3
        await _set(page, "model", "doubao-seedream-4.5")
        await page.wait_for("/of 225 /.test(document.querySelector('#pageinfo').textContent)")
        await _set(page, "q", "task-44")
        await page.wait_for(f"{CARDS}.length === 5")  # task-441, 443 ... 449: the odd ones
        searched = "[...document.scripts].filter(s => s.src.includes('search-')).length"
        assert await page.evaluate(searched) == 7  # a filter reads every task's search row...
        assert await page.evaluate(loaded) < 7  # ...and only the cards of the page it shows


@needs_chromium
async def test_a_link_to_a_card_on_another_page_finds_it(tmp_path: Path) -> None:
    # A chained task links to its parent's card (#t-<key>); pages hold 100 cards.
    run_dir = build(tmp_path / "big", 450, files=False)
    report(run_dir)
    key = orjson.loads((run_dir / "summary.json").read_bytes())["items"][420]["key"]
    async with open_browser(tmp_path) as page:
        await page.goto((run_dir / "index.html").as_uri())
        await page.wait_for(SHOWN)
        assert await page.evaluate(f"document.getElementById('t-{key}') === null")
        await page.evaluate(f"location.hash = '#t-{key}'")
        await page.wait_for(f"document.getElementById('t-{key}') !== null")
        assert await page.evaluate(f"{CARDS}.length") == 1


async def test_local_references_keep_their_file_names_and_show_as_thumbnails(
    harness: Harness,
) -> None:
    (harness.tmp / "refs").mkdir()
    (harness.tmp / "refs" / "mug.png").write_bytes(render_png("mug", "1:1", 48))
    manifest = harness.manifest("""
        tasks:
          - {prompt: "the mug on a desk", name: desk, ref_images: [refs/mug.png]}
    """)
    assert await harness.run(manifest) == 0
    summary = orjson.loads((harness.out / "summary.json").read_bytes())
    [item] = summary["items"]
    [ref] = item["refs"]
    assert ref["ref"].startswith("local:") and ref["ref"] in item["parameters"]["ref_images"]
    assert ref["name"] == "refs/mug.png"
    thumb = harness.out / ref["thumb"]
    assert thumb.read_bytes() == (harness.tmp / "refs" / "mug.png").read_bytes()
    html = (harness.out / "index.html").read_text()
    assert f'src="{ref["thumb"]}"' in html and "<figcaption>refs/mug.png</figcaption>" in html


@needs_chromium
async def test_videos_play_inline_and_the_kind_filter_finds_them(tmp_path: Path) -> None:
    run_dir = build(tmp_path / "mixed", 6, files=False)
    video = {"prompt": "a kite over the dunes", "model_code": "Doubao-Seedance-1.0-pro"}
    lines = [
        {"e": "planned", "key": "0123456789abcdef", "name": "clip", "req": video, "src": ""},
        {"e": "submitted", "key": "0123456789abcdef", "uid": "v1"},
        {
            "e": "finished",
            "key": "0123456789abcdef",
            "uid": "v1",
            "status": "Success",
            "urls": ["https://cdn.example/v1.mp4"],
        },
        {
            "e": "downloaded",
            "key": "0123456789abcdef",
            "i": 0,
            "path": "videos/clip.mp4",
            "sha256": "0" * 64,
            "size": 10,
        },
    ]
    with (run_dir / "ledger.jsonl").open("ab") as fh:
        fh.writelines(orjson.dumps({**ev, "t": 1.0}) + b"\n" for ev in lines)
    report(run_dir)
    async with open_browser(tmp_path) as page:
        await page.goto((run_dir / "index.html").as_uri())
        await page.wait_for(SHOWN)
        await _set(page, "kind", "video")
        await page.wait_for(f"{CARDS}.length === 1")
        found = await page.evaluate(
            "(() => { const v = document.querySelector('#grid video');"
            "return [v.getAttribute('src'), v.getAttribute('preload'), v.controls]; })()"
        )
        assert found == ["videos/clip.mp4", "metadata", True]
