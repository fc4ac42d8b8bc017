"""`plan`'s listing of a run under way: states, rerolls, references, stages.

The text and JSON below were taken from `plan` before its rows were formatted in
bulk (issue 17); they must stay byte for byte as they were.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from runner.names import slug, slugs
from runner.report.text import short, shorts
from runner.review.decisions import Decision, record
from runner.simulator.images import render_png

from .conftest import Harness, cli, sim_env

MANIFEST = """
    tasks:
      - {prompt: "a red kite", name: kite}
      - {prompt: "a blue   boat\\tat dawn", name: boat, number_of_images: 2, aspect_ratio: "16:9"}
      - {prompt: "a green door", name: door, ref_images: ["@kite"]}
      - {prompt: "a green door", ref_images: ["@kite", "@boat[1]", "@boat[0]", "@kite[0]"]}
      - {prompt: "a yellow sun over a quiet harbour with boats", ref_images: [sun.png]}
"""
ROWS = """\
key               state      ratio  clar  n  name              prompt
710907c7c7e63c89  done       1:1    2048  1  kite              a red kite
c095893e9273fb21  {boat:9}  16:9   2048  2  boat              a blue boat at {when}
a2b5c81f349d006b  {door:9}  1:1    2048  1  door              a green door  [refs: @kite[0]]
48c8db6e0fed9444  done       1:1    2048  1  a-green-door      a green door  \
[refs: @kite[0], @boat[1], @boat[0] +1]
563551dbcf45e794  done       1:1    2048  1  a-yellow-sun-ov…  a yellow sun over a quiet \
harbour with boats  [refs: sun.png]

stages (a task starts as soon as the tasks it takes outputs from are done):
  stage 1: 3 task(s) (kite, boat, (unnamed)); done 3
  stage 2: 2 task(s) (door, (unnamed)); done 2

5 tasks, 6 images, 1 local images to upload (1 already up); {rerolls}already done 5, left 0 \
(0 in flight, 0 failed, 0 not yet submitted); submitted 5 (run directory RUN)
"""
JSON_SHA256 = {
    (): "e90d8c259e38976ebdd6d1337409d0892e39494f00d14f7a033e4b60aed34599",
    ("--reroll-rejected",): "307645f91c7bbb2fb84b00bc49074fffd4b96ac039f74c0837ce38fba55113cc",
}


async def test_plan_of_a_reviewed_chained_run_stays_as_it_was(harness: Harness) -> None:
    (harness.tmp / "sun.png").write_bytes(render_png("sun", "1:1", 8))
    manifest = harness.manifest(MANIFEST)
    assert await harness.run(manifest) == 0
    recs = {r.spec.name: r for r in harness.ledger().records.values()}
    ledger = harness.out / "ledger.jsonl"
    record(ledger, Decision(recs["boat"].key, 1, "reject", "a blue boat at night"))
    record(ledger, Decision(recs["door"].key, 1, "reject"))
    env = sim_env(harness.sim)
    for reroll in ((), ("--reroll-rejected",)):
        outputs = []
        for json in ((), ("--json",)):
            r = await cli("plan", str(manifest), "--out", str(harness.out), *reroll, *json, env=env)
            assert r.returncode == 0, r.stderr
            outputs.append(bytes(r.stdout).replace(str(harness.out).encode(), b"RUN"))
        text, data = outputs
        state = "reroll" if reroll else "done"
        assert text.decode() == ROWS.format(
            boat=state,
            door=state,
            when="night" if reroll else "dawn",
            rerolls="2 rejected task(s) to reroll as new attempts; " if reroll else "",
        )
        assert hashlib.sha256(data).hexdigest() == JSON_SHA256[reroll]


_NOT_NAME = re.compile(r"[^\w\-]+", flags=re.UNICODE)
_DASHES = re.compile(r"-{2,}")


def _slug_by_patterns(text: str) -> str:
    """slug as it was before its ASCII shortcut."""
    out = _NOT_NAME.sub("-", unicodedata.normalize("NFKC", text)).strip("-_.")
    out = _DASHES.sub("-", out)
    return out.encode("utf-8")[:80].decode("utf-8", "ignore").strip("-_") or "task"


NAMEISH = st.text(st.sampled_from("aZ09_-. :/\t\n#é山"), max_size=120)


@given(st.one_of(st.text(max_size=120), st.text(st.characters(max_codepoint=127)), NAMEISH))
def test_slug_is_what_the_patterns_make(text: str) -> None:
    assert slug(text) == _slug_by_patterns(text)


@given(st.one_of(st.text(max_size=80), NAMEISH), st.integers(1, 60))
def test_short_is_the_text_on_one_line_cut(text: str, width: int) -> None:
    joined = " ".join(text.split())
    assert short(text, width) == (joined if len(joined) <= width else joined[: width - 1] + "…")


TEXTS = st.lists(st.one_of(NAMEISH, st.text(st.sampled_from("ab \x00-_"), max_size=90)), max_size=6)


@given(TEXTS)
def test_slugs_of_many_texts_are_their_slugs(texts: list[str]) -> None:
    assert slugs(texts) == [slug(text) for text in texts]


@given(TEXTS, st.integers(1, 60))
def test_shorts_of_many_texts_are_their_shorts(texts: list[str], width: int) -> None:
    assert shorts(texts, width) == [short(text, width) for text in texts]
