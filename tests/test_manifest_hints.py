"""Every manifest problem in one pass, and YAML mistakes explained (issue 13 items 3-4, 11.8)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from runner.errors import ManifestError
from runner.manifest.expand import load_and_expand


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "m.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    with pytest.raises(ManifestError) as info:
        load_and_expand(path)
    return [str(i) for i in info.value.issues]


def test_structural_problems_do_not_hide_template_or_file_problems(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        vars: {style: film, colour: [red]}
        tasks:
          - prompt: ""
          - prompt: a kite, {styel}
            repeat: 0
          - prompt: a boat, {colour}
            ref_images: [refs/missing.png]
          - prompt: a mug, {mood}
        """,
    )
    m = tmp_path / "m.yaml"
    assert any(f.startswith(f"{m}:1:29: vars.colour: a variable must be text") for f in found)
    assert any(f.startswith(f"{m}:3:13: tasks[0].prompt: must be non-empty") for f in found)
    assert any(f.startswith(f"{m}:5:13: tasks[1].repeat: 0 is not") for f in found)
    (styel,) = [f for f in found if "{styel}" in f]
    assert styel.startswith(f"{m}:4:13: tasks[1].prompt: uses {{styel}}, which has no value")
    assert styel.endswith("(hint: did you mean {style}?)")
    assert any("tasks[2].ref_images[0]: " in f and "no such file" in f for f in found)
    (mood,) = [f for f in found if "{mood}" in f]
    assert "(hint: define it under vars: (defined: colour, style))" in mood
    assert not any("{colour}" in f for f in found)  # wrong, but defined: said once, above
    assert len(found) == 6, found


def test_undefined_placeholder_with_no_vars_at_all(tmp_path: Path) -> None:
    (found,) = problems(tmp_path, "tasks: ['a kite, {style}']\n")
    assert "none defined" not in found
    assert found.endswith("(hint: define it under vars: ({{style}} writes it literally))")


def test_a_name_placeholder_is_matched_against_fields_too(tmp_path: Path) -> None:
    (found,) = problems(tmp_path, "tasks: [{prompt: a kite, name: 'kite-{aspect_raito}'}]\n")
    assert "tasks[0].name: uses {aspect_raito}" in found
    assert found.endswith("(hint: did you mean {aspect_ratio}?)")


@pytest.mark.parametrize(
    ("text", "where", "message", "hint"),
    [
        pytest.param(
            "name: x\ntasks:\n\t- a kite\n",
            "3:1",
            "not valid YAML: found character that cannot start any token",
            "line 3 is indented with a tab: indent with spaces",
            id="tab",
        ),
        pytest.param(
            "tasks:\n  - prompt: a\n\tname: b\n",
            "3:1",
            "not valid YAML: found a tab character that violates indentation "
            "(while scanning the text that starts at line 2:13)",
            "line 3 is indented with a tab: indent with spaces",
            id="tab-in-a-mapping",
        ),
        pytest.param(
            'name: x\ntasks:\n  - prompt: "a kite\n    name: b\n  - prompt: "c"\n',
            "5:14",
            "not valid YAML: did not find expected key "
            "(while parsing the mapping that starts at line 3:5)",
            "the double quote opened at line 3:13 is never closed",
            id="unclosed-quote-issue-11",
        ),
        pytest.param(
            'tasks:\n  - prompt: "a kite\n  - b\n',
            "4:1",
            "not valid YAML: found unexpected end of stream "
            "(while scanning the quoted text that starts at line 2:13)",
            "the double quote opened at line 2:13 is never closed",
            id="unclosed-quote-to-the-end",
        ),
        pytest.param(
            "tasks:\n  - prompt: 'it's a kite'\n",
            "2:17",
            "not valid YAML: did not find expected key "
            "(while parsing the mapping that starts at line 2:5)",
            "text follows the closing quote at line 2:16: quote the whole value; "
            "inside single quotes, write '' for a '",
            id="text-after-a-quote",
        ),
        pytest.param(
            "tasks: [a, b\nname: x\n",
            "2:5",
            "not valid YAML: did not find expected ',' or ']' "
            "(while parsing the [...] list that starts at line 1:8)",
            "",
            id="flow-list",
        ),
    ],
)
def test_yaml_mistakes_name_both_marks_and_a_cause(
    tmp_path: Path, text: str, where: str, message: str, hint: str
) -> None:
    (found,) = problems(tmp_path, text)
    expected = f"{tmp_path / 'm.yaml'}:{where}: {message}"
    assert found == (f"{expected} (hint: {hint})" if hint else expected)


@pytest.mark.parametrize("text", ["", "# nothing yet\n", "- a kite\n"])
def test_an_empty_manifest_is_shown_the_smallest_one(tmp_path: Path, text: str) -> None:
    (found,) = problems(tmp_path, text)
    assert "jobs/demo.yaml" not in found  # not there in the user's own folder
    assert found.endswith(
        """(hint: the smallest manifest is one line: tasks: ["a red kite over the sea"])"""
    )
    (tmp_path / "m.yaml").write_text('tasks: ["a red kite over the sea"]\n')
    _, expanded = load_and_expand(tmp_path / "m.yaml")  # and that one line works
    assert len(expanded.specs) == 1
