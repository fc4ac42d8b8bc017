"""Baseline JPEG pictures for the simulator's CDN, without an imaging library.

Some models' outputs come as JPEG (the vendor documents no format), so the
runner must take both. Each 8x8 block is one flat colour: only its DC
coefficient is coded (every AC run ends at once), which keeps the encoder to
a Huffman table of 12 codes and an end-of-block code, and any decoder reads
the file. The picture is the same kind of landscape as the PNGs.
"""

from __future__ import annotations

import hashlib
import struct

from runner.simulator.images import image_size

# DC difference categories 0..11, every code 4 bits long: 0000, 0001, ... 1011.
_DC_BITS = bytes([0, 0, 0, 12] + [0] * 12)
_DC_VALUES = bytes(range(12))
# AC: only end-of-block (run 0, size 0), coded as the single bit 0.
_AC_BITS = bytes([1] + [0] * 15)
_AC_VALUES = bytes([0])


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">HH", 0xFF00 | marker, len(payload) + 2) + payload


class _Entropy:
    def __init__(self) -> None:
        self.out = bytearray()
        self.acc = 0
        self.n = 0

    def put(self, bits: int, value: int) -> None:
        for i in range(bits - 1, -1, -1):
            self.acc = (self.acc << 1) | ((value >> i) & 1)
            self.n += 1
            if self.n == 8:
                self.out.append(self.acc)
                if self.acc == 0xFF:
                    self.out.append(0)  # byte stuffing
                self.acc = self.n = 0

    def block(self, diff: int) -> None:
        size = abs(diff).bit_length()
        self.put(4, size)  # the DC table's code for this category is the category itself
        if size:
            self.put(size, diff if diff > 0 else diff - 1 + (1 << size))
        self.put(1, 0)  # end of block

    def flush(self) -> bytes:
        while self.n:
            self.put(1, 1)
        return bytes(self.out)


def _ycc(r: int, g: int, b: int) -> tuple[int, int, int]:
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b
    return round(y), round(cb), round(cr)


def render_jpeg(seed: str, aspect_ratio: str, long_side_px: int = 256) -> bytes:
    """A landscape (sky, sun, ground from `seed`) as a baseline JPEG."""
    digest = hashlib.sha256(seed.encode()).digest()
    width, height = image_size(aspect_ratio, long_side_px)
    bw, bh = -(-width // 8), -(-height // 8)
    sky_top, sky_low = digest[0:3], digest[3:6]
    ground = _ycc(digest[6] // 2, digest[7] // 2, digest[8] // 2)
    sun = _ycc(255, 200 + digest[9] % 56, digest[10] % 128)
    horizon = int(bh * (0.55 + (digest[11] / 255) * 0.3))
    cx, cy = int(bw * (0.15 + (digest[12] / 255) * 0.7)), int(horizon * 0.4)
    radius = max(1.5, min(bw, bh) * 0.15)
    out = _Entropy()
    previous = [0, 0, 0]
    for by in range(bh):
        f = by / max(1, horizon)
        mix = [round(a + (b - a) * f) for a, b in zip(sky_top, sky_low, strict=True)]
        sky = _ycc(mix[0], mix[1], mix[2])
        for bx in range(bw):
            if by >= horizon:
                colour = ground
            elif (bx - cx) ** 2 + (by - cy) ** 2 <= radius * radius:
                colour = sun
            else:
                colour = sky
            for c in range(3):
                dc = 8 * (colour[c] - 128)  # the DC coefficient of a flat block, quantiser 1
                out.block(dc - previous[c])
                previous[c] = dc
    components = b"".join(bytes([i, 0x11, 0]) for i in (1, 2, 3))
    return b"".join(
        [
            b"\xff\xd8",
            _segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"),
            _segment(0xDB, b"\x00" + b"\x01" * 64),
            _segment(0xC0, struct.pack(">BHHB", 8, height, width, 3) + components),
            _segment(0xC4, b"\x00" + _DC_BITS + _DC_VALUES + b"\x10" + _AC_BITS + _AC_VALUES),
            _segment(0xDA, b"\x03\x01\x00\x02\x00\x03\x00\x00\x3f\x00"),
            out.flush(),
            b"\xff\xd9",
        ]
    )
