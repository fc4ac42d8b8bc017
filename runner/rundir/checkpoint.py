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
record: its key first, its prompt, the index of its request's template (the
request less its prompt: a million prompts-file tasks share one). A record at
its defaults but for its spec is a JSON array; any other an object. Record fields
are written by name and only when not at their default, so a field added to
`TaskRecord` later is carried along; `DECODERS` turns the JSON back into the
field's type where JSON alone would not (tests check every field is covered).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, Protocol

import anyio
import orjson

from runner.records import Attempt, ImageFile, Request, TaskRecord, TaskSpec, TaskState
from runner.rundir.files import commit_file
from runner.rundir.replay import FORMAT_VERSION, Replay
from runner.rundir.tally import rates_since, tally_of

log = logging.getLogger("runner.ledger")
CHECKPOINT_NAME = "ledger.checkpoint"
CHECKPOINT_VERSION = 2  # 2: requests as a prompt and a template of the header's
ANCHOR_BYTES = 4096

_RECORD_FIELDS = [f for f in dataclasses.fields(TaskRecord) if f.name != "spec"]
_REPLAY_FIELDS = [
    f for f in dataclasses.fields(Replay) if f.name not in ("records", "checkpoint_events")
]


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


_RECORD_DEFAULTS = {f.name: _default(f) for f in _RECORD_FIELDS}


def _int_keys(value: dict[str, Any]) -> dict[int, Any]:
    return {int(k): v for k, v in value.items()}


# Field name -> JSON value back to the field's type (JSON-native fields need none).
DECODERS: dict[str, Callable[[Any], Any]] = {
    "state": TaskState,
    "files_": lambda v: {int(i): ImageFile(**f) for i, f in v.items()},
    "image_errors_": _int_keys,
    "uploads": lambda v: {k: tuple(x) for k, x in v.items()},
    "ref_names": lambda v: {k: tuple(x) for k, x in v.items()},
    "earlier_": lambda v: [
        Attempt(**{**a, "files": tuple(ImageFile(**f) for f in a["files"])}) for a in v
    ],
}


def schema() -> str:
    """Changes whenever the shape of what a checkpoint holds changes."""
    names = [f.name for f in dataclasses.fields(TaskRecord)]
    names += ["|", *(f.name for f in dataclasses.fields(Replay))]
    names += ["|", *Request("x").to_json(), "|", str(FORMAT_VERSION)]
    return hashlib.sha256(",".join(names).encode()).hexdigest()[:16]


def _encode_value(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    raise TypeError(f"cannot checkpoint {type(value).__name__}")


# A request less its prompt: a million tasks share a handful of these, so the
# header lists them once and each record names its own by index.
Template = tuple[tuple[str, ...], str, int, int, str, int | None, str | None, str]


def template_of(request: Request) -> Template:
    r = request
    return (
        r.ref_images,
        r.aspect_ratio,
        r.clarity,
        r.number_of_images,
        r.model_code,
        r.video_duration,
        r.quality_mode,
        r.extra,
    )


def _template_from_json(value: list[Any]) -> Template:
    refs, aspect, clarity, n, model, duration, quality, extra = value
    return (
        tuple(refs),
        sys.intern(aspect),
        clarity,
        n,
        sys.intern(model),
        duration,
        quality,
        extra,
    )


def encode_record(rec: TaskRecord, templates: dict[Template, int]) -> bytes:
    """A task at its defaults but for its spec (most of a big run's: planned, or
    done) is an array, [key, prompt, template, name, source]; any other an object."""
    spec = rec.spec
    changed = {
        name: value
        for name, default in _RECORD_DEFAULTS.items()
        if (value := getattr(rec, name)) != default
    }
    template = templates[template_of(spec.request)]
    if not changed:
        return orjson.dumps([spec.key, spec.request.prompt, template, spec.name, spec.source])
    row: dict[str, Any] = {"k": spec.key, "p": spec.request.prompt, "t": template}
    if spec.name:
        row["n"] = spec.name
    if spec.source:
        row["src"] = spec.source
    row.update(changed)
    return orjson.dumps(row, default=_encode_value, option=orjson.OPT_NON_STR_KEYS)


# A million records are loaded on each resume: a frozen dataclass's __init__ sets
# each field through object.__setattr__, a third of the load; these fill the slots
# directly. The names are checked against the classes, so a new field fails here.
_REQUEST_SLOTS: tuple[str, ...] = (
    *("prompt", "ref_images", "aspect_ratio", "clarity", "number_of_images"),
    *("model_code", "video_duration", "quality_mode", "extra"),
)
_SPEC_SLOTS = ("key", "name", "request", "source")
if (
    tuple(f.name for f in dataclasses.fields(Request)) != _REQUEST_SLOTS
    or tuple(f.name for f in dataclasses.fields(TaskSpec)) != _SPEC_SLOTS
):
    raise TypeError("Request or TaskSpec changed: update checkpoint._spec and template_of")
_r = [getattr(Request, n).__set__ for n in _REQUEST_SLOTS]
_s = [getattr(TaskSpec, n).__set__ for n in _SPEC_SLOTS]
_new = object.__new__


def _spec(key: str, prompt: str, t: Template, name: str, source: str) -> TaskSpec:
    """TaskSpec(key, name, Request(prompt, *t), source), made as fast as Python allows."""
    request = _new(Request)
    _r[0](request, prompt)
    _r[1](request, t[0])
    _r[2](request, t[1])
    _r[3](request, t[2])
    _r[4](request, t[3])
    _r[5](request, t[4])
    _r[6](request, t[5])
    _r[7](request, t[6])
    _r[8](request, t[7])
    spec = _new(TaskSpec)
    _s[0](spec, key)
    _s[1](spec, name)
    _s[2](spec, request)
    _s[3](spec, source)
    return spec


def decode_record(line: bytes, templates: list[Template]) -> TaskRecord:
    row = orjson.loads(line)
    if type(row) is list:
        key, prompt, template, name, source = row
        return TaskRecord(_spec(key, prompt, templates[template], name, source))
    request = Request(row.pop("p"), *templates[row.pop("t")])
    rec = TaskRecord(TaskSpec(row.pop("k"), row.pop("n", ""), request, row.pop("src", "")))
    for name, value in row.items():
        decode = DECODERS.get(name)
        setattr(rec, name, decode(value) if decode else value)
    return rec


def templates_of(header: dict[str, Any]) -> list[Template]:
    return [_template_from_json(t) for t in header["templates"]]


def anchor(fh: IO[bytes], offset: int) -> tuple[str, str]:
    """Digests of the ledger's first bytes and of the bytes just before `offset`."""
    fh.seek(0)
    head = hashlib.sha256(fh.read(min(offset, ANCHOR_BYTES))).hexdigest()
    start = max(0, offset - ANCHOR_BYTES)
    fh.seek(start)
    tail = hashlib.sha256(fh.read(offset - start)).hexdigest()
    return head, tail


def write(run_dir: Path, replay: Replay, offset: int) -> Path:
    """Snapshot `replay`, the fold of the ledger's first `offset` bytes."""
    ledger_path = run_dir / "ledger.jsonl"
    with ledger_path.open("rb") as fh:
        head, tail = anchor(fh, offset)
    templates: dict[Template, int] = {}
    for rec in replay.records.values():
        templates.setdefault(template_of(rec.spec.request), len(templates))
    header: dict[str, Any] = {
        "checkpoint": CHECKPOINT_VERSION,
        "schema": schema(),
        "offset": offset,
        "head": head,
        "anchor": tail,
        "tasks": len(replay.records),
        "replay": {f.name: getattr(replay, f.name) for f in _REPLAY_FIELDS},
        # what status prints, so it need not load the records (rundir.tally)
        "status": tally_of(
            replay.records.values(), rates_since(replay.runs, replay.first_t)
        ).to_json(),
        "templates": list(templates),
    }
    temp = run_dir / f".{CHECKPOINT_NAME}.tmp"
    with temp.open("wb") as out:
        out.write(orjson.dumps(header, default=_encode_value) + b"\n")
        chunk = bytearray()
        for rec in replay.records.values():
            chunk += encode_record(rec, templates)
            chunk += b"\n"
            if len(chunk) >= 1 << 20:
                out.write(chunk)
                chunk.clear()
        out.write(chunk)
    final = run_dir / CHECKPOINT_NAME
    commit_file(temp, final)
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
    templates = templates_of(header)
    for pos, line in enumerate(record_lines(ledger_path, header)):
        # each line starts with ["<key>" or {"k":"<key>" (encode_record); a key
        # needing escapes is not found this way, so it is decoded and compared
        start = 2 if line.startswith(b'["') else 6 if line.startswith(b'{"k":"') else 0
        end = line.find(b'"', start) if start else -1
        plain = end > start and b"\\" not in line[start:end]
        key = line[start:end].decode() if plain else None
        if key is None:
            rec = decode_record(line, templates)
            if rec.key in keys:
                found[rec.key] = (pos, rec)
        elif key in keys:
            found[key] = (pos, decode_record(line, templates))
            if len(found) == len(keys):
                break
    return found


def load(ledger_path: Path, header: dict[str, Any]) -> Replay:
    """The Replay the checkpoint holds (without the tail after its offset)."""
    replay = load_head(header)
    records = replay.records
    templates = templates_of(header)
    for line in record_lines(ledger_path, header):
        rec = decode_record(line, templates)
        records[rec.spec.key] = rec
    if len(records) != header.get("tasks"):
        raise ValueError(f"checkpoint holds {len(records)} of {header.get('tasks')} tasks")
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
