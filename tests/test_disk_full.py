"""A full disk stops the run cleanly: exit 4, one line naming path and cause, no .part."""

from __future__ import annotations

import errno
import logging
import os
from dataclasses import dataclass

import orjson
import pytest

from runner.rundir.ledger import read

from .conftest import Harness


@dataclass
class FullDisk:
    """os.write under `root` fails with ENOSPC while `full` is set."""

    root: str = ""
    full: bool = False
    refused: int = 0


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> FullDisk:
    state, real = FullDisk(), os.write

    def write(fd: int, data: bytes) -> int:  # type: ignore[override]
        if state.full:
            try:
                path = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                path = ""
            if state.root and path.startswith(state.root):
                state.refused += 1
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd, data)

    monkeypatch.setattr(os, "write", write)
    return state


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def test_disk_full_while_downloading_stops_with_exit_4_then_resume_finishes(
    harness: Harness, disk: FullDisk, caplog: pytest.LogCaptureFixture
) -> None:
    manifest = harness.manifest("tasks:\n  - {prompt: full, repeat: 8}\n")
    harness.out.mkdir()
    disk.root = str(harness.out.resolve())
    harness.sim.state.listeners.append(
        lambda what, _: (
            setattr(disk, "full", True)
            if what == "served" and len(harness.sim.state.served) >= 2
            else None
        )
    )

    assert await harness.run(manifest) == 4

    assert disk.refused >= 1
    lines = errors(caplog)
    assert len(lines) == 1, lines
    assert disk.root in lines[0] and "No space left on device" in lines[0], lines
    assert "\n" not in lines[0]
    assert not list((harness.out / "images").glob(".*.part"))
    summary = orjson.loads((harness.out / "summary.json").read_bytes())
    assert summary["exit_code"] == 4 and summary["tasks"]["pending"] >= 1
    submitted_before = len(harness.sim.state.submissions)

    disk.full = False  # space freed
    harness.sim.state.listeners.clear()
    assert await harness.run(manifest) == 0

    assert submitted_before <= 8 and len(harness.sim.state.submissions) == 8
    assert harness.check_images_intact() == 8


async def test_disk_full_at_start_sends_nothing_and_exits_4(
    harness: Harness, disk: FullDisk, caplog: pytest.LogCaptureFixture
) -> None:
    manifest = harness.manifest("tasks:\n  - {prompt: start, repeat: 3}\n")
    harness.out.mkdir()
    disk.root, disk.full = str(harness.out.resolve()), True

    assert await harness.run(manifest) == 4

    assert harness.sim.state.submissions == []
    lines = errors(caplog)
    assert len(lines) == 1 and "No space left on device" in lines[0], lines

    disk.full = False
    assert await harness.run(manifest) == 0
    assert len(harness.sim.state.submissions) == 3
    assert harness.check_images_intact() == 3


async def test_ledger_full_after_planning_leaves_a_clean_ledger(
    harness: Harness, disk: FullDisk
) -> None:
    """The disk fills while submitting: what the ledger got of a line is cut off again."""
    manifest = harness.manifest("tasks:\n  - {prompt: ledger, repeat: 6}\n")
    harness.out.mkdir()
    disk.root = str((harness.out / "ledger.jsonl").resolve())
    harness.sim.state.listeners.append(
        lambda what, _: (
            setattr(disk, "full", True)
            if what == "submit" and len(harness.sim.state.submissions) >= 2
            else None
        )
    )

    assert await harness.run(manifest) == 4

    assert (harness.out / "ledger.jsonl").read_bytes().endswith(b"\n")
    assert read(harness.out / "ledger.jsonl").bad_lines == 0
    disk.full = False
    harness.sim.state.listeners.clear()
    assert await harness.run(manifest) == 0
    assert len(harness.sim.state.submissions) == 6
    assert harness.check_images_intact() == 6
