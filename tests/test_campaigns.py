"""Manifests for real campaigns: prompt files, local references, budgets, plan."""

from __future__ import annotations

import contextlib
import hashlib
import shutil
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.errors import ManifestError
from runner.manifest.expand import expand
from runner.manifest.load import load_manifest
from runner.simulator.images import render_png

from .conftest import Harness, cli

JOBS = Path(__file__).resolve().parent.parent / "jobs"


def specs_of(path: Path):
    return expand(load_manifest(path))


def test_prompt_files_txt_csv_jsonl(tmp_path: Path) -> None:
    (tmp_path / "p.txt").write_text("# comments and blanks are skipped\n\nfirst\n  second  \n")
    (tmp_path / "p.csv").write_text(
        "prompt,clarity,aspect_ratio,who\n{who} smiling,1024,16:9,a child\nplain,,,x\n"
    )
    (tmp_path / "p.jsonl").write_text(
        '{"prompt": "j {n}", "n": 1, "number_of_images": 2}\n\n{"ref_prompt": "k", "repeat": 2}\n'
    )
    for name, expected in [
        ("p.txt", [("first", 2048, "1:1"), ("second", 2048, "1:1")]),
        ("p.csv", [("a child smiling", 1024, "16:9"), ("plain", 2048, "1:1")]),
        ("p.jsonl", [("j 1", 2048, "1:1"), ("k", 2048, "1:1"), ("k", 2048, "1:1")]),
    ]:
        m = tmp_path / f"{name}.yaml"
        m.write_text(f"prompts_file: {name}\n")
        got = [(s.request.prompt, s.request.clarity, s.request.aspect_ratio) for s in specs_of(m)]
        assert got == expected, name
    m = tmp_path / "both.yaml"
    m.write_text("defaults: {clarity: 4096}\ntasks: [yaml task]\nprompts_file: p.txt\n")
    assert [(s.request.prompt, s.request.clarity) for s in specs_of(m)] == [
        ("yaml task", 4096),
        ("first", 4096),
        ("second", 4096),
    ]


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("p.csv", "prompt,clarity\nok,2048\nbad,3000\n", "p.csv:3:2: clarity: 3000 is not one of"),
        ("p.csv", "text,clarity\na,1024\n", "p.csv:1:1: no `prompt` column"),
        ("p.jsonl", '{"prompt": "a"}\nnot json\n', "p.jsonl:2:1: not valid JSON"),
        ("p.jsonl", '{"prompt": "a", "bad key": 1}\n', "p.jsonl:1:2: bad key: a column is"),
        ("p.txt", "# only a comment\n", "has no prompts"),
        ("p.xlsx", "", "prompts_file: .xlsx: not supported"),
        ("missing.txt", None, "prompts_file: cannot read"),
    ],
)
def test_prompt_file_mistakes_name_the_file_and_line(
    tmp_path: Path, name: str, content: str | None, expected: str
) -> None:
    if content is not None:
        (tmp_path / name).write_text(content)
    m = tmp_path / "m.yaml"
    m.write_text(f"prompts_file: {name}\n")
    with pytest.raises(ManifestError) as info:
        specs_of(m)
    assert any(expected in str(i) for i in info.value.issues), info.value.issues


def test_example_jobs_expand_to_the_expected_counts() -> None:
    counts = {p.name: len(specs_of(p)) for p in sorted(JOBS.glob("*.yaml"))}
    assert counts == {
        "campaign.yaml": 8,
        "chain.yaml": 6,
        "demo.yaml": 14,
        "local-refs.yaml": 4,
        "mixed.yaml": 7,
        "sweep.yaml": 21,
    }


def test_local_reference_problems_are_manifest_errors(tmp_path: Path) -> None:
    (tmp_path / "fake.png").write_text("not an image")
    (tmp_path / "doc.pdf").write_bytes(b"%PDF-1.4")
    (tmp_path / "real.jpg").write_bytes(render_png("x", "1:1", 8))  # a PNG named .jpg
    m = tmp_path / "m.yaml"
    m.write_text("tasks:\n  - prompt: a\n    ref_images: [fake.png, doc.pdf, real.jpg, gone.png]\n")
    with pytest.raises(ManifestError) as info:
        specs_of(m)
    found = [str(i) for i in info.value.issues]
    assert len(found) == 4
    assert all(f.startswith(f"{m}:3:17: tasks[0].ref_images[") for f in found)
    assert "named .png but not an image" in found[0]
    assert "not a .jpg, .jpeg, .png or .webp file" in found[1]
    assert "named .jpg but a png image" in found[2]
    assert "no such file" in found[3]


def test_keys_follow_image_content_not_paths(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(render_png("one", "1:1", 8))
    m = tmp_path / "m.yaml"
    m.write_text("tasks:\n  - {prompt: p, ref_images: [a.png]}\n")
    before = specs_of(m)[0].key
    shutil.move(tmp_path / "a.png", tmp_path / "b.png")
    m.write_text("tasks:\n  - {prompt: p, ref_images: [b.png]}\n")
    assert specs_of(m)[0].key == before
    (tmp_path / "b.png").write_bytes(render_png("two", "1:1", 8))
    assert specs_of(m)[0].key != before


async def test_each_local_image_is_uploaded_once_and_never_again(harness: Harness) -> None:
    tmp = harness.tmp
    (tmp / "refs").mkdir()
    bottle = render_png("bottle", "3:4", 16)
    (tmp / "refs" / "bottle.png").write_bytes(bottle)
    (tmp / "refs" / "same-bottle.png").write_bytes(bottle)  # same content, other name
    (tmp / "refs" / "pose.png").write_bytes(render_png("pose", "9:16", 16))
    manifest = harness.manifest("""
        tasks:
          - {prompt: a, ref_images: [refs/bottle.png], repeat: 2}
          - {prompt: b, ref_images: [refs/same-bottle.png, refs/pose.png]}
          - {prompt: c, ref_images: ["https://example.com/x.jpg", refs/pose.png]}
    """)

    assert await harness.run(manifest) == 0

    sim = harness.sim.state
    assert sorted(sim.upload_puts) == sorted(
        {hashlib.sha256(d).hexdigest() for d in (bottle, render_png("pose", "9:16", 16))}
    )
    assert sim.rejected_40001 == 0  # the file endpoints' 30 a minute was respected
    bodies = {s["body"]["ref_prompt"]: s["body"]["ref_img_url"] for s in sim.submissions}
    uploaded = {u.key: f"{harness.sim.base_url}/cdn/uploads/{u.key}" for u in sim.uploads.values()}
    assert all(url in uploaded.values() for url in bodies["b"])
    assert bodies["c"][0] == "https://example.com/x.jpg"

    more = harness.manifest(manifest.read_text() + "  - {prompt: d, ref_images: [refs/pose.png]}\n")
    assert await harness.run(more) == 0
    assert len(sim.upload_puts) == 2  # the resume used the recorded uploads
    assert len(sim.submissions) == 5


async def test_budget_stops_before_passing_max_images(harness: Harness) -> None:
    manifest = harness.manifest("""
        tasks:
          - {prompt: a, number_of_images: 2}
          - {prompt: b, number_of_images: 2}
          - {prompt: c, number_of_images: 2}
    """)

    assert await harness.run(manifest, max_images=5) == 4

    summary = orjson.loads((harness.out / "summary.json").read_bytes())
    assert summary["budget_reached"] is True
    assert summary["images"]["downloaded"] == 4
    assert summary["tasks"]["pending"] == 1
    assert len(harness.sim.state.submissions) == 2
    # The manifest can carry the budget too, and a later run may raise it.
    capped = harness.manifest(manifest.read_text() + "max_images: 4\n")
    assert await harness.run(capped) == 4
    assert len(harness.sim.state.submissions) == 2
    assert await harness.run(manifest, max_images=6) == 0
    assert len(harness.sim.state.submissions) == 3


async def test_plan_shows_what_a_run_finished_and_what_is_left(harness: Harness) -> None:
    manifest = harness.manifest("tasks: [a, b]\n")
    assert await harness.run(manifest) == 0
    grown = harness.manifest("tasks: [a, b, c]\nmax_images: 9\n")
    r = await cli("plan", str(grown), "--out", str(harness.out))
    assert r.returncode == 0
    text = r.stdout.decode()
    assert "3 tasks, 3 images; budget 9 images; already done 2, left 1" in text
    r = await cli("plan", str(grown), "--out", str(harness.out), "--json")
    data = orjson.loads(r.stdout)
    assert [t["state"] for t in data["tasks"]] == ["done", "done", "new"]


FIELD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5000),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.lists(st.text(max_size=8), max_size=3),
    st.sampled_from(["1:1", "16:9", "2:1", "{x}", "doubao-seedream-4.0", 1024, 2048]),
)
KEYS = st.sampled_from(
    [
        "prompt",
        "ref_prompt",
        "aspect_ratio",
        "clarity",
        "number_of_images",
        "model_code",
        "name",
        "repeat",
        "vars",
        "matrix",
        "ref_images",
        "ref_img_url",
        "colour",
        "x",
    ]
)
TASK = st.one_of(
    st.text(max_size=10), st.dictionaries(KEYS, FIELD_VALUES, max_size=5), FIELD_VALUES
)
MANIFEST = st.dictionaries(
    st.sampled_from(["name", "defaults", "vars", "matrix", "tasks", "max_images", "bogus"]),
    st.one_of(
        FIELD_VALUES,
        st.lists(TASK, max_size=4),
        st.dictionaries(
            KEYS, st.one_of(FIELD_VALUES, st.lists(FIELD_VALUES, max_size=3)), max_size=3
        ),
    ),
    max_size=5,
)


@settings(
    max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=MANIFEST)
def test_any_manifest_is_accepted_or_refused_with_our_own_error(tmp_path: Path, data) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_bytes(orjson.dumps(data))  # JSON is YAML
    issues = []
    try:
        expand(load_manifest(path))
    except ManifestError as exc:  # anything else fails the test
        issues = exc.issues
        assert issues
    assert all(str(i) for i in issues)


@settings(
    max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(alphabet=st.sampled_from(list("abc:-[]{}&*!|>'\"#\n 1.%@`")), max_size=60))
def test_any_text_is_accepted_or_refused_with_our_own_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_text(text)
    with contextlib.suppress(ManifestError):  # anything else fails the test
        expand(load_manifest(path))
