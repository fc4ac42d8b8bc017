"""Done tasks' details are parked in the checkpoint file (rundir.parking): a run's
memory does not grow as its tasks finish, and nothing it reports changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from runner.records import Request, TaskState, task_ref
from runner.report.summary import item_of
from runner.rundir import checkpoint
from runner.rundir.ledger import Ledger, read
from runner.rundir.replay import replay_lines

from .conftest import Harness


def _done(key: str, uid: str) -> list[dict[str, Any]]:
    req = Request(f"prompt {key}").to_json()
    return [
        {"e": "planned", "key": key, "name": key, "req": req, "src": "job.yaml:3"},
        {"e": "intent", "key": key, "attempt": 1},
        {"e": "submitted", "key": key, "uid": uid, "trace": f"trace-{key}"},
        {"e": "finished", "key": key, "uid": uid, "status": "Success", "urls": ["u"], "err": ""},
        {
            "e": "downloaded",
            "key": key,
            "i": 0,
            "path": f"images/{key}.png",
            "sha256": "ab",
            "size": 9,
        },
    ]


def _ledger(path: Path, events: list[dict[str, Any]]) -> None:
    lines = [{"e": "header", "v": 1}, *events]
    path.write_bytes(
        b"".join(orjson.dumps({**e, "t": 1.0 + n}) + b"\n" for n, e in enumerate(lines))
    )
    checkpoint.write(path.parent, read(path), path.stat().st_size)


def test_a_run_holds_no_detail_of_its_done_tasks_in_memory(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    _ledger(path, [e for n in range(50) for e in _done(f"k{n}", f"uid-{n}")])
    ledger = Ledger(path)
    state = ledger.open()
    try:
        assert all(r.state is TaskState.DONE for r in state.records.values())
        assert [r.key for r in state.records.values() if r.live_detail() is not None] == []
        # ... and reads them back as they were
        with path.open("rb") as fh:
            whole = replay_lines(fh, "whole")
        assert [item_of(r) for r in state.records.values()] == [
            item_of(r) for r in whole.records.values()
        ]
        assert state.records["k7"].files[0].path == "images/k7.png"
        ledger.checkpoint()  # the next checkpoint holds them now
        assert [r.key for r in state.records.values() if r.live_detail() is not None] == []
        assert state.records["k7"].files[0].path == "images/k7.png"
    finally:
        ledger.close()


def test_a_done_task_given_a_child_keeps_it_through_the_next_checkpoint(tmp_path: Path) -> None:
    """A parked record changes only its own field (has_children): it is written as changed."""
    path = tmp_path / "ledger.jsonl"
    _ledger(path, _done("parent", "uid-p"))
    ledger = Ledger(path)
    state = ledger.open()
    assert state.records["parent"].parked
    child = Request("a scene with her", ref_images=(task_ref("parent", 0),)).to_json()
    ledger.write({"e": "planned", "key": "child", "name": "", "req": child, "src": "job.yaml:9"})
    ledger.checkpoint()
    ledger.close()

    assert read(path).records["parent"].has_children
    with path.open("rb") as fh:
        assert replay_lines(fh, "whole").records == read(path).records


async def test_a_resumed_run_reports_its_parked_tasks_as_a_full_replay_does(
    harness: Harness,
) -> None:
    first = harness.manifest("tasks:\n  - {prompt: a lighthouse, repeat: 6}\n")
    assert await harness.run(first, checkpoint_events=5) == 0
    assert checkpoint.usable(harness.out / "ledger.jsonl") is not None  # the resume parks
    more = harness.manifest(
        "tasks:\n  - {prompt: a lighthouse, repeat: 6}\n  - {prompt: a canyon, repeat: 3}\n"
    )
    assert await harness.run(more, checkpoint_events=5) == 0

    summary = orjson.loads((harness.out / "summary.json").read_bytes())
    with (harness.out / "ledger.jsonl").open("rb") as fh:
        whole = replay_lines(fh, "whole")
    refs = summary["references"]
    assert summary["items"] == [item_of(r, refs, whole.records) for r in whole.records.values()]
    assert summary["tasks"]["succeeded"] == 9 and summary["images"]["downloaded"] == 9
    assert len(harness.sim.state.submissions) == 9


def test_a_checkpoint_that_fails_half_way_leaves_nothing_counted_as_parked(
    tmp_path: Path,
) -> None:
    """A checkpoint whose header claims more tasks than it holds is replayed instead;
    the tasks its load had parked must not stay counted in the next checkpoint."""
    path = tmp_path / "ledger.jsonl"
    _ledger(path, [e for n in range(5) for e in _done(f"k{n}", f"uid-{n}")])
    saved = tmp_path / checkpoint.CHECKPOINT_NAME
    head, rest = saved.read_bytes().split(b"\n", 1)
    saved.write_bytes(orjson.dumps({**orjson.loads(head), "tasks": 6}) + b"\n" + rest)

    ledger = Ledger(path)
    state = ledger.open()  # parks five, finds the count wrong, replays the whole ledger
    ledger.checkpoint()
    ledger.close()
    header = checkpoint.usable(path)
    assert header is not None
    assert header["status"]["states"] == {"done": 5} and header["status"]["tasks"] == 5
    assert len(state.records) == 5
