"""What a simulated task makes: its kind, its files, and each file's bytes.

The model table says which models make videos and which file type the
simulator serves for each (`sim_format`: the vendor documents none, so both
PNG and JPEG images are served, and MP4 videos).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Protocol

from runner import modeltable
from runner.simulator.config import SimConfig
from runner.simulator.images import render_png
from runner.simulator.jpeg import render_jpeg
from runner.simulator.video import make_video

EXTENSIONS = {"png": "png", "jpeg": "jpg", "mp4": "mp4"}
CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "mp4": "video/mp4"}


class Body(Protocol):
    """A file served by offset, so a large one is never held whole."""

    @property
    def size(self) -> int: ...

    def read(self, start: int, end: int) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Bytes:
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)

    def read(self, start: int, end: int) -> bytes:
        return self.data[start:end]


def file_format(body: dict[str, Any]) -> str:
    spec = modeltable.find(str(body.get("model_code")))
    return spec.sim_format if spec else "png"


def is_video(body: dict[str, Any]) -> bool:
    return file_format(body) == "mp4"


def task_type(body: dict[str, Any]) -> int:
    """The `type` the task list shows and filters on: 3 image, 4 video."""
    return 4 if is_video(body) else 3


def output_count(body: dict[str, Any]) -> int:
    return 1 if is_video(body) else int(body.get("number_of_images", 1))


def output_body(config: SimConfig, unique_id: str, body: dict[str, Any], index: int) -> Body:
    """The bytes of output `index` of a task: the same every time it is asked for."""
    seed, fmt = f"{unique_id}/{index}", file_format(body)
    aspect = str(body.get("aspect_ratio", "1:1"))
    if fmt == "mp4":
        seconds = int(body.get("video_duration") or 5)
        return make_video(seed, aspect, seconds, config.video_fps, config.video_bytes)
    long_side = config.image_long_side_px or int(body.get("clarity", 2048)) // 8
    render = render_jpeg if fmt == "jpeg" else render_png
    return Bytes(render(seed, aspect, long_side))


def sha256_of(body: Body, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    for start in range(0, body.size, chunk):
        digest.update(body.read(start, start + chunk))
    return digest.hexdigest()
