"""The ledger: replay, torn last lines, garbage, versions."""

from __future__ import annotations

import logging
from pathlib import Path

import orjson
import pytest

from runner.errors import LedgerVersionError
from runner.records import Request, TaskState
from runner.rundir.ledger import Ledger, read

REQ = Request("p", number_of_images=2).to_json()


def events(path: Path, *evs: dict) -> None:
    with path.open("ab") as fh:
        for ev in evs:
            fh.write(orjson.dumps({"t": 1.0, **ev}) + b"\n")


def test_replay_walks_a_task_through_its_life(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    events(
        path,
        {"e": "planned", "key": "k", "name": "n", "req": REQ},
        {"e": "intent", "key": "k", "attempt": 1},
    )
    assert read(path).records["k"].state is TaskState.IN_DOUBT
    events(path, {"e": "submitted", "key": "k", "uid": "u1"})
    assert read(path).records["k"].state is TaskState.SUBMITTED
    events(
        path,
        {
            "e": "finished",
            "key": "k",
            "uid": "u1",
            "status": "Success",
            "urls": ["http://a/0", "http://a/1"],
        },
        {"e": "downloaded", "key": "k", "i": 0, "path": "images/a", "sha256": "x", "size": 1},
    )
    assert read(path).records["k"].state is TaskState.SUCCEEDED
    events(
        path, {"e": "downloaded", "key": "k", "i": 1, "path": "images/b", "sha256": "y", "size": 1}
    )
    rec = read(path).records["k"]
    assert rec.state is TaskState.DONE and rec.unique_id == "u1" and len(rec.files) == 2


def test_torn_last_line_is_cut_and_garbage_skipped_with_line_number(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "ledger.jsonl"
    events(path, {"e": "planned", "key": "k", "name": "", "req": REQ})
    with path.open("ab") as fh:
        fh.write(b"this is not json\n")
    events(path, {"e": "intent", "key": "k"})
    with path.open("ab") as fh:
        fh.write(b'{"e": "submitted", "key": "k", "ui')  # a crash mid-write
    caplog.set_level(logging.WARNING)

    ledger = Ledger(path)
    replay = ledger.open()
    assert replay.records["k"].state is TaskState.IN_DOUBT
    ledger.write({"e": "not_sent", "key": "k"}, durable=True)
    ledger.close()

    assert replay.records["k"].state is TaskState.PLANNED  # the ledger folds what it writes
    assert replay.bad_lines == 1
    assert "line 2" in caplog.text and "torn" in caplog.text
    assert read(path).records["k"].state is TaskState.PLANNED  # the new event landed cleanly
    assert path.read_bytes().endswith(b"\n")


def test_new_ledger_has_a_version_header_and_newer_versions_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    Ledger(path).open()
    assert orjson.loads(path.read_bytes().splitlines()[0])["v"] == 1
    events(path, {"e": "header", "v": 99})
    with pytest.raises(LedgerVersionError, match="newer"):
        read(path)
