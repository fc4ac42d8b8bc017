"""Manifests: what they expand to, and every kind of mistake reported with its place."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from runner.errors import ManifestError
from runner.manifest.expand import expand
from runner.manifest.limits import Limits
from runner.manifest.load import load_manifest


def write(tmp_path: Path, text: str, name: str = "m.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def tasks_of(tmp_path: Path, text: str):
    return expand(load_manifest(write(tmp_path, text)))


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ManifestError) as info:
        tasks_of(tmp_path, text)
    return [str(i) for i in info.value.issues]


def test_defaults_overrides_repeat_and_matrix(tmp_path: Path) -> None:
    specs = tasks_of(
        tmp_path,
        """
        name: spring
        defaults: {aspect_ratio: 16:9, clarity: 1024}
        vars: {style: film}
        matrix: {aspect_ratio: ["1:1", "9:16"]}
        tasks:
          - prompt: "beach, {style}"
            repeat: 2
          - prompt: pinned
            aspect_ratio: 4:3
          - prompt: own
            matrix: {clarity: [2048, 4096]}
          - prompt: alone
            matrix: false
    """,
    )
    summary = [(s.request.prompt, s.request.aspect_ratio, s.request.clarity) for s in specs]
    assert summary == [
        ("beach, film", "1:1", 1024),
        ("beach, film", "1:1", 1024),
        ("beach, film", "9:16", 1024),
        ("beach, film", "9:16", 1024),
        ("pinned", "4:3", 1024),  # its own value wins over the manifest's matrix
        ("own", "1:1", 2048),
        ("own", "1:1", 4096),
        ("own", "9:16", 2048),
        ("own", "9:16", 4096),
        ("alone", "16:9", 1024),  # opted out of the manifest's matrix
    ]
    assert len({s.key for s in specs}) == len(specs)  # repeats are distinct tasks


def test_same_manifest_same_keys_and_renaming_keeps_them(tmp_path: Path) -> None:
    text = "tasks:\n  - {prompt: a, name: first}\n  - {prompt: a, name: second}\n"
    first = [s.key for s in tasks_of(tmp_path, text)]
    again = [s.key for s in tasks_of(tmp_path, text)]
    renamed = [s.key for s in tasks_of(tmp_path, text.replace("first", "renamed"))]
    assert first == again == renamed
    assert len(set(first)) == 2


def test_api_aliases_bare_prompts_and_unquoted_ratios(tmp_path: Path) -> None:
    specs = tasks_of(
        tmp_path,
        """
        tasks:
          - ref_prompt: aliased
            ref_img_url: [https://example.com/a.jpg]
            aspect_ratio: 16:9
          - just a prompt
    """,
    )
    assert specs[0].request.prompt == "aliased"
    assert specs[0].request.ref_images == ("https://example.com/a.jpg",)
    assert specs[0].request.aspect_ratio == "16:9"
    assert specs[1].request.prompt == "just a prompt"
    assert specs[1].request.model_code == "doubao-seedream-4.0"


def test_name_templates_see_fields_and_matrix_vars(tmp_path: Path) -> None:
    specs = tasks_of(
        tmp_path,
        """
        tasks:
          - prompt: "lake in {season}"
            name: "lake-{season}-{aspect_ratio}"
            matrix: {season: [spring, autumn]}
    """,
    )
    assert [s.name for s in specs] == ["lake-spring-1:1", "lake-autumn-1:1"]
    assert [s.request.prompt for s in specs] == ["lake in spring", "lake in autumn"]


def test_every_problem_is_reported_at_once_with_file_line_and_field(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        name: bad
        defualts: {clarity: 2048}
        tasks:
          - prompt: ok
            aspect_ratio: "2:1"
          - prompt: fine
            clarity: 3000
            number_of_images: 7
          - name: no-prompt
          - prompt: x
            colour: red
    """,
    )
    assert len(found) == 6, found
    m = str(tmp_path / "m.yaml")
    assert found[0].startswith(f"{m}:3:1: defualts: unknown key 'defualts'")
    assert "did you mean 'defaults'?" in found[0]
    assert any(f.startswith(f"{m}:6:19: tasks[0].aspect_ratio: '2:1' is not one of") for f in found)
    assert any(f.startswith(f"{m}:8:14: tasks[1].clarity: 3000") for f in found)
    assert any(f.startswith(f"{m}:9:23: tasks[1].number_of_images: 7") for f in found)
    assert any(f.startswith(f"{m}:10:5: tasks[2]: has no prompt") for f in found)
    assert any(f.startswith(f"{m}:12:5: tasks[3].colour: unknown key 'colour'") for f in found)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tasks: [\n", ":2:1: not valid YAML"),
        ("tasks:\n  - a\ntasks:\n  - b\n", ":3:1: duplicate key 'tasks' (first at line 1)"),
        ("tasks:\n  - prompt: a\n    ref_prompt: b\n", "tasks[0].ref_prompt: given twice"),
        ("tasks:\n  - prompt: 'hi {who}'\n", "tasks[0].prompt: uses {who}, which has no value"),
        ("tasks:\n  - prompt: ''\n", "tasks[0].prompt: must be non-empty text"),
        ("tasks: {a: 1}\n", "tasks: must be a list of tasks"),
        ("- a\n- b\n", "a manifest is a mapping"),
        ("", "a manifest is a mapping"),
        ("name: x\n", "no tasks"),
        ("tasks: [a]\nmatrix: {aspect_ratio: []}\n", "matrix.aspect_ratio: must be a non-empty"),
        ("tasks: [a]\nmatrix: {sesaon: [x]}\n", "matrix.sesaon: is not a task field"),
        ("tasks: [a]\nmatrix: {clarity: [1024, 99]}\n", "matrix.clarity[1]: 99 is not one of"),
        ("tasks:\n  - {prompt: a, ref_images: [ftp://x/y.png]}\n", "ftp:// is not allowed"),
        ("tasks:\n  - {prompt: a, ref_images: [refs/a.png]}\n", "no such file"),
        ("tasks:\n  - {prompt: a, model_code: dall-e}\n", "'dall-e' is not a known model"),
        ("tasks:\n  - {prompt: a, repeat: 0}\n", "tasks[0].repeat: 0 is not a whole number"),
        ("tasks:\n  - {prompt: a, vars: {1x: v}}\n", "tasks[0].vars.1x"),
        ("tasks: [a]\nmax_images: -1\n", "max_images: must be a whole number"),
        ("tasks: [!!python/object:os.system x]\n", "unsupported value"),
    ],
)
def test_each_kind_of_mistake(tmp_path: Path, text: str, expected: str) -> None:
    found = problems(tmp_path, text)
    assert any(expected in f for f in found), found


def test_missing_file_and_non_utf8(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="cannot read"):
        load_manifest(tmp_path / "nope.yaml")
    path = tmp_path / "latin.yaml"
    path.write_bytes(b"tasks: [caf\xe9]\n")
    with pytest.raises(ManifestError, match="not UTF-8"):
        load_manifest(path)


def test_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for prev, cur in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{cur}: &{cur} [" + ", ".join(f"*{prev}" for _ in range(9)) + "]")
    found = problems(tmp_path, "\n".join(lines) + "\ntasks: [ok]\n")
    assert any("aliases expand to more than" in f for f in found)


def test_task_cap(tmp_path: Path) -> None:
    path = write(tmp_path, "tasks:\n  - {prompt: a, repeat: 300}\n")
    with pytest.raises(ManifestError, match="expands to 300 tasks; the cap is 100"):
        expand(load_manifest(path), Limits(max_tasks=100))
