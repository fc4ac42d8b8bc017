"""A prompts file's lines become the same tasks, names and plan listing as ever.

The keys, names, sources and `plan` bytes below were taken from the code before
prompt lines got their compact form (issue 17); they must never change, or
every existing run directory would see its tasks as new work.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from runner.errors import ManifestError
from runner.manifest.expand import load_and_expand
from runner.manifest.promptlines import PromptLines
from runner.simulator.images import render_png

from .conftest import cli

P_TXT = (
    "# a comment\n\nfirst prompt\nsecond {color} prompt\nfirst prompt\n  third prompt  \n"
    "fourth: \u00fcn\u00efcode  prompt\twith  spaces\n"
    "a prompt that is longer than forty characters, to see its name cut\n"
    "\u5c71\u306e\u4e0a\u306e\u57ce, \uff11\uff12\uff13\n"
    "first prompt\n"
)
MANIFESTS = {
    # a task of the manifest asks for the same request as a later line: that line
    # is its second occurrence, so its key differs from the line's alone
    "cross.yaml": "vars: {color: red}\ntasks:\n  - first prompt\n"
    '  - {prompt: third prompt, aspect_ratio: "1:1"}\nprompts_file: p.txt\n',
    "matrix.yaml": 'vars: {color: red}\nmatrix: {aspect_ratio: ["1:1", "16:9"]}\n'
    "prompts_file: p.txt\n",
    "refs.yaml": "vars: {color: red}\ndefaults: {ref_images: [ref.png], clarity: 4096}\n"
    "prompts_file: p.txt\n",
}
KEYS = {
    "cross.yaml": [
        ("27fd90a6b5f1f5ad", "cross.yaml:3"),
        ("d678e5a4ca977616", "cross.yaml:4"),
        ("e408f6fae8acf901", "p.txt:3"),
        ("a96a48a406e8634a", "p.txt:4"),
        ("8adf28bd659deddb", "p.txt:5"),
        ("e9a07130a8f60fb8", "p.txt:6"),
        ("9a4f5c3178f21833", "p.txt:7"),
        ("43f6ac9620165d09", "p.txt:8"),
        ("27214edd8a115cd3", "p.txt:9"),
        ("c267b3928056a47b", "p.txt:10"),
    ],
    "matrix.yaml": [
        ("27fd90a6b5f1f5ad", "p.txt:3"),
        ("232b3a497d92529d", "p.txt:3"),
        ("a96a48a406e8634a", "p.txt:4"),
        ("4bf5ebbe6ea6946d", "p.txt:4"),
        ("e408f6fae8acf901", "p.txt:5"),
        ("c0b1ff1da2ad03bc", "p.txt:5"),
        ("d678e5a4ca977616", "p.txt:6"),
        ("c3f9e3a6c6203cec", "p.txt:6"),
        ("9a4f5c3178f21833", "p.txt:7"),
        ("6dc0dc92c4fe73fb", "p.txt:7"),
        ("43f6ac9620165d09", "p.txt:8"),
        ("cfa763956b6be51f", "p.txt:8"),
        ("27214edd8a115cd3", "p.txt:9"),
        ("2c03890f026081db", "p.txt:9"),
        ("8adf28bd659deddb", "p.txt:10"),
        ("3cfe7ca91a429f66", "p.txt:10"),
    ],
    "refs.yaml": [
        ("18ddc77da533ccf9", "p.txt:3"),
        ("d52bc8b701528918", "p.txt:4"),
        ("3760f16f979013bc", "p.txt:5"),
        ("89fca719fbd60d6b", "p.txt:6"),
        ("f1d245884cd68df3", "p.txt:7"),
        ("9068ca20a29a57db", "p.txt:8"),
        ("e133d7ce59d82926", "p.txt:9"),
        ("7374468d7629b35c", "p.txt:10"),
    ],
}
PLAN_TEXT = """\
key               state      ratio  clar  n  name              prompt
27fd90a6b5f1f5ad  new        1:1    2048  1  first-prompt      first prompt
d678e5a4ca977616  new        1:1    2048  1  third-prompt      third prompt
e408f6fae8acf901  new        1:1    2048  1  first-prompt      first prompt
a96a48a406e8634a  new        1:1    2048  1  second-red-prom…  second red prompt
8adf28bd659deddb  new        1:1    2048  1  first-prompt      first prompt
e9a07130a8f60fb8  new        1:1    2048  1  third-prompt      third prompt
9a4f5c3178f21833  new        1:1    2048  1  fourth-ünïcode-…  fourth: ünïcode prompt with spaces
43f6ac9620165d09  new        1:1    2048  1  a-prompt-that-i…  a prompt that is longer than \
forty characters, …
27214edd8a115cd3  new        1:1    2048  1  山の上の城-123         山の上の城, １２３
c267b3928056a47b  new        1:1    2048  1  first-prompt      first prompt

10 tasks, 10 images; already done 0, left 10 (0 in flight, 0 failed, 10 not yet submitted); \
submitted 0 (run directory run)
"""
REFS_ROW = (
    "f1d245884cd68df3  new        1:1    4096  1  fourth-ünïcode-…  "
    "fourth: ünïcode prompt with spaces  [refs: ref.png]"
)
PLAN_JSON_SHA256 = {
    "cross.yaml": "8b7d788114d55e55926d02ad803dd4a96be42af27a0db6c79b2299c0463904fa",
    "matrix.yaml": "21aeb885c7b12d5bbb0748da3ec8449bf0ce2df11ef452a6707e91138c281934",
    "refs.yaml": "84e5769b0ce4e85101f7dbf64194d10b72f9a12bf32485cfbdb07690d74f223a",
}


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # relative paths: sources and run_dir as pinned
    (tmp_path / "p.txt").write_text(P_TXT, encoding="utf-8")
    (tmp_path / "ref.png").write_bytes(render_png("ref", "1:1", 8))
    for name, text in MANIFESTS.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


async def _plan(folder: Path, *args: str) -> bytes:
    """`plan` as a user runs it: its stdout, byte for byte."""
    r = await cli("plan", *args, "--out", "run", cwd=folder)
    assert r.returncode == 0, r.stderr
    return bytes(r.stdout)


@pytest.mark.parametrize("name", sorted(MANIFESTS))
def test_keys_names_and_sources_stay_as_they_were(folder: Path, name: str) -> None:
    _, (specs, _files) = load_and_expand(Path(name))
    assert [(s.key, s.source) for s in specs] == KEYS[name]
    assert {s.name for s in specs} == {""}


async def test_plan_text_stays_as_it_was(folder: Path) -> None:
    assert (await _plan(folder, "cross.yaml")).decode() == PLAN_TEXT
    assert REFS_ROW in (await _plan(folder, "refs.yaml")).decode().splitlines()


@pytest.mark.parametrize("name", sorted(MANIFESTS))
async def test_plan_json_stays_the_same_bytes(folder: Path, name: str) -> None:
    out = await _plan(folder, name, "--json")
    assert hashlib.sha256(out).hexdigest() == PLAN_JSON_SHA256[name]


def test_problems_of_prompt_lines_are_reported_as_they_were(folder: Path) -> None:
    bad = folder / "bad.yaml"
    bad.write_text(
        "defaults: {model_code: doubao-seedream-4.5, clarity: 1024}\nprompts_file: p.txt\n"
    )
    with pytest.raises(ManifestError) as caught:
        load_and_expand(Path("bad.yaml"))
    assert str(caught.value) == (
        "p.txt:4:1: p.txt line 4.prompt: uses {color}, which has no value "
        "(hint: define it under vars: ({{color}} writes it literally))\n"
        "bad.yaml:1:54: defaults.clarity: 1024 is not one of 2048, 4096 (for p.txt line 3, line 3) "
        "(hint: clarity must be one of 2048, 4096 for doubao-seedream-4.5)"
    )


def test_every_line_is_held_to_the_prompt_limit_not_only_the_first(folder: Path) -> None:
    # the fast path for the lines after the first once skipped the length check
    (folder / "long.txt").write_text(
        "short one\n" + "x" * 4001 + "\nshort two\n" + "y" * 4002 + "\n"
    )
    (folder / "long.yaml").write_text(f"tasks: [first, {'z' * 4003}]\nprompts_file: long.txt\n")
    with pytest.raises(ManifestError) as caught:
        load_and_expand(Path("long.yaml"))
    hint = "(hint: shorten it, or raise the limit with --max-prompt-chars)"
    assert str(caught.value).splitlines() == [
        f"long.yaml:1:16: tasks[1].prompt: is 4,003 characters; the limit is 4,000 {hint}",
        f"long.txt:2:1: long.txt line 2.prompt: is 4,001 characters; the limit is 4,000 {hint}",
        f"long.txt:4:1: long.txt line 4.prompt: is 4,002 characters; the limit is 4,000 {hint}",
    ]


def test_plain_lines_are_one_block_whose_prompts_the_tasks_share(folder: Path) -> None:
    manifest, (specs, _files) = load_and_expand(Path("cross.yaml"))
    kinds = [type(e).__name__ for e in manifest.entries]
    # the two tasks, then the file: lines 3, the {color} line 4 alone, lines 5 to 10
    assert kinds == ["Entry", "Entry", "PromptLines", "Entry", "PromptLines"]
    after = manifest.entries[4]
    assert isinstance(after, PromptLines)
    assert list(after.lines) == [5, 6, 7, 8, 9, 10]
    by_source = {s.source: s for s in specs}
    for prompt, line in zip(after.prompts, after.lines, strict=True):
        assert by_source[f"p.txt:{line}"].request.prompt is prompt


# Tasks asking for the same request as a prompt line, before the first prompt alone.
EARLIER = {
    "before.yaml": (
        "tasks:\n"
        '  - {prompt: first prompt, aspect_ratio: "1:1", repeat: 2}\n'
        "  - {prompt: second, clarity: 2048}\n"
        "  - second\n"
        '  - {prompt: third, aspect_ratio: "16:9"}\n'
        "prompts_file: q.txt\n",
        [
            ("27fd90a6b5f1f5ad", "before.yaml:2"),
            ("e408f6fae8acf901", "before.yaml:2"),
            ("29eb351e7766beb2", "before.yaml:3"),
            ("fb0bb821fc1baa95", "before.yaml:4"),
            ("f644f77d9f6801d8", "before.yaml:5"),
            ("8adf28bd659deddb", "q.txt:1"),
            ("4c5ed3e55af2fb29", "q.txt:2"),
            ("c267b3928056a47b", "q.txt:3"),
            ("8d54ae9c3ad1500c", "q.txt:5"),
        ],
    ),
    "named.yaml": (
        "tasks:\n"
        "  - {prompt: third, name: n3}\n"
        '  - {prompt: "x {v}", vars: {v: first prompt}}\n'
        "  - first prompt\n"
        "prompts_file: q.txt\n",
        [
            ("8d54ae9c3ad1500c", "named.yaml:2"),
            ("7aeafd7d0b042809", "named.yaml:3"),
            ("27fd90a6b5f1f5ad", "named.yaml:4"),
            ("e408f6fae8acf901", "q.txt:1"),
            ("29eb351e7766beb2", "q.txt:2"),
            ("8adf28bd659deddb", "q.txt:3"),
            ("2b2c0799cd0826c3", "q.txt:5"),
        ],
    ),
}


@pytest.mark.parametrize("name", sorted(EARLIER))
def test_a_line_counts_the_same_requests_made_before_it(folder: Path, name: str) -> None:
    (folder / "q.txt").write_text("first prompt\nsecond\nfirst prompt\n# c\nthird\n")
    text, keys = EARLIER[name]
    (folder / name).write_text(text)
    _, (specs, _files) = load_and_expand(Path(name))
    assert [(s.key, s.source) for s in specs] == keys
