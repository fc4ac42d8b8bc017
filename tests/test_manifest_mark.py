"""Re-running an unchanged manifest takes its tasks from the ledger (no expansion);
any change to what the tasks depend on expands it again, and nothing is lost."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from runner.manifest import inputs
from runner.manifest.limits import DEFAULT_LIMITS
from runner.pipeline.prepare import plan
from runner.records import Request, TaskSpec, TaskState
from runner.rundir import manifestmark
from runner.rundir.ledger import Ledger
from runner.simulator.images import render_png
from runner.taskrecord import TaskRecord
from tests.conftest import Harness

REUSED = "not expanded again"


def _prompts_job(harness: Harness, lines: list[str]) -> Path:
    (harness.tmp / "prompts.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return harness.manifest("name: mark\nprompts_file: prompts.txt\n")


def _sent_prompts(harness: Harness) -> list[str]:
    return sorted(s["body"]["ref_prompt"] for s in harness.sim.state.submissions)


async def test_an_unchanged_manifest_is_not_expanded_again_and_its_run_finishes(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    manifest = _prompts_job(harness, [f"a lighthouse at dusk, take {i}" for i in range(6)])
    assert await harness.run(manifest, max_images=2) == 4  # stopped by the budget
    assert (harness.out / manifestmark.MARK_NAME).exists()

    with caplog.at_level(logging.INFO):
        assert await harness.run(manifest) == 0
    assert REUSED in caplog.text
    assert len(harness.sim.state.submissions) == 6  # the rest, and none twice
    assert all(r.state.value == "done" for r in harness.ledger().records.values())
    assert harness.check_images_intact() == 6


async def test_an_edited_prompts_file_is_expanded_again(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    manifest = _prompts_job(harness, ["a red kite", "a blue kite"])
    assert await harness.run(manifest) == 0
    _prompts_job(harness, ["a red kite", "a blue kite", "a green kite"])

    with caplog.at_level(logging.INFO):
        assert await harness.run(manifest) == 0
    assert REUSED not in caplog.text
    assert _sent_prompts(harness) == ["a blue kite", "a green kite", "a red kite"]


async def test_a_changed_reference_image_makes_new_tasks(harness: Harness) -> None:
    ref = harness.tmp / "face.png"
    ref.write_bytes(render_png("one", "1:1", 8))
    manifest = harness.manifest("tasks:\n  - {prompt: a portrait, ref_images: [face.png]}\n")
    assert await harness.run(manifest) == 0
    ref.write_bytes(render_png("two", "1:1", 8))  # same name, other picture

    assert await harness.run(manifest) == 0
    assert len(harness.sim.state.submissions) == 2  # the new picture is new work
    assert len(harness.ledger().records) == 2


async def test_a_replaced_ledger_is_not_trusted_to_hold_the_manifest(harness: Harness) -> None:
    manifest = _prompts_job(harness, ["a red kite", "a blue kite"])
    assert await harness.run(manifest) == 0
    shutil.rmtree(harness.out / "images")
    (harness.out / "ledger.jsonl").unlink()  # the mark stays behind
    (harness.out / "ledger.checkpoint").unlink(missing_ok=True)

    assert await harness.run(manifest) == 0
    assert len(harness.ledger().records) == 2
    assert all(r.state.value == "done" for r in harness.ledger().records.values())


async def test_a_crash_while_another_manifest_is_planned_leaves_no_stale_mark(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _prompts_job(harness, [f"kite {i}" for i in range(4)])
    assert await harness.run(first, max_images=1) == 4  # one done, three planned
    other = harness.manifest("tasks: [a boat]\n", name="other.yaml")

    def crash(*_: object) -> None:
        raise KeyboardInterrupt  # killed after the new plan (three dropped), before its mark

    monkeypatch.setattr(manifestmark, "write", crash)
    with pytest.raises(KeyboardInterrupt):
        await harness.run(other, max_images=1)
    monkeypatch.undo()

    assert await harness.run(first) == 0  # the dropped three are planned and made again
    assert _sent_prompts(harness) == ["kite 0", "kite 1", "kite 2", "kite 3"]


def test_retry_failed_on_a_reused_manifest_leaves_other_manifests_tasks_alone(
    tmp_path: Path,
) -> None:
    """Tasks an earlier manifest sent stay in the ledger; --retry-failed is for this one's."""
    ledger = Ledger(tmp_path / "ledger.jsonl")
    replay = ledger.open()
    for key in ("mine", "theirs"):
        spec = TaskSpec(key, "", Request(f"prompt of {key}"))
        replay.records[key] = TaskRecord(spec, TaskState.FAILED, unique_id=f"u-{key}")

    assert plan(ledger, replay, None, retry_failed=True, others=frozenset({"theirs"})) == 0
    ledger.close()
    assert replay.records["mine"].state is TaskState.PLANNED
    assert replay.records["mine"].attempt == 2
    assert replay.records["theirs"].state is TaskState.FAILED


def test_the_inputs_digest_follows_the_prompts_file_and_skips_big_manifests(
    tmp_path: Path,
) -> None:
    """A manifest of 100,000 inline tasks is not read a second time just to be digested."""
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red kite\n", encoding="utf-8")
    manifest = tmp_path / "job.yaml"
    manifest.write_text("name: kites\nprompts_file: prompts.txt\n", encoding="utf-8")
    first = inputs.read(manifest, DEFAULT_LIMITS)
    assert first is not None and first.name == "kites"
    prompts.write_text("a red kite\na blue kite\n", encoding="utf-8")
    second = inputs.read(manifest, DEFAULT_LIMITS)
    assert second is not None and second.digest != first.digest

    lines = [f'  - "task {i}, a long enough prompt to fill the file"' for i in range(6000)]
    manifest.write_text("tasks:\n" + "\n".join(lines) + "\n", encoding="utf-8")
    assert manifest.stat().st_size > inputs.MAX_QUICK_BYTES
    assert inputs.read(manifest, DEFAULT_LIMITS) is None


@pytest.mark.parametrize("mark", [b"\x00garbage", b'{"mark": 1, "inputs": 7}', b"[]"])
async def test_a_damaged_mark_is_ignored_and_the_run_goes_on(harness: Harness, mark: bytes) -> None:
    manifest = _prompts_job(harness, ["a red kite", "a blue kite", "a green kite"])
    assert await harness.run(manifest, max_images=1) == 4
    (harness.out / manifestmark.MARK_NAME).write_bytes(mark)

    assert await harness.run(manifest) == 0
    assert _sent_prompts(harness) == ["a blue kite", "a green kite", "a red kite"]  # once each
