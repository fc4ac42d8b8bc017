"""`status` from a checkpoint's tally and the ledger's tail equals `status` from a full replay."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.commands.status import status_data, status_text
from runner.rundir import checkpoint, statusread
from runner.rundir.ledger import read

from .test_checkpoint import EVENT, KEYS, _lines, _req

_key = st.sampled_from(KEYS)
MORE = st.one_of(
    EVENT,
    st.builds(
        lambda k, a: {"e": "intent", "key": k, "attempt": 1, "acct": a},
        _key,
        st.sampled_from(["studio-a", "studio-b"]),
    ),
    st.builds(
        lambda k, d: {"e": "decision", "key": k, "attempt": 1, "d": d},
        _key,
        st.sampled_from(["keep", "reject", None]),
    ),
)


def _both(run_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """status as it reads a run directory, and status with its checkpoint taken away."""
    quick = status_data(run_dir)
    bare = Path(tempfile.mkdtemp(dir=run_dir.parent))
    shutil.copy(run_dir / "ledger.jsonl", bare / "ledger.jsonl")
    whole = status_data(bare)
    quick["run_dir"] = whole["run_dir"] = "x"
    return quick, whole


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    events=st.lists(MORE, max_size=40),
    times=st.lists(st.floats(1.0, 2e9), min_size=40, max_size=40),
    in_order=st.booleans(),
    cut=st.integers(0, 40),
    torn=st.binary(max_size=20).filter(lambda b: b"\n" not in b),
)
def test_status_from_checkpoint_and_tail_equals_status_from_a_full_replay(
    tmp_path: Path,
    events: list[dict[str, Any]],
    times: list[float],
    in_order: bool,
    cut: int,
    torn: bytes,
) -> None:
    run_dir = Path(tempfile.mkdtemp(dir=tmp_path))
    path = run_dir / "ledger.jsonl"
    times = sorted(times) if in_order else times
    head = b'{"e":"header","v":1,"t":1.0}\n' + _lines(events[:cut], times[:cut])
    path.write_bytes(head)
    checkpoint.write(run_dir, read(path), len(head))
    with path.open("ab") as fh:
        fh.write(_lines(events[cut:], times[cut:]) + torn)  # a run may be mid-line

    quick, whole = _both(run_dir)
    assert quick == whole
    assert status_text(quick) == status_text(whole)


def test_status_of_a_big_run_reads_only_the_tail_and_the_records_it_names(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    planned = [
        {"e": "planned", "key": f"t{i}", "name": "", "req": _req(1, f"p{i}"), "src": "f:1"}
        for i in range(100)
    ]
    failed = [{"e": "failed", "key": "t5", "error": "bad"}]
    head = _lines([{"e": "header", "v": 1}, *planned, *failed], [1.0 + i for i in range(102)])
    path.write_bytes(head)
    checkpoint.write(tmp_path, read(path), len(head))
    tail = [
        {"e": "run", "what": "start", "pid": 7},
        {"e": "intent", "key": "t1", "attempt": 1, "acct": "studio-a"},
        {"e": "submitted", "key": "t1", "uid": "u1"},
        {"e": "finished", "key": "t1", "uid": "u1", "status": "Error", "err": "nsfw"},
        {"e": "dropped", "key": "t7"},
        {"e": "planned", "key": "t7", "name": "", "req": _req(2, "again"), "src": "f:8"},
        {"e": "failed", "key": "t7", "error": "late"},
    ]
    with path.open("ab") as fh:
        fh.write(_lines(tail, [200.0 + i for i in range(len(tail))]))

    assert statusread.read(path) is not None  # the quick way was taken
    quick, whole = _both(tmp_path)
    assert quick == whole
    assert [f["key"] for f in quick["failures"]] == ["t1", "t5", "t7"]
    assert quick["accounts"] == {
        "studio-a": {"tasks": 1, "succeeded": 0, "failed": 1, "pending": 0}
    }
    assert quick["states"]["planned"] == 97
