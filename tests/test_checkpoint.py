"""Ledger checkpoints: replaying from one gives exactly what replaying everything gives."""

from __future__ import annotations

import dataclasses
import tempfile
import typing
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.records import Request, TaskSpec
from runner.rundir import checkpoint
from runner.rundir.ledger import Ledger, read
from runner.rundir.replay import Replay, replay_lines
from runner.rundir.tally import rates_since, tally_of
from runner.taskrecord import TaskDetail, TaskRecord, record_fields

from .conftest import Harness

KEYS = ("k1", "k2", "k3")


def _req(n: int, prompt: str) -> dict[str, Any]:
    return Request(prompt, number_of_images=n, aspect_ratio="9:16").to_json()


_key = st.sampled_from(KEYS)
_t = st.floats(min_value=1.0, max_value=2e9, allow_nan=False)
_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=8)
EVENT = st.one_of(
    st.builds(
        lambda k, n, p: {"e": "planned", "key": k, "name": p, "req": _req(n, p), "src": "f:1"},
        _key,
        st.integers(1, 2),
        _text,
    ),
    st.builds(lambda k, a: {"e": "intent", "key": k, "attempt": a}, _key, st.integers(1, 3)),
    st.builds(lambda k, w: {"e": "not_sent", "key": k, "why": w}, _key, _text),
    st.builds(
        lambda e, k, u: {"e": e, "key": k, "uid": u, "trace": "tr"},
        st.sampled_from(["submitted", "adopted"]),
        _key,
        _text,
    ),
    st.builds(lambda k: {"e": "not_created", "key": k}, _key),
    st.builds(lambda k, m: {"e": "rejected", "key": k, "code": 40000, "msg": m}, _key, _text),
    st.builds(
        lambda k, ok, urls: {
            "e": "finished",
            "key": k,
            "uid": "u",
            "status": "Success" if ok else "Error",
            "urls": urls,
            "err": "" if ok else "bad",
        },
        _key,
        st.booleans(),
        st.lists(_text, max_size=2),
    ),
    st.builds(
        lambda k, i, s: {
            "e": "downloaded",
            "key": k,
            "i": i,
            "path": f"images/{k}.{i}",
            "sha256": "ab" * 32,
            "size": s,
        },
        _key,
        st.integers(0, 1),
        st.integers(0, 10**9),
    ),
    st.builds(
        lambda k, i, e: {"e": "image_failed", "key": k, "i": i, "error": e},
        _key,
        st.integers(0, 1),
        _text,
    ),
    st.builds(lambda k, e: {"e": "failed", "key": k, "error": e}, _key, _text),
    st.builds(lambda k, a: {"e": "retry", "key": k, "attempt": a}, _key, st.integers(2, 4)),
    st.builds(lambda k: {"e": "dropped", "key": k}, _key),
    st.builds(lambda s, u: {"e": "uploaded", "sha256": s, "url": u}, _text, _text),
    st.builds(lambda w: {"e": "run", "what": w, "pid": 7}, st.sampled_from(["start", "end"])),
)


# A task run to the end in one go (planned, sent, generated, its image on disk):
# a done task, whose detail a run parks in the checkpoint (rundir.parking).
DONE_TASK = st.builds(
    lambda k, u: [
        {"e": "planned", "key": k, "name": "", "req": _req(1, "p"), "src": "f:1"},
        {"e": "intent", "key": k, "attempt": 1},
        {"e": "submitted", "key": k, "uid": u, "trace": "tr"},
        {"e": "finished", "key": k, "uid": u, "status": "Success", "urls": ["x"], "err": ""},
        {"e": "downloaded", "key": k, "i": 0, "path": f"images/{k}", "sha256": "ab", "size": 1},
    ],
    _key,
    _text,
)
DECISION = st.builds(
    lambda k, d, a: {"e": "decision", "key": k, "d": d, "attempt": a},
    _key,
    st.sampled_from(["keep", "reject", None]),
    st.integers(1, 2),
)
EVENTS = st.lists(st.one_of(EVENT.map(lambda e: [e]), DECISION.map(lambda e: [e]), DONE_TASK))


def _lines(events: list[dict[str, Any]], times: list[float]) -> bytes:
    return b"".join(
        orjson.dumps({**ev, "t": t}) + b"\n" for ev, t in zip(events, times, strict=False)
    )


def since_of(r: Replay) -> float | None:
    return rates_since(r.runs, r.first_t)


def _state(r: Replay) -> dict[str, Any]:
    fields = {f.name: getattr(r, f.name) for f in dataclasses.fields(Replay)}
    fields.pop("checkpoint_events")
    fields.pop("shelf")  # where parked details are read from, not what they are
    return fields


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    events=EVENTS.map(lambda runs: [e for run in runs for e in run][:40]),
    times=st.lists(_t, min_size=40, max_size=40),
    cut=st.integers(0, 40),
    torn=st.binary(max_size=20).filter(lambda b: b"\n" not in b),
)
def test_checkpoint_then_tail_replays_exactly_like_the_whole_ledger(
    tmp_path: Path, events: list[dict[str, Any]], times: list[float], cut: int, torn: bytes
) -> None:
    run_dir = Path(tempfile.mkdtemp(dir=tmp_path))
    path = run_dir / "ledger.jsonl"
    head = b'{"e":"header","v":1,"t":1.0}\n' + _lines(events[:cut], times[:cut])
    path.write_bytes(head)
    checkpoint.write(run_dir, read(path), len(head))
    with path.open("ab") as fh:
        fh.write(_lines(events[cut:], times[cut:]) + torn)  # a crash may tear the last line

    with path.open("rb") as fh:
        whole = replay_lines(fh, "whole")
    assert checkpoint.usable(path) is not None
    assert _state(read(path)) == _state(whole)

    opened = Ledger(path)  # the run's way: cut the torn line, then replay from the checkpoint
    state = opened.open()  # done tasks' details parked in the checkpoint (rundir.parking)
    assert _state(state) == _state(read(path))

    # A checkpoint of a state that holds parked records copies their lines and
    # counts them in its status tally; loaded again, it is the same state.
    opened.checkpoint()
    header = checkpoint.usable(path)
    assert header is not None
    # the same counts; max_t (the latest time counted) may stay above: parked tasks
    # unparked since are subtracted, and a bound is all status needs of it
    status, full = header["status"], tally_of(whole.records.values(), since_of(whole)).to_json()
    assert status["max_t"] >= full["max_t"]
    assert {**status, "max_t": 0} == {**full, "max_t": 0}
    again = Ledger(path)
    assert _state(again.open()) == _state(state) == _state(read(path))
    opened.close()
    again.close()


def test_a_checkpoint_that_does_not_match_its_ledger_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    planned = {"e": "planned", "key": "k1", "name": "", "req": _req(1, "p"), "t": 1.0}
    path.write_bytes(orjson.dumps(planned) + b"\n")
    checkpoint.write(tmp_path, read(path), path.stat().st_size)
    path.write_bytes(orjson.dumps({**planned, "key": "k2"}) + b"\n")  # a different ledger now

    assert checkpoint.usable(path) is None
    assert list(read(path).records) == ["k2"]


def test_every_record_field_survives_a_checkpoint() -> None:
    """A field added to TaskRecord must be JSON-native or have a decoder in checkpoint.py."""
    native = {str, int, float, bool, type(None)}
    hints = {**typing.get_type_hints(TaskDetail), **typing.get_type_hints(TaskRecord)}
    for f in record_fields():
        if f.name in checkpoint.DECODERS:
            continue
        hint = hints[f.name]
        parts = set(typing.get_args(hint)) or {hint}
        ok = all(p in native or typing.get_origin(p) in (list, dict) for p in parts)
        assert ok, f"TaskRecord.{f.name}: {hint} needs a decoder in runner/rundir/checkpoint.py"


async def test_a_run_checkpoints_and_its_resume_replays_from_it(harness: Harness) -> None:
    manifest = harness.manifest("tasks:\n  - {prompt: p, repeat: 12}\n")
    assert await harness.run(manifest, checkpoint_events=10) == 0
    ledger_path = harness.out / "ledger.jsonl"
    header = checkpoint.usable(ledger_path)
    assert header is not None and header["tasks"] == 12

    with ledger_path.open("rb") as fh:
        whole = _state(replay_lines(fh, "whole"))
    fast = _state(read(ledger_path))
    for name in whole:
        if name == "records":
            for key, rec in whole["records"].items():
                assert fast["records"][key] == rec
        assert fast[name] == whole[name], name
    assert await harness.run(manifest, checkpoint_events=10) == 0  # nothing left to do
    assert len(harness.sim.state.submissions) == 12


@given(st.text(max_size=30))
def test_a_task_gives_back_the_source_it_was_made_with(source: str) -> None:
    """A source is held as a shared file name and a line; it reads back unchanged."""
    spec = TaskSpec("k", "", Request("p"), source)
    assert spec.source == source
    again = TaskSpec("k", "", Request("p"), file=spec.file, line=spec.line)
    assert again == spec and again.source == source


def test_tasks_from_one_file_share_its_name() -> None:
    a = TaskSpec("a", "", Request("p"), "/data/prompts-" + "x" * 20 + ".txt:7")
    b = TaskSpec("b", "", Request("q"), "/data/prompts-" + "x" * 20 + ".txt:123456")
    assert (a.line, b.line) == (7, 123456) and a.file is b.file
