"""What a file is, from its first bytes, never from its name or URL: reference
images (manifest/localrefs) and downloaded outputs (pipeline/download) alike;
and its digest, read a megabyte at a time."""

from __future__ import annotations

import hashlib
from pathlib import Path

IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
)


def image_kind(head: bytes) -> str | None:
    for magic, ext in IMAGE_MAGIC:
        if head.startswith(magic):
            return ext
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


def video_kind(head: bytes) -> str | None:
    """mp4 (or mov) from an ISO media file's leading `ftyp` box; never from a URL."""
    if head[4:8] != b"ftyp":
        return None
    return "mov" if head[8:12] == b"qt  " else "mp4"


def file_kind(head: bytes, kind: str) -> str | None:
    """The file extension the bytes say, if they are what a task of `kind` makes."""
    return video_kind(head) if kind == "video" else image_kind(head)


def sha256_file(path: Path) -> tuple[str, int]:
    """The file's sha256 (hex) and size."""
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size
