"""Deterministic PNG pictures for the simulator's CDN.

Each task gets its own look (sky colours, sun position, horizon) derived from a
seed, with the proportions of the requested aspect ratio. Work is per row, not
per pixel, so a 512-pixel image costs well under a millisecond of Python.
"""

from __future__ import annotations

import hashlib
import struct
import zlib

ASPECT_RATIOS: dict[str, tuple[int, int]] = {
    "1:1": (1, 1),
    "3:4": (3, 4),
    "4:3": (4, 3),
    "9:16": (9, 16),
    "16:9": (16, 9),
}


def image_size(aspect_ratio: str, long_side_px: int) -> tuple[int, int]:
    """Width and height with the ratio's proportions and the given long side."""
    w_units, h_units = ASPECT_RATIOS.get(aspect_ratio, (1, 1))
    if w_units >= h_units:
        return long_side_px, max(1, round(long_side_px * h_units / w_units))
    return max(1, round(long_side_px * w_units / h_units)), long_side_px


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def _mix(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> bytes:
    return bytes(round(x + (y - x) * t) for x, y in zip(a, b, strict=True))


def render_png(seed: str, aspect_ratio: str, long_side_px: int = 256) -> bytes:
    """A landscape picture: gradient sky, a sun, a ground band, all from `seed`."""
    digest = hashlib.sha256(seed.encode()).digest()
    sky_top = (digest[0], digest[1], digest[2])
    sky_low = (digest[3], digest[4], digest[5])
    ground = (digest[6] // 2, digest[7] // 2, digest[8] // 2)
    sun = (255, 200 + digest[9] % 56, digest[10] % 128)
    width, height = image_size(aspect_ratio, long_side_px)
    horizon = int(height * (0.55 + (digest[11] / 255) * 0.3))
    cx = int(width * (0.15 + (digest[12] / 255) * 0.7))
    cy = int(horizon * (0.2 + (digest[13] / 255) * 0.6))
    radius = max(2, int(min(width, height) * (0.08 + (digest[14] / 255) * 0.12)))

    rows = []
    for y in range(height):
        if y >= horizon:
            shade = (y - horizon) / max(1, height - horizon)
            rows.append(b"\x00" + _mix(ground, (0, 0, 0), shade * 0.6) * width)
            continue
        sky = _mix(sky_top, sky_low, y / max(1, horizon))
        dy = y - cy
        if abs(dy) < radius:
            half = int((radius * radius - dy * dy) ** 0.5)
            x0, x1 = max(0, cx - half), min(width, cx + half)
            rows.append(b"\x00" + sky * x0 + bytes(sun) * (x1 - x0) + sky * (width - x1))
        else:
            rows.append(b"\x00" + sky * width)
    raw = b"".join(rows)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, 6))
        + _chunk(b"IEND", b"")
    )
