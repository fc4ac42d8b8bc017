"""The model table: every model's validation, good and bad, with the line named;
`model` aliases, model sweeps, `extra:`, unknown models, and `models`."""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path

import orjson
import pytest

from runner import modeltable
from runner.errors import ManifestError
from runner.manifest.expand import expand
from runner.manifest.load import load_manifest
from runner.records import Request, TaskSpec, task_key
from runner.simulator.validate import check_submit

from .conftest import cli


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "m.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def specs_of(tmp_path: Path, text: str) -> list[TaskSpec]:
    return expand(load_manifest(write(tmp_path, text)))


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ManifestError) as info:
        specs_of(tmp_path, text)
    return [str(i) for i in info.value.issues]


# (model as written, the task's other lines, what the body must hold)
GOOD = [
    (
        "seedream-4.0",
        "clarity: 4096\n    number_of_images: 4\n    ref_images: [https://x.test/a.jpg]",
        {"creation_type": 3, "clarity": 4096, "number_of_images": 4, "ref_img_url": 1},
    ),
    ("doubao-seedream-4.5", "clarity: 4096", {"creation_type": 3, "clarity": 4096}),
    ("seedream-3.0", "aspect_ratio: '16:9'", {"creation_type": 3, "clarity": 2048}),
    ("kling-v2-1", "number_of_images: 2", {"creation_type": 3, "clarity": 1024}),
    (
        "seedance-1.0-pro",
        "video_duration: 10\n    quality_mode: pro\n    extra: {style: anime}",
        {"creation_type": 4, "video_duration": 10, "quality_mode": "pro", "style": "anime"},
    ),
    (
        "Doubao-Seedance-1.0-lite-i2v",
        "video_duration: 5\n    ref_images: [https://x.test/s.jpg, https://x.test/e.jpg]",
        {"creation_type": 4, "start_frame": "https://x.test/s.jpg", "clarity": 1080},
    ),
    (
        "tx_kling-v2-1-master",
        "ref_images: [https://x.test/s.jpg, https://x.test/e.jpg]",
        {"creation_type": 4, "video_duration": 5, "quality_mode": "pro", "ref_img_url": 2},
    ),
]

# (model, the task's bad line (line 4 of the file), what the error must say)
BAD = [
    (
        "seedream-4.0",
        "clarity: 720",
        "m.yaml:4:14: tasks[0].clarity: 720 is not one of 1024, 2048, 4096",
    ),
    ("seedream-4.5", "clarity: 1024", "clarity must be one of 2048, 4096 for doubao-seedream-4.5"),
    (
        "seedream-3.0",
        "ref_images: [https://x.test/a.jpg]",
        "m.yaml:4:17: tasks[0].ref_images: doubao-seedream-3.0-t2i takes no reference images",
    ),
    ("kling-v2-1", "ref_images: [https://x.test/a.jpg]", "kling-v2-1 takes no reference images"),
    (
        "seedance-1.0-pro",
        "video_duration: 7",
        "m.yaml:4:21: tasks[0].video_duration: 7 is not one of 5, 10 (hint: video_duration must be "
        "one of 5, 10 for Doubao-Seedance-1.0-pro)",
    ),
    (
        "seedance-1.0-lite-i2v",
        "ref_images: [https://x.test/s.jpg]",  # the duration is missing
        "m.yaml:2:1: tasks[0].video_duration: is required for Doubao-Seedance-1.0-lite-i2v",
    ),
    (
        "kling-2.1-master",
        "quality_mode: std",
        "m.yaml:4:19: tasks[0].quality_mode: 'std' is not accepted (hint: quality_mode must be one "
        "of pro for tx_kling-v2-1-master)",
    ),
]


def test_every_model_has_a_good_and_a_bad_case() -> None:
    found = {modeltable.find(m) for m, *_ in GOOD} | {modeltable.find(m) for m, *_ in BAD}
    assert {s.code for s in found if s} == set(modeltable.codes())


@pytest.mark.parametrize(("model", "lines", "expected"), GOOD)
def test_good_task_gives_the_models_body(
    tmp_path: Path, model: str, lines: str, expected: dict[str, object]
) -> None:
    (spec,) = specs_of(tmp_path, f"tasks:\n  - prompt: p\n    model: {model}\n    {lines}\n")
    body = spec.request.body()
    assert body["model_code"] == modeltable.find(model).code  # type: ignore[union-attr]
    for key, value in expected.items():
        # an int for a list field is its expected length
        got = len(body[key]) if isinstance(body.get(key), list) else body[key]
        assert got == value, (key, body)
    video = body["creation_type"] == 4
    assert ("number_of_images" in body) is not video
    assert spec.request.kind == ("video" if video else "image")


@pytest.mark.parametrize(("model", "line", "expected"), BAD)
def test_bad_task_names_the_line_and_field(
    tmp_path: Path, model: str, line: str, expected: str
) -> None:
    found = problems(tmp_path, f"tasks:\n  - prompt: p\n    model: {model}\n    {line}\n")
    assert any(expected in p for p in found), found


def test_a_matrix_sweeps_models_by_alias(tmp_path: Path) -> None:
    specs = specs_of(
        tmp_path,
        """
        matrix:
          model: [seedream-4.0, seedream-4.5, doubao-seedream-3.0-t2i]
        tasks:
          - prompt: a fox
            name: fox-{model}
        """,
    )
    assert [s.request.model_code for s in specs] == [
        "doubao-seedream-4.0",
        "doubao-seedream-4.5",
        "doubao-seedream-3.0-t2i",
    ]
    assert specs[2].name == "fox-doubao-seedream-3.0-t2i"
    assert len({s.key for s in specs}) == 3


def test_a_default_wrong_for_one_model_points_at_defaults_and_names_the_task(
    tmp_path: Path,
) -> None:
    found = problems(
        tmp_path,
        """
        defaults:
          clarity: 4096
        tasks:
          - a still image
          - prompt: a moving image
            model: seedance-1.0-pro
        """,
    )
    assert found == [
        f"{tmp_path / 'm.yaml'}:2:12: defaults.clarity: 4096 is not one of 720, 1080 "
        "(for tasks[1], line 5) (hint: clarity must be one of 720, 1080 for "
        "Doubao-Seedance-1.0-pro)"
    ]


def test_video_fields_on_an_image_model_and_images_on_a_video_model(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        tasks:
          - prompt: a
            video_duration: 5
          - prompt: b
            model: seedance-1.0-pro
            number_of_images: 2
        """,
    )
    assert any(":3:21: tasks[0].video_duration: is a video field" in p for p in found), found
    assert any(":6:23: tasks[1].number_of_images: Doubao-Seedance" in p for p in found), found


def test_unknown_model_lists_the_codes_and_suggests_the_right_case(tmp_path: Path) -> None:
    (found,) = problems(tmp_path, "tasks:\n  - prompt: a\n    model: doubao-seedance-1.0-pro\n")
    assert ":3:12: tasks[0].model_code: 'doubao-seedance-1.0-pro' is not a known model" in found
    assert "did you mean 'Doubao-Seedance-1.0-pro'?" in found
    assert all(code in found for code in modeltable.codes())


def test_allow_unknown_models_sends_the_task_as_written(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        image, video = specs_of(
            tmp_path,
            """
            allow_unknown_models: true
            tasks:
              - prompt: a
                model: wan2.2-t2i
                clarity: 1536
              - prompt: b
                model: MiniMax-Hailuo-02
                video_duration: 6
                clarity: 768
                extra: {prompt_optimizer: true}
            """,
        )
    assert image.request.body() == {
        "ref_prompt": "a",
        "creation_type": 3,
        "model_code": "wan2.2-t2i",
        "aspect_ratio": "1:1",
        "clarity": 1536,
        "number_of_images": 1,
    }
    body = video.request.body()
    assert body["creation_type"] == 4 and body["video_duration"] == 6
    assert body["prompt_optimizer"] is True and body["clarity"] == 768
    assert "wan2.2-t2i" in caplog.text and "MiniMax-Hailuo-02" in caplog.text


def test_extra_passes_private_fields_but_cannot_override_known_ones(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        tasks:
          - prompt: a
            model: seedance-1.0-pro
            extra: {style: anime, clarity: 4096, creation_type: 3}
        """,
    )
    assert len(found) == 1
    assert ":4:12: tasks[0].extra: may not set clarity, creation_type" in found[0]


def test_extra_changes_the_task_key_and_is_sent_verbatim(tmp_path: Path) -> None:
    plain, styled = specs_of(
        tmp_path,
        """
        defaults: {model: seedance-1.0-pro}
        tasks:
          - a wave
          - prompt: a wave
            extra: {style: {name: ink, strength: 0.5}}
        """,
    )
    assert plain.key != styled.key
    assert styled.request.body()["style"] == {"name": "ink", "strength": 0.5}
    assert Request.from_json(styled.request.to_json()) == styled.request


def test_image_task_keys_are_what_they_were_before_the_table() -> None:
    # Computed by the runner before models and video fields existed: old run
    # directories must keep recognising their tasks.
    old = Request("a cat", ("https://x/a.png",), "9:16", 4096, 2, "doubao-seedream-4.5")
    assert task_key(old.fingerprint(), 0) == "c3711966d257f379"
    assert task_key(Request("a").fingerprint(), 1) == "5e4a33a0c3563c2a"


async def test_models_command_text_and_json() -> None:
    r = await cli("models")
    text = r.stdout.decode()
    assert r.returncode == 0 and all(code in text for code in modeltable.codes())
    assert "video_duration:   [5] 10" in text
    r = await cli("models", "--json")
    data = orjson.loads(r.stdout)
    by_code = {m["code"]: m for m in data["models"]}
    assert set(by_code) == set(modeltable.codes())
    assert by_code["Doubao-Seedance-1.0-pro"]["durations"] == [5, 10]
    assert by_code["doubao-seedream-3.0-t2i"]["references"]["mode"] == "none"
    assert by_code["Doubao-Seedance-1.0-lite-i2v"]["references"]["fields"] == [
        "start_frame",
        "end_frame",
    ]


@pytest.mark.parametrize(("model", "lines", "expected"), GOOD)
def test_the_simulator_accepts_every_good_body(
    tmp_path: Path, model: str, lines: str, expected: dict[str, object]
) -> None:
    (spec,) = specs_of(tmp_path, f"tasks:\n  - prompt: p\n    model: {model}\n    {lines}\n")
    assert check_submit(spec.request.body()) is None


SIM_BAD = [
    ("doubao-seedream-4.5", {"clarity": 1024}, "clarity: must be one of 2048, 4096"),
    ("doubao-seedream-3.0-t2i", {"ref_img_url": ["https://x.test/a.jpg"]}, "ref_img_url: "),
    ("kling-v2-1", {"number_of_images": 5}, "number_of_images: must be an integer from 1 to 4"),
    ("Doubao-Seedance-1.0-pro", {"creation_type": 3}, "creation_type: must be 4 (video)"),
    ("Doubao-Seedance-1.0-pro", {"video_duration": 7}, "video_duration: must be one of 5, 10"),
    ("Doubao-Seedance-1.0-lite-i2v", {"video_duration": 5}, "start_frame: required"),
    (
        "tx_kling-v2-1-master",
        {"quality_mode": "std", "ref_img_url": ["https://x.test/s.jpg"]},
        "quality_mode: must be one of pro",
    ),
    ("tx_kling-v2-1-master", {}, "ref_img_url: required"),
    ("seedance-1.0-pro", {}, "model_code: must be one of"),  # aliases are ours, not the API's
]


@pytest.mark.parametrize(("code", "fields", "message"), SIM_BAD)
def test_the_simulator_answers_each_models_bad_field(
    code: str, fields: dict[str, object], message: str
) -> None:
    spec = modeltable.find(code)
    body: dict[str, object] = {
        "ref_prompt": "p",
        "model_code": code,
        "creation_type": spec.creation_type if spec else 3,
    }
    if spec is not None and spec.is_video:
        body["video_duration"] = spec.durations[0]
    body.update(fields)
    problem = check_submit(body)
    assert problem is not None and problem.startswith(message), problem


def test_an_image_request_is_recorded_as_before_so_old_ledgers_replay_unchanged() -> None:
    request = Request("a", ("https://x/a.png",), "9:16", 4096, 2, "doubao-seedream-4.5")
    assert list(request.to_json()) == [
        "prompt",
        "ref_images",
        "aspect_ratio",
        "clarity",
        "number_of_images",
        "model_code",
    ]
    old_event = {"prompt": "a", "aspect_ratio": "1:1", "clarity": 2048, "number_of_images": 1}
    replayed = Request.from_json(old_event)  # an old ledger's planned request
    assert replayed == Request("a") and replayed.kind == "image"
    assert replayed.body()["creation_type"] == 3 and "video_duration" not in replayed.body()
