"""Local reference images: checked before anything is sent, named by content.

A path in `ref_images` becomes `local:<sha256>` in the request, so a task's
key depends on the image's bytes, not on where the file lies, and the same
picture used by many tasks is uploaded once. The upload stage swaps in the
uploaded URL when the task is submitted.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from runner.errors import LocalRefProblem
from runner.filetypes import image_kind

PREFIX = "local:"
EXTENSIONS = {".jpg": "jpg", ".jpeg": "jpg", ".png": "png", ".webp": "webp"}
MAX_BYTES = 10 * 1024 * 1024  # unpublished by the vendor; a generous bound for a reference


@dataclass(frozen=True, slots=True)
class LocalFile:
    sha256: str
    path: Path
    size: int

    @property
    def ref(self) -> str:
        return PREFIX + self.sha256


def is_local(ref: str) -> bool:
    return not ref.lower().startswith(("http://", "https://"))


def is_placeholder(ref: str) -> bool:
    return ref.startswith(PREFIX)


class LocalFiles:
    """Every local file a manifest names, checked and hashed once each."""

    def __init__(self, base: Path):
        self.base = base
        self.by_path: dict[Path, LocalFile] = {}
        self.by_sha: dict[str, LocalFile] = {}

    def add(self, ref: str) -> LocalFile:
        path = (self.base / ref).resolve()
        if path in self.by_path:
            return self.by_path[path]
        kind = EXTENSIONS.get(path.suffix.lower())
        if kind is None:
            raise LocalRefProblem(f"{ref!r}: not a .jpg, .jpeg, .png or .webp file")
        try:
            data = path.read_bytes() if path.is_file() else None
        except OSError as exc:
            raise LocalRefProblem(f"{ref!r}: cannot read ({exc.strerror})") from None
        if data is None:
            raise LocalRefProblem(f"{ref!r}: no such file (looked for {path})")
        if len(data) > MAX_BYTES:
            raise LocalRefProblem(f"{ref!r}: {len(data):,} bytes; the limit is {MAX_BYTES:,}")
        found = image_kind(data[:16])
        if found != kind:
            what = f"a {found} image" if found else "not an image"
            raise LocalRefProblem(f"{ref!r}: named .{path.suffix[1:]} but {what}")
        file = LocalFile(hashlib.sha256(data).hexdigest(), path, len(data))
        self.by_path[path] = file
        self.by_sha.setdefault(file.sha256, file)
        return file
