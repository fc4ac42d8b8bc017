"""A minimal H.264 encoder for the simulator's videos: every macroblock I_PCM.

I_PCM carries a macroblock's raw samples (no transform, no entropy coding
beyond a few header bits), so the encoder is short and any decoder plays the
result. Constrained Baseline profile, every frame an IDR frame, 4:2:0.
The picture: a landscape whose sun crosses the sky as the frames go by.
"""

from __future__ import annotations


class _Bits:
    def __init__(self) -> None:
        self.out = bytearray()
        self.acc = 0
        self.n = 0

    def u(self, bits: int, value: int) -> None:
        for i in range(bits - 1, -1, -1):
            self.acc = (self.acc << 1) | ((value >> i) & 1)
            self.n += 1
            if self.n == 8:
                self.out.append(self.acc)
                self.acc = self.n = 0

    def ue(self, value: int) -> None:
        code = value + 1
        length = code.bit_length()
        self.u(length - 1, 0)
        self.u(length, code)

    def se(self, value: int) -> None:
        self.ue(2 * value - 1 if value > 0 else -2 * value)

    def align_zero(self) -> None:
        while self.n:
            self.u(1, 0)

    def raw(self, data: bytes) -> None:
        assert self.n == 0
        self.out += data

    def trailing(self) -> bytes:
        self.u(1, 1)
        self.align_zero()
        return bytes(self.out)


def _nal(ref_idc: int, kind: int, rbsp: bytes) -> bytes:
    """NAL header plus the payload with emulation prevention bytes inserted."""
    out = bytearray([(ref_idc << 5) | kind])
    zeros = 0
    for byte in rbsp:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def sps(width_mb: int, height_mb: int) -> bytes:
    b = _Bits()
    b.u(8, 66)  # profile_idc: Baseline
    b.u(8, 0b11000000)  # constraint_set0 and set1: Constrained Baseline
    b.u(8, 30)  # level 3.0
    b.ue(0)  # seq_parameter_set_id
    b.ue(0)  # log2_max_frame_num_minus4
    b.ue(2)  # pic_order_cnt_type 2: output order is decode order
    b.ue(1)  # max_num_ref_frames
    b.u(1, 0)  # gaps_in_frame_num_value_allowed_flag
    b.ue(width_mb - 1)
    b.ue(height_mb - 1)
    b.u(1, 1)  # frame_mbs_only_flag
    b.u(1, 1)  # direct_8x8_inference_flag
    b.u(1, 0)  # frame_cropping_flag
    b.u(1, 0)  # vui_parameters_present_flag
    return _nal(3, 7, b.trailing())


def pps() -> bytes:
    b = _Bits()
    b.ue(0)  # pic_parameter_set_id
    b.ue(0)  # seq_parameter_set_id
    b.u(1, 0)  # entropy_coding_mode_flag: CAVLC
    b.u(1, 0)  # bottom_field_pic_order_in_frame_present_flag
    b.ue(0)  # num_slice_groups_minus1
    b.ue(0)  # num_ref_idx_l0_default_active_minus1
    b.ue(0)  # num_ref_idx_l1_default_active_minus1
    b.u(1, 0)  # weighted_pred_flag
    b.u(2, 0)  # weighted_bipred_idc
    b.se(0)  # pic_init_qp_minus26
    b.se(0)  # pic_init_qs_minus26
    b.se(0)  # chroma_qp_index_offset
    b.u(1, 0)  # deblocking_filter_control_present_flag
    b.u(1, 0)  # constrained_intra_pred_flag
    b.u(1, 0)  # redundant_pic_cnt_present_flag
    return _nal(3, 8, b.trailing())


def _yuv(rgb: tuple[int, ...]) -> tuple[int, int, int]:
    """BT.601 studio range; never 0 (old decoders reject a PCM sample of 0)."""
    r, g, b = rgb
    y = 16 + (65.738 * r + 129.057 * g + 25.064 * b) / 256
    u = 128 + (-37.945 * r - 74.494 * g + 112.439 * b) / 256
    v = 128 + (112.439 * r - 94.154 * g - 18.285 * b) / 256
    return max(1, round(y)), max(1, min(255, round(u))), max(1, min(255, round(v)))


Runs = list[tuple[int, tuple[int, int, int]]]  # (length in px, even; colour) along a row


def scene(digest: bytes, width: int, height: int, t: float) -> list[Runs]:
    """A landscape with the sun at fraction `t` of its way across the sky."""
    sky_top, sky_low = digest[0:3], digest[3:6]
    ground = _yuv((digest[6] // 2, digest[7] // 2, digest[8] // 2))
    sun = _yuv((255, 200 + digest[9] % 56, digest[10] % 128))
    horizon = int(height * (0.6 + (digest[11] / 255) * 0.25))
    radius = max(4, int(min(width, height) * 0.12))
    cx = int(width * (0.1 + 0.8 * t))
    cy = int(horizon * (0.25 + (digest[13] / 255) * 0.4))
    rows: list[Runs] = []
    for y in range(height):
        if y >= horizon:
            rows.append([(width, ground)])
            continue
        f = y / max(1, horizon)
        sky = _yuv(tuple(round(a + (b - a) * f) for a, b in zip(sky_top, sky_low, strict=True)))
        dy = y - cy
        if abs(dy) < radius:
            half = int((radius * radius - dy * dy) ** 0.5)
            x0, x1 = max(0, cx - half) & ~1, min(width, cx + half) & ~1
            rows.append([(x0, sky), (x1 - x0, sun), (width - x1, sky)])
        else:
            rows.append([(width, sky)])
    return rows


def _planes(rows: list[Runs]) -> tuple[bytes, bytes, bytes]:
    """Y, U and V (4:2:0: every other row, half the width) of a frame."""
    y = b"".join(bytes([c[0]]) * n for row in rows for n, c in row)
    u = b"".join(bytes([c[1]]) * (n // 2) for row in rows[::2] for n, c in row)
    v = b"".join(bytes([c[2]]) * (n // 2) for row in rows[::2] for n, c in row)
    return y, u, v


def idr_slice(rows: list[Runs], width_mb: int, height_mb: int, idr_id: int) -> bytes:
    luma, cb, cr = _planes(rows)
    w, cw = width_mb * 16, width_mb * 8
    b = _Bits()
    b.ue(0)  # first_mb_in_slice
    b.ue(7)  # slice_type: I, as every slice of the picture
    b.ue(0)  # pic_parameter_set_id
    b.u(4, 0)  # frame_num
    b.ue(idr_id)  # idr_pic_id: consecutive IDR pictures differ
    b.u(1, 0)  # no_output_of_prior_pics_flag
    b.u(1, 0)  # long_term_reference_flag
    b.se(0)  # slice_qp_delta
    for my in range(height_mb):
        for mx in range(width_mb):
            b.ue(25)  # mb_type I_PCM
            b.align_zero()
            at, cat = my * 16 * w + mx * 16, my * 8 * cw + mx * 8
            b.raw(b"".join(luma[at + r * w : at + r * w + 16] for r in range(16)))
            b.raw(b"".join(cb[cat + r * cw : cat + r * cw + 8] for r in range(8)))
            b.raw(b"".join(cr[cat + r * cw : cat + r * cw + 8] for r in range(8)))
    return _nal(3, 5, b.trailing())
