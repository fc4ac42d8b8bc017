"""One task record as one line of a ledger checkpoint, and back.

A record is written by field name, and only the fields not at their default,
so a field added to `TaskRecord` later is carried along; `DECODERS` turns the
JSON back into the field's type where JSON alone would not (tests check every
field is covered). A request is its prompt plus the index of its template in
the checkpoint's header (the request less its prompt: a million prompts-file
tasks share one). A record at its defaults but for its spec (a planned task,
most of a big run) is a JSON array, [key, prompt, template, name, file, line];
any other a JSON object whose first key is `k`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import orjson

from runner.records import (
    Attempt,
    ImageFile,
    Request,
    RequestForm,
    TaskSpec,
    TaskState,
    interned,
    shared_file,
    split_source,
)
from runner.taskrecord import TaskDetail, TaskRecord, record_fields

_RECORD_FIELDS = record_fields()
_DETAIL_FIELDS = frozenset(f.name for f in dataclasses.fields(TaskDetail))


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


_RECORD_DEFAULTS = {f.name: _default(f) for f in _RECORD_FIELDS}
# The record's own fields and its detail's, each read from where it lives.
_OWN_DEFAULTS = {k: v for k, v in _RECORD_DEFAULTS.items() if k not in _DETAIL_FIELDS}
_DETAIL_DEFAULTS = {k: v for k, v in _RECORD_DEFAULTS.items() if k in _DETAIL_FIELDS}


def _int_keys(value: dict[str, Any]) -> dict[int, Any]:
    return {int(k): v for k, v in value.items()}


# Field name -> JSON value back to the field's type (JSON-native fields need none).
DECODERS: dict[str, Callable[[Any], Any]] = {
    "state": TaskState,
    "files_": lambda v: {
        int(i): ImageFile(f["path"], f["sha256"], f["size"]) for i, f in v.items()
    },
    "image_errors_": _int_keys,
    "uploads": lambda v: {k: tuple(x) for k, x in v.items()},
    "ref_names": lambda v: {k: tuple(x) for k, x in v.items()},
    "earlier_": lambda v: [
        Attempt(**{**a, "files": tuple(ImageFile(**f) for f in a["files"])}) for a in v
    ],
}


def encode_value(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    raise TypeError(f"cannot checkpoint {type(value).__name__}")


# A request less its prompt (its form): a million tasks share a handful, so the
# header lists them once (as JSON arrays) and each record names its own by index.
def template_json(form: RequestForm) -> list[Any]:
    return [getattr(form, f.name) for f in dataclasses.fields(RequestForm)]


def _template_from_json(value: list[Any]) -> RequestForm:
    refs, *rest = value
    return interned(RequestForm(tuple(refs), *rest))


def encode_record(
    rec: TaskRecord, templates: dict[RequestForm, int], files: dict[str, int]
) -> bytes:
    """A task at its defaults but for its spec (most of a big run's: planned, or
    done) is an array, [key, prompt, template, name, file, line] (template and
    file: indexes into the header's lists); any other an object."""
    spec, detail = rec.spec, rec.detail
    changed = {
        name: value
        for name, default in _OWN_DEFAULTS.items()
        if (value := getattr(rec, name)) != default
    }
    if detail is not None:
        changed.update(
            (name, value)
            for name, default in _DETAIL_DEFAULTS.items()
            if (value := getattr(detail, name)) != default
        )
    template = templates[spec.request.form]
    if not changed:
        row_ = [spec.key, spec.request.prompt, template, spec.name, files[spec.file], spec.line]
        return orjson.dumps(row_)
    row: dict[str, Any] = {"k": spec.key, "p": spec.request.prompt, "t": template}
    if spec.name:
        row["n"] = spec.name
    if spec.source:
        row["src"] = spec.source
    row.update(changed)
    return orjson.dumps(row, default=encode_value, option=orjson.OPT_NON_STR_KEYS)


# A million records are loaded on each resume: a frozen dataclass's __init__ sets
# each field through object.__setattr__, a third of the load; these fill the slots
# directly. The names are checked against the classes, so a new field fails here.
_SPEC_SLOTS = ("key", "name", "request", "file", "line")
if (
    tuple(f.name for f in dataclasses.fields(Request)) != ("prompt", "form")
    or tuple(f.name for f in dataclasses.fields(TaskSpec)) != _SPEC_SLOTS
):
    raise TypeError("Request or TaskSpec changed: update checkpointrows._spec")
_prompt, _form = (getattr(Request, n).__set__ for n in ("prompt", "form"))
_s = [getattr(TaskSpec, n).__set__ for n in _SPEC_SLOTS]
_new = object.__new__


def _spec(key: str, prompt: str, form: RequestForm, name: str, file: str, line: int) -> TaskSpec:
    """TaskSpec(key, name, Request(prompt, form=form), file=file, line=line), made as
    fast as can be (`file` is one of the header's, already shared)."""
    request = _new(Request)
    _prompt(request, prompt)
    _form(request, form)
    spec = _new(TaskSpec)
    _s[0](spec, key)
    _s[1](spec, name)
    _s[2](spec, request)
    _s[3](spec, file)
    _s[4](spec, line)
    return spec


def decode_record(line: bytes, templates: list[RequestForm], files: list[str]) -> TaskRecord:
    row = orjson.loads(line)
    if type(row) is list:
        key, prompt, template, name, file, at = row
        return TaskRecord(_spec(key, prompt, templates[template], name, files[file], at))
    # a task sent (most of a finished run's): read as fast, its detail field by field
    file, at = split_source(row.pop("src", ""))
    form, name = templates[row.pop("t")], row.pop("n", "")
    rec = TaskRecord(_spec(row.pop("k"), row.pop("p"), form, name, shared_file(file), at))
    detail = None
    for field, value in row.items():
        decode = DECODERS.get(field)
        if decode is not None:
            value = decode(value)
        if field in _DETAIL_FIELDS:
            if detail is None:
                detail = rec.detail = TaskDetail()
            setattr(detail, field, value)
        else:
            setattr(rec, field, value)
    return rec


def decode_detail(line: bytes) -> TaskDetail:
    """Only the detail of a record's line (a parked one's, read back)."""
    row = orjson.loads(line)
    detail = TaskDetail()
    if type(row) is dict:
        for name in _DETAIL_FIELDS.intersection(row):
            decode = DECODERS.get(name)
            setattr(detail, name, decode(row[name]) if decode else row[name])
    return detail


def templates_of(header: dict[str, Any]) -> list[RequestForm]:
    return [_template_from_json(t) for t in header["templates"]]


def files_of(header: dict[str, Any]) -> list[str]:
    """The files the tasks came from, each as the one string its tasks share."""
    return [shared_file(f) for f in header["files"]]
