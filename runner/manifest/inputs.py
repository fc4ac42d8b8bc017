"""Everything a manifest's expansion reads, as one digest, and the run's name.

Expanding a million prompts takes seconds and half a gigabyte; re-running the
same manifest need not do it again, since the ledger already holds every task
it expanded to. The digest covers what decides the tasks: the manifest's bytes
and where it lies (relative paths start there), its prompts file's bytes, the
limits it was checked against, and the code that expands it (the modules of
this package, the model table). Local reference files are checked apart, by
their own digests (`rundir.manifestmark`), since keys hash their contents.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

import yaml

from runner import records
from runner.errors import FieldProblem
from runner.filetypes import sha256_file
from runner.manifest.fields import check_name
from runner.manifest.limits import Limits

_PACKAGE = Path(records.__file__).parent
# The digest reads the manifest's YAML once more: cheap for a manifest that names a
# prompts file (the million-task case), not for 100,000 tasks written inline (PyYAML
# takes seconds a megabyte), which are expanded as they always were.
MAX_QUICK_BYTES = 256 * 1024
# libyaml's safe loader when PyYAML has it (as manifest.yamlpos uses): 0.04 s where the
# pure-Python one takes 0.26 s for 2,000 tasks inline, all of it before the first submit.
_LOADER = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader


@dataclass(frozen=True, slots=True)
class Inputs:
    name: str  # the run's name, as reading the manifest would give it
    digest: str


@functools.cache
def code_digest() -> str:
    """The expansion's own code and data: a change to either may change the tasks."""
    h = hashlib.sha256()
    paths = sorted((_PACKAGE / "manifest").glob("*.py"))
    paths += [_PACKAGE / n for n in ("records.py", "request.py", "modeltable.py", "models.json")]
    for path in paths:
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def read(path: Path, limits: Limits) -> Inputs | None:
    """The manifest's name and inputs digest; None when anything is off (the full
    read then reports it), or when the manifest is too big to read twice."""
    try:
        data = path.read_bytes()
        if len(data) > MAX_QUICK_BYTES:
            return None
        top = yaml.load(data, Loader=_LOADER)
        if not isinstance(top, dict):
            return None
        name = check_name(top["name"]) if "name" in top else path.stem
        h = hashlib.sha256()
        h.update(f"{code_digest()}\0{path.resolve()}\0{limits!r}\0".encode())
        h.update(hashlib.sha256(data).digest())
        prompts = top.get("prompts_file")
        if prompts is not None:
            if not isinstance(prompts, str):
                return None
            h.update(b"\0" + sha256_file(path.parent / prompts)[0].encode())
    except (OSError, yaml.YAMLError, FieldProblem, UnicodeDecodeError):
        return None
    return Inputs(name, h.hexdigest())
