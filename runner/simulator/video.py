"""Real, playable MP4 videos for the simulator's CDN, built without ffmpeg.

The picture is H.264 from `h264.py` (every macroblock I_PCM, which any
decoder, Chromium's included, plays). The container is a plain MP4 (ftyp,
moov before mdat) and, to reach a size asked for, a trailing `free` box of
task-specific bytes that players skip.
Bytes are produced by offset (`read`), so a 500 MB video is served as a
stream, from any Range, without being held in memory.
"""

from __future__ import annotations

import functools
import hashlib
import struct
from dataclasses import dataclass

from runner.simulator import h264

# Whole macroblocks (16 px) in the proportions of each aspect ratio.
SIZES_MB = {"16:9": (16, 9), "9:16": (9, 16), "1:1": (9, 9), "4:3": (12, 9), "3:4": (9, 12)}
TIMESCALE = 1000
_PAD_BLOCK = 1 << 16


def _box(kind: bytes, *parts: bytes) -> bytes:
    data = b"".join(parts)
    return struct.pack(">I4s", 8 + len(data), kind) + data


def _full(kind: bytes, version: int, flags: int, *parts: bytes) -> bytes:
    return _box(kind, struct.pack(">I", version << 24 | flags), *parts)


_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)


def _moov(w: int, h: int, sps: bytes, pps: bytes, sizes: list[int], fps: int, at: int) -> bytes:
    count, delta = len(sizes), TIMESCALE // fps
    duration = count * delta
    avcc = _box(
        b"avcC",
        bytes([1, sps[1], sps[2], sps[3], 0xFF, 0xE1]),
        struct.pack(">H", len(sps)),
        sps,
        b"\x01",
        struct.pack(">H", len(pps)),
        pps,
    )
    avc1 = _box(
        b"avc1",
        b"\0" * 6,
        struct.pack(">H", 1),
        b"\0" * 16,
        struct.pack(">HHIIIH", w, h, 0x480000, 0x480000, 0, 1),
        b"\0" * 32,
        struct.pack(">Hh", 0x18, -1),
        avcc,
    )
    stbl = _box(
        b"stbl",
        _full(b"stsd", 0, 0, struct.pack(">I", 1), avc1),
        _full(b"stts", 0, 0, struct.pack(">III", 1, count, delta)),
        _full(b"stsc", 0, 0, struct.pack(">IIII", 1, 1, count, 1)),
        _full(b"stsz", 0, 0, struct.pack(">II", 0, count), struct.pack(f">{count}I", *sizes)),
        _full(b"stco", 0, 0, struct.pack(">II", 1, at)),
    )
    minf = _box(
        b"minf",
        _full(b"vmhd", 0, 1, b"\0" * 8),
        _box(b"dinf", _full(b"dref", 0, 0, struct.pack(">I", 1), _full(b"url ", 0, 1))),
        stbl,
    )
    mdia = _box(
        b"mdia",
        _full(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, TIMESCALE, duration, 0x55C4, 0)),
        _full(b"hdlr", 0, 0, struct.pack(">I4s", 0, b"vide"), b"\0" * 12, b"VideoHandler\0"),
        minf,
    )
    tkhd = _full(
        b"tkhd",
        0,
        3,  # enabled, in movie
        struct.pack(">IIIII", 0, 0, 1, 0, duration),
        b"\0" * 8,
        struct.pack(">hhhH", 0, 0, 0, 0),
        _MATRIX,
        struct.pack(">II", w << 16, h << 16),
    )
    mvhd = _full(
        b"mvhd",
        0,
        0,
        struct.pack(">IIIIIH", 0, 0, TIMESCALE, duration, 0x10000, 0x100),
        b"\0" * 10,
        _MATRIX,
        b"\0" * 24,
        struct.pack(">I", 2),
    )
    return _box(b"moov", mvhd, _box(b"trak", tkhd, mdia))


@dataclass(frozen=True, slots=True)
class Video:
    """A video as a virtual file: the encoded movie, then padding up to `size`."""

    head: bytes  # ftyp, moov, mdat and the free box's header
    size: int
    pad: bytes  # the padding repeats this block

    def read(self, start: int, end: int) -> bytes:
        """Bytes [start, end) of the file."""
        end = min(end, self.size)
        if start >= end:
            return b""
        out = bytearray()
        if start < len(self.head):
            out += self.head[start : min(end, len(self.head))]
            start = len(self.head)
        while start < end:
            at = (start - len(self.head)) % len(self.pad)
            piece = self.pad[at : at + (end - start)]
            out += piece
            start += len(piece)
        return bytes(out)


@functools.lru_cache(maxsize=8)
def make_video(seed: str, aspect_ratio: str, seconds: int, fps: int = 4, size: int = 0) -> Video:
    """The MP4 of a task: `seconds` long, at least `size` bytes (padded)."""
    digest = hashlib.sha256(seed.encode()).digest()
    width_mb, height_mb = SIZES_MB.get(aspect_ratio, SIZES_MB["16:9"])
    w, h = width_mb * 16, height_mb * 16
    frames = max(1, seconds * fps)
    sps, pps = h264.sps(width_mb, height_mb), h264.pps()
    samples = []
    for i in range(frames):
        picture = h264.scene(digest, w, h, i / max(1, frames - 1))
        nal = h264.idr_slice(picture, width_mb, height_mb, i % 2)
        samples.append(struct.pack(">I", len(nal)) + nal)
    ftyp = _box(b"ftyp", b"isom", struct.pack(">I", 0x200), b"isomiso2avc1mp41")
    sizes = [len(s) for s in samples]
    probe = _moov(w, h, sps, pps, sizes, fps, 0)  # its length does not depend on `at`
    moov = _moov(w, h, sps, pps, sizes, fps, len(ftyp) + len(probe) + 8)
    mdat = struct.pack(">I4s", 8 + sum(sizes), b"mdat") + b"".join(samples)
    movie = ftyp + moov + mdat
    if size <= len(movie) + 8:
        return Video(movie, len(movie), b"\0")
    free = struct.pack(">I4s", size - len(movie), b"free")
    pad = hashlib.shake_256(digest).digest(_PAD_BLOCK)
    return Video(movie + free, size, pad)
