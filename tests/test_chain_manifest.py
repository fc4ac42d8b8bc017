"""Chained tasks at expansion: @name, @name[i], for_each; keys, graph and errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from runner.errors import ManifestError
from runner.manifest.expand import expand
from runner.manifest.limits import Limits
from runner.manifest.load import load_manifest
from runner.records import TaskSpec, parse_task_ref

CHAIN = """
name: knight-story
tasks:
  - name: knight
    prompt: "character sheet of a red-haired knight"
    number_of_images: 2
  - name: scene
    prompt: "the knight rides through a misty forest, {time}"
    ref_images: ["@knight", "https://example.com/horse.jpg"]
    matrix: {time: [dawn, dusk]}
  - name: clip
    prompt: "slow push-in"
    for_each: "@scene"
  - name: portrait
    prompt: "a portrait"
    ref_images: ["@knight[1]"]
"""


def specs_of(tmp_path: Path, text: str, name: str = "job.yaml") -> list[TaskSpec]:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return expand(load_manifest(path))


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ManifestError) as err:
        specs_of(tmp_path, text)
    return [str(issue) for issue in err.value.issues]


def test_references_become_a_graph_of_tasks(tmp_path: Path) -> None:
    specs = specs_of(tmp_path, CHAIN)
    by_name: dict[str, list[TaskSpec]] = {}
    for spec in specs:
        by_name.setdefault(spec.name, []).append(spec)
    knight = by_name["knight"][0]
    assert [len(by_name[n]) for n in ("knight", "scene", "clip", "portrait")] == [1, 2, 2, 1]
    for scene in by_name["scene"]:  # every output of knight, in order, then the URL
        assert scene.request.ref_images == (
            f"task:{knight.key}#0",
            f"task:{knight.key}#1",
            "https://example.com/horse.jpg",
        )
    # for_each: one clip per scene output, that output as its reference
    assert [c.request.ref_images for c in by_name["clip"]] == [
        (f"task:{s.key}#0",) for s in by_name["scene"]
    ]
    assert by_name["portrait"][0].request.ref_images == (f"task:{knight.key}#1",)
    # parents come before their children
    position = {s.key: i for i, s in enumerate(specs)}
    for spec in specs:
        for ref in spec.request.ref_images:
            found = parse_task_ref(ref)
            if found:
                assert position[found[0]] < position[spec.key]


def test_keys_are_stable_and_follow_the_parents_content(tmp_path: Path) -> None:
    first = [s.key for s in specs_of(tmp_path, CHAIN)]
    again = [s.key for s in specs_of(tmp_path, CHAIN, "copy.yaml")]
    assert first == again and len(set(first)) == len(first)
    # The same tasks written children first: same keys.
    reordered = specs_of(
        tmp_path,
        """
        tasks:
          - {name: portrait, prompt: "a portrait", ref_images: ["@knight[1]"]}
          - {name: knight, prompt: "character sheet of a red-haired knight", number_of_images: 2}
        """,
        "reordered.yaml",
    )
    by_prompt = {s.request.prompt: s.key for s in specs_of(tmp_path, CHAIN)}
    assert {s.request.prompt: s.key for s in reordered} == {
        p: by_prompt[p] for p in ("a portrait", "character sheet of a red-haired knight")
    }
    # A different parent prompt changes the children's keys too.
    changed = specs_of(tmp_path, CHAIN.replace("red-haired", "blond"), "changed.yaml")
    assert {s.key for s in changed if s.name == "clip"}.isdisjoint(
        {k for k, s in zip(first, specs_of(tmp_path, CHAIN), strict=True) if s.name == "clip"}
    )


def test_a_manifest_without_references_keeps_its_keys(tmp_path: Path) -> None:
    # Keys computed before chained tasks existed: earlier runs must not start over.
    specs = specs_of(
        tmp_path,
        """
        tasks:
          - a
          - {prompt: b, repeat: 2}
          - {name: x, prompt: c, ref_images: [https://e.com/a.jpg]}
        """,
    )
    assert [s.key for s in specs] == [
        "3b7886cb83d00722",
        "6aae400efa9d7278",
        "1bba4f1282d65f93",
        "1e993f01d5311890",
    ]


def test_a_dangling_name_is_rejected_with_its_line(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        tasks:
          - {name: knight, prompt: knight}
          - name: scene
            prompt: scene
            ref_images: ["@knigth"]
        """,
    )
    assert len(found) == 1
    assert "job.yaml:6:" in found[0] and "tasks[1].ref_images" in found[0]
    assert "no task is named 'knigth'" in found[0] and "knight" in found[0]


def test_a_cycle_is_rejected_naming_its_tasks(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        tasks:
          - {name: free, prompt: free}
          - name: a
            prompt: a
            ref_images: ["@b"]
          - name: b
            prompt: b
            for_each: "@c"
          - name: c
            prompt: c
            ref_images: ["@a[0]"]
          - {name: self, prompt: self, ref_images: ["@self"]}
        """,
    )
    assert len(found) == 2
    assert "job.yaml:6:" in found[0] and "a -> b -> c -> a" in found[0]
    assert "job.yaml:13:" in found[1] and "self -> self" in found[1]


def test_an_index_beyond_the_outputs_and_a_bad_form_are_rejected(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        tasks:
          - {name: knight, prompt: knight, number_of_images: 2}
          - {name: one, prompt: one, ref_images: ["@knight[2]"]}
        """,
    )
    assert len(found) == 1
    assert "job.yaml:4:" in found[0] and "make 2 output(s), numbered 0 to 1" in found[0]
    found = problems(
        tmp_path,
        """
        tasks:
          - {name: knight, prompt: knight, number_of_images: 2}
          - {name: two, prompt: two, for_each: "@knight[0]"}
        """,
    )
    assert len(found) == 1
    assert "job.yaml:4:" in found[0] and "for_each" in found[0] and "write @name" in found[0]


def test_a_fan_out_over_max_images_is_rejected(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        max_images: 6
        tasks:
          - {name: sheet, prompt: sheet, number_of_images: 4}
          - name: scene
            prompt: scene
            number_of_images: 2
            for_each: "@sheet"
        """,
    )
    assert len(found) == 1
    assert "job.yaml:8:" in found[0] and "fans out to 4 task(s), 8 image(s)" in found[0]
    assert "over the budget of 6" in found[0]
    # run --max-images overrides the manifest's budget, for this check too
    path = tmp_path / "job.yaml"
    assert len(expand(load_manifest(path), Limits(max_images=12))) == 5
    with pytest.raises(ManifestError) as err:
        expand(load_manifest(path), Limits(max_images=11))
    assert "over the budget of 11" in str(err.value.issues[0])


def test_placeholders_in_a_reference_take_the_task_values(tmp_path: Path) -> None:
    specs = specs_of(
        tmp_path,
        """
        tasks:
          - {name: "sheet-{style}", prompt: "sheet {style}", matrix: {style: [ink, oil]}}
          - prompt: "scene {style}"
            ref_images: ["@sheet-{style}"]
            matrix: {style: [ink, oil]}
        """,
    )
    sheets = {s.request.prompt.split()[1]: s.key for s in specs if s.name}
    for spec in specs:
        if not spec.name:
            style = spec.request.prompt.split()[1]
            assert spec.request.ref_images == (f"task:{sheets[style]}#0",)


def test_references_given_to_a_model_that_takes_none_are_rejected(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        tasks:
          - {name: sheet, prompt: sheet, number_of_images: 2}
          - {name: t2i, prompt: t2i, model: seedream-3.0, ref_images: ["@sheet[0]"]}
          - {name: fan, prompt: fan, model: seedream-3.0, for_each: "@sheet"}
          - {name: clip, prompt: clip, model: seedance-1.0-pro, ref_images: ["@sheet"]}
        """,
    )
    assert len(found) == 3, found
    assert "job.yaml:4:" in found[0] and "doubao-seedream-3.0-t2i takes no reference" in found[0]
    assert "job.yaml:5:" in found[1] and "tasks[2].for_each" in found[1]
    # @sheet is two images; the video model takes one
    assert "job.yaml:6:" in found[2] and "takes at most 1" in found[2]


def test_a_video_parent_has_one_output(tmp_path: Path) -> None:
    specs = specs_of(
        tmp_path,
        """
        tasks:
          - {name: clip, prompt: clip, model: seedance-1.0-pro, repeat: 3}
          - {name: still, prompt: "a still of the clip", for_each: "@clip"}
          - {name: last, prompt: "the last clip", ref_images: ["@clip[2]"]}
        """,
    )
    clips = [s.key for s in specs if s.name == "clip"]
    stills = [s.request.ref_images for s in specs if s.name == "still"]
    assert stills == [(f"task:{k}#0",) for k in clips]
    assert [s.request.ref_images for s in specs if s.name == "last"] == [(f"task:{clips[2]}#0",)]
