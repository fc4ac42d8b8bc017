"""`status` of a big run from its checkpoint's tally and the ledger's tail.

Reads the checkpoint's header (its `status` tally, rundir.tally), the ledger's
bytes after the checkpoint's offset, and of the checkpoint's records only those
the tail names. Returns None whenever the counters alone cannot give the same
answer as a full replay (no usable checkpoint, no tally in it, chained tasks,
too many failures, the latest run's start not after every counted time): the
caller then replays the whole ledger as before.
"""

from __future__ import annotations

import logging
from pathlib import Path

import orjson

from runner.gcpause import paused
from runner.rundir import checkpoint
from runner.rundir.replay import Replay, replay_lines
from runner.rundir.tally import Tally, rates_since
from runner.taskrecord import TaskRecord

log = logging.getLogger("runner.ledger")


def read(path: Path) -> tuple[Replay, Tally] | None:
    header = checkpoint.usable(path)
    if header is None:
        return None
    tally = Tally.from_json(header.get("status"))
    if tally is None or tally.partial():
        return None
    try:
        with paused():
            return _fold_tail(path, header, tally)
    except (OSError, ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
        log.warning("%s: checkpoint unreadable (%s); replaying the whole ledger", path, exc)
        return None


def _tail_keys(lines: list[bytes]) -> set[str]:
    keys: set[str] = set()
    for line in lines:
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue  # replay skips it too
        if isinstance(event, dict) and isinstance(event.get("key"), str):
            keys.add(event["key"])
    return keys


def _fold_tail(path: Path, header: dict[str, object], tally: Tally) -> tuple[Replay, Tally] | None:
    offset = header["offset"]
    assert isinstance(offset, int)
    with path.open("rb") as fh:
        fh.seek(offset)
        lines = fh.readlines()  # split at \n only, as a replay of the file does
    found = checkpoint.find_records(path, header, _tail_keys(lines))
    old: dict[str, TaskRecord] = {}
    for key, (pos, rec) in sorted(found.items(), key=lambda kv: kv[1][0]):
        tally.add(rec, pos, -1)  # as of the checkpoint; folded again below
        old[key] = rec
    start = checkpoint.load_head(header)
    start.records = dict(old)
    replay = replay_lines(lines, f"{path} (after its checkpoint)", start)
    since = rates_since(replay.runs, replay.first_t)
    if since != tally.since:
        if since is None or tally.since is None or since <= tally.max_t:
            return None  # a record the tail did not touch may count: replay it all
        # A run started after every time the checkpoint counted: only the
        # tail's tasks count towards its rates.
        tally.since, tally.submitted_since, tally.finished_since = since, 0, 0
    tasks = header["tasks"]
    assert isinstance(tasks, int)
    for key, rec in replay.records.items():
        was = found.get(key)
        if was is not None and was[1] is rec:
            tally.add(rec, was[0])
        else:  # new, or dropped and planned again: after every checkpointed record
            tally.add(rec, tasks)
            tasks += 1
    return None if tally.partial() else (replay, tally)
