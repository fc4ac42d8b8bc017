"""Output file names and crash-safe writes.

Names come from the manifest (a spreadsheet someone else filled in), so they
are reduced to a slug (`runner.names`), and made unique by the task key:
nothing can climb out of `images/`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from runner.errors import DISK_ERRNOS, DiskWriteError
from runner.filetypes import file_kind, image_kind, sha256_file, video_kind
from runner.names import default_run_dir, display_name, slug
from runner.records import TaskSpec

__all__ = [
    "default_run_dir",
    "file_kind",
    "image_kind",
    "sha256_file",
    "slug",
    "video_kind",
]  # re-exported for callers of files


def output_dir(kind: str) -> str:
    """Where a task's files go in the run directory: images/ or videos/."""
    return "videos" if kind == "video" else "images"


def image_name(spec: TaskSpec, index: int, ext: str, attempt: int = 1) -> str:
    """A later attempt's files get their own names: the earlier ones are kept."""
    base = display_name(spec)
    again = f"a{attempt}." if attempt > 1 else ""
    return f"{base}.{spec.key}.{again}{index + 1}.{ext}"


@contextmanager
def writing(path: Path) -> Iterator[None]:
    """Turn a full, read-only or failing disk under `path` into DiskWriteError."""
    try:
        yield
    except OSError as exc:
        if exc.errno in DISK_ERRNOS:
            raise DiskWriteError(str(path), exc) from exc
        raise


class PartFile:
    """A temporary file written with os.write, so every byte goes through one call."""

    def __init__(self, path: Path):
        self.path = path
        with writing(path):
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        with writing(self.path):
            while view:
                view = view[os.write(self._fd, view) :]

    def truncate(self) -> None:
        """Back to empty, to be written from the start again."""
        with writing(self.path):
            os.ftruncate(self._fd, 0)
            os.lseek(self._fd, 0, os.SEEK_SET)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> PartFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def fsync_path(path: Path) -> None:
    """fsync a file, or a directory (so a rename or a new file in it lasts), by its path."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def commit_file(temp: Path, final: Path) -> None:
    """fsync the data, rename into place, fsync the directory: on disk for good."""
    with writing(final):
        fsync_path(temp)
        os.replace(temp, final)
        fsync_path(final.parent)


def clean_partials(images_dir: Path) -> int:
    """Remove temporary files a crash left behind."""
    removed = 0
    if images_dir.exists():
        for part in images_dir.glob(".*.part"):
            part.unlink(missing_ok=True)
            removed += 1
    return removed
