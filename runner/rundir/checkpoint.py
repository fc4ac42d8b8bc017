"""Ledger checkpoints: an atomic snapshot of the replayed state, plus the tail since.

A 1,000,000-task ledger holds some five million events; replaying them all
takes half a minute. A checkpoint is the state those events fold into, written
to `ledger.checkpoint` (temporary file, fsync, rename, fsync of the folder), with
the ledger offset it covers. A reader loads it and replays only the ledger's
bytes after that offset. The ledger stays the only source of truth: a
checkpoint that does not match the ledger's bytes at its offset (ledger cut,
replaced or edited), was written by another version of the record types, or
cannot be read, is ignored, and the whole ledger is replayed as before. Old
run directories without one replay as they always did.

Layout: a header line (format, schema, offset, anchor digests, the Replay's
fields other than its records, the request templates), then one line per task
record (`checkpointrows`: how a record is a line, and back).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Protocol

import anyio
import orjson

from runner.records import Request
from runner.rundir.checkpointrows import (
    DECODERS,
    decode_record,
    encode_record,
    encode_value,
    files_of,
    template_json,
    templates_of,
)
from runner.rundir.files import commit_file
from runner.rundir.parking import Shelf, parkable
from runner.rundir.replay import FORMAT_VERSION, Replay
from runner.rundir.tally import Tally, rates_since
from runner.taskrecord import TaskRecord, record_fields

log = logging.getLogger("runner.ledger")
CHECKPOINT_NAME = "ledger.checkpoint"
CHECKPOINT_VERSION = 3  # 2: a request is a prompt and a form; 3: a file and a line
ANCHOR_BYTES = 4096

_NOT_HELD = ("records", "checkpoint_events", "shelf")  # not in the header
_REPLAY_FIELDS = [f for f in dataclasses.fields(Replay) if f.name not in _NOT_HELD]


def schema() -> str:
    """Changes whenever the shape of what a checkpoint holds changes."""
    names = ["spec", *(f.name for f in record_fields())]
    names += ["|", *(f.name for f in dataclasses.fields(Replay) if f.name != "shelf")]
    names += ["|", *Request("x").to_json(), "|", str(FORMAT_VERSION)]
    return hashlib.sha256(",".join(names).encode()).hexdigest()[:16]


def anchor(fh: IO[bytes], offset: int) -> tuple[str, str]:
    """Digests of the ledger's first bytes and of the bytes just before `offset`."""
    fh.seek(0)
    head = hashlib.sha256(fh.read(min(offset, ANCHOR_BYTES))).hexdigest()
    start = max(0, offset - ANCHOR_BYTES)
    fh.seek(start)
    tail = hashlib.sha256(fh.read(offset - start)).hexdigest()
    return head, tail


def write(run_dir: Path, replay: Replay, offset: int) -> Path:
    """Snapshot `replay`, the fold of the ledger's first `offset` bytes.

    With a shelf (a run's replay, rundir.parking), parked records' lines are
    copied from the checkpoint that holds them (the header's lists keep their
    indexes), and this checkpoint parks its done tasks once it is on disk.
    """
    ledger_path = run_dir / "ledger.jsonl"
    with ledger_path.open("rb") as fh:
        head, tail = anchor(fh, offset)
    shelf = replay.shelf if replay.shelf is not None and replay.shelf.usable else None
    records = replay.records
    since = rates_since(replay.runs, replay.first_t)
    templates = {t: i for i, t in enumerate(shelf.templates)} if shelf else {}
    files = {f: i for i, f in enumerate(shelf.files)} if shelf else {}
    tally = shelf.tally_since(since, records.values()) if shelf else Tally(since)
    for pos, rec in enumerate(records.values()):
        if not rec.parked:
            templates.setdefault(rec.spec.request.form, len(templates))
            files.setdefault(rec.spec.file, len(files))
            tally.add(rec, pos)
    header: dict[str, Any] = {
        "checkpoint": CHECKPOINT_VERSION,
        "schema": schema(),
        "offset": offset,
        "head": head,
        "anchor": tail,
        "tasks": len(records),
        "replay": {f.name: getattr(replay, f.name) for f in _REPLAY_FIELDS},
        "status": tally.to_json(),  # what status prints, so it need not load the records
        "templates": [template_json(t) for t in templates],
        "files": list(files),
    }
    temp = run_dir / f".{CHECKPOINT_NAME}.tmp"
    parked = array("q")  # where each record's line starts, if it is to be parked; else -1
    with temp.open("wb") as out:
        at = out.write(orjson.dumps(header, default=encode_value) + b"\n")
        chunk = bytearray()
        for rec in records.values():
            if shelf is not None and rec.parked:
                line = shelf.line(rec.detail)  # type: ignore[arg-type]  # parked: an int
            else:
                line = encode_record(rec, templates, files)
            parked.append(at if shelf is not None and (rec.parked or parkable(rec)) else -1)
            chunk += line
            chunk += b"\n"
            at += len(line) + 1
            if len(chunk) >= 1 << 20:
                out.write(chunk)
                chunk.clear()
        out.write(chunk)
    final = run_dir / CHECKPOINT_NAME
    commit_file(temp, final)
    if shelf is not None:
        shelf.hold(final.open("rb"), list(templates), list(files))
        for rec, at in zip(records.values(), parked, strict=True):
            if at >= 0:
                shelf.park(rec, at)
    return final


def read_header(path: Path) -> dict[str, Any] | None:
    try:
        with path.open("rb") as fh:
            header = orjson.loads(fh.readline())
    except (OSError, orjson.JSONDecodeError):
        return None
    return header if isinstance(header, dict) else None


def usable(ledger_path: Path) -> dict[str, Any] | None:
    """The checkpoint's header when it matches this ledger, else None (replay it all)."""
    path = ledger_path.parent / CHECKPOINT_NAME
    if not path.exists():
        return None
    header = read_header(path)
    if (
        header is None
        or header.get("checkpoint") != CHECKPOINT_VERSION
        or header.get("schema") != schema()
        or not isinstance(header.get("offset"), int)
    ):
        log.info("%s: not usable by this version; replaying the whole ledger", path)
        return None
    offset: int = header["offset"]
    try:
        with ledger_path.open("rb") as fh:
            if os.fstat(fh.fileno()).st_size < offset:
                raise ValueError("ledger shorter than the checkpoint")
            if anchor(fh, offset) != (header.get("head"), header.get("anchor")):
                raise ValueError("ledger bytes differ")
    except (OSError, ValueError) as exc:
        log.warning("%s does not match the ledger (%s); replaying the whole ledger", path, exc)
        return None
    return header


def record_lines(ledger_path: Path, header: dict[str, Any] | None = None) -> Iterator[bytes]:
    """The record lines of the checkpoint whose header is `header`: a run may have
    replaced the file since that header was read (then ValueError)."""
    with (ledger_path.parent / CHECKPOINT_NAME).open("rb") as fh:
        if orjson.loads(fh.readline()) != header and header is not None:
            raise ValueError("the checkpoint was replaced meanwhile")
        yield from fh


def load_head(header: dict[str, Any]) -> Replay:
    """The Replay the checkpoint's header holds: everything but the records."""
    replay = Replay()
    for f in _REPLAY_FIELDS:
        if f.name in header["replay"]:
            value = header["replay"][f.name]
            decode = DECODERS.get(f.name)
            setattr(replay, f.name, decode(value) if decode else value)
    replay.checkpoint_events = replay.events
    return replay


def find_records(
    ledger_path: Path, header: dict[str, Any], keys: set[str]
) -> dict[str, tuple[int, TaskRecord]]:
    """The checkpoint's records of `keys` (key -> position, record), decoding no other."""
    found: dict[str, tuple[int, TaskRecord]] = {}
    if not keys:
        return found
    templates, files = templates_of(header), files_of(header)
    for pos, line in enumerate(record_lines(ledger_path, header)):
        # each line starts with ["<key>" or {"k":"<key>" (encode_record); a key
        # needing escapes is not found this way, so it is decoded and compared
        start = 2 if line.startswith(b'["') else 6 if line.startswith(b'{"k":"') else 0
        end = line.find(b'"', start) if start else -1
        plain = end > start and b"\\" not in line[start:end]
        key = line[start:end].decode() if plain else None
        if key is None:
            rec = decode_record(line, templates, files)
            if rec.key in keys:
                found[rec.key] = (pos, rec)
        elif key in keys:
            found[key] = (pos, decode_record(line, templates, files))
            if len(found) == len(keys):
                break
    return found


def load(ledger_path: Path, header: dict[str, Any], shelf: Shelf | None = None) -> Replay:
    """The Replay the checkpoint holds (without the tail after its offset); with a
    usable shelf, its done tasks' details stay parked in the file. If anything is
    wrong, the shelf is left holding nothing (the caller replays the whole ledger)."""
    replay = load_head(header)
    records = replay.records
    templates, files = templates_of(header), files_of(header)
    parking = shelf if shelf is not None and shelf.usable else None
    fh, held = (ledger_path.parent / CHECKPOINT_NAME).open("rb"), False
    try:
        if orjson.loads(fh.readline()) != header:
            raise ValueError("the checkpoint was replaced meanwhile")
        if parking is not None:
            parking.tally = Tally(rates_since(replay.runs, replay.first_t))
            parking.hold(fh, templates, files)  # the shelf holds the file from here on
            held = True
        at = fh.tell()
        for line in fh:
            rec = decode_record(line, templates, files)
            records[rec.spec.key] = rec
            if parking is not None and parkable(rec):  # one at a time: no million details
                parking.park(rec, at)
            at += len(line)
        if len(records) != header.get("tasks"):
            raise ValueError(f"checkpoint holds {len(records)} of {header.get('tasks')} tasks")
    except BaseException:
        if parking is not None:
            parking.clear()  # closes the file if it held it
        raise
    finally:
        if not held:
            fh.close()
    replay.shelf = parking
    return replay


class Checkpointed(Protocol):
    """What checkpointing needs of the ledger (rundir.ledger.Ledger, which imports us)."""

    state: Replay
    checkpointed_events: int  # state.events at the last checkpoint

    def checkpoint(self) -> None: ...


def due(ledger: Checkpointed, every_events: int) -> bool:
    """Enough events since the last checkpoint that replaying them starts to cost."""
    return bool(ledger.state.events - ledger.checkpointed_events >= every_events)


async def keep(ledger: Checkpointed, every_events: int, interval_s: float = 15.0) -> None:
    """While a run goes: checkpoint each time `every_events` more have been written.

    Written from the event loop between two ledger writes, so the snapshot and
    its offset agree; a 1,000,000-task snapshot holds the loop a few seconds.
    """
    while True:
        await anyio.sleep(interval_s)
        if due(ledger, every_events):
            ledger.checkpoint()
