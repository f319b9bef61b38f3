"""Depthwise convolution over contiguous channel vectors, bias and clip fused, any stride and dilation."""

from __future__ import annotations

import numpy as np
from numba import njit

from .simd import F32, LANES, _geometry_ok, _tap_ranges, empty, vclip, vfma, vload, vstore


@njit(cache=True, nogil=True)
def _dw_pixel(xf, b, h, w, c, wf, kh, kw, bf, lo, hi, of, ob, iy0, i0, i1, ix0, j0, j1, dh, dw):  # pragma: no cover
    """One depthwise output pixel (taps i0:i1 x j0:j1 are the ones inside the input), a vector of channels at a time.

    When C is not a multiple of LANES the last vector is the pixel's last
    LANES channels, overlapping the one before: those channels are computed
    twice, identically, instead of in a scalar loop (4x slower).
    """
    L = LANES
    for t in range((c + L - 1) // L):
        c0 = min(t * L, c - L)
        a = vload(bf, c0)
        for i in range(i0, i1):
            xb = ((b * h + iy0 + i * dh) * w + ix0) * c + c0
            wb = i * kw * c + c0
            for j in range(j0, j1):
                a = vfma(vload(xf, xb + j * dw * c), vload(wf, wb + j * c), a)
        vstore(of, ob + c0, vclip(a, lo, hi))


@njit(cache=True, nogil=True)
def _depthwise(xf, n, h, w, c, wf, kh, kw, bf, lo, hi, of, oh, ow, sh, sw, dh, dw, pt, pl):  # pragma: no cover
    """NHWC depthwise conv (C >= LANES); out-of-range taps are skipped (zero padding).

    3x3 kernels (any stride/dilation) take a fast path for output pixels
    whose 9 taps are all inside: per channel vector the 9 weight vectors stay
    in registers while the pixels of the row stream by (one load per FMA
    instead of two, ~2x faster). Border pixels and other kernel sizes go
    pixel by pixel.
    """
    L = LANES
    rows = _tap_ranges(oh, sh, pt, dh, kh, h)
    cols = _tap_ranges(ow, sw, pl, dw, kw, w)
    xa = 0  # interior columns: [xa, xb)
    while xa < ow and (cols[xa, 1] != 0 or cols[xa, 2] != kw):
        xa += 1
    xb = xa
    while xb < ow and cols[xb, 1] == 0 and cols[xb, 2] == kw:
        xb += 1
    fast3 = kh == 3 and kw == 3
    for b in range(n):
        for oy in range(oh):
            iy0, i0, i1 = rows[oy, 0], rows[oy, 1], rows[oy, 2]
            ob = (b * oh + oy) * ow * c
            if not (fast3 and i0 == 0 and i1 == 3):
                for ox in range(ow):
                    _dw_pixel(xf, b, h, w, c, wf, kh, kw, bf, lo, hi, of, ob + ox * c, iy0, i0, i1, cols[ox, 0], cols[ox, 1], cols[ox, 2], dh, dw)
                continue
            for ox in range(0, xa):
                _dw_pixel(xf, b, h, w, c, wf, kh, kw, bf, lo, hi, of, ob + ox * c, iy0, i0, i1, cols[ox, 0], cols[ox, 1], cols[ox, 2], dh, dw)
            for ox in range(xb, ow):
                _dw_pixel(xf, b, h, w, c, wf, kh, kw, bf, lo, hi, of, ob + ox * c, iy0, i0, i1, cols[ox, 0], cols[ox, 1], cols[ox, 2], dh, dw)
            r0 = (b * h + iy0) * w * c
            r1 = r0 + dh * w * c
            r2 = r1 + dh * w * c
            d1 = dw * c
            d2 = 2 * dw * c
            for t in range((c + L - 1) // L):
                c0 = min(t * L, c - L)  # the last vector overlaps the one before when C % LANES != 0
                w00 = vload(wf, c0)
                w01 = vload(wf, c + c0)
                w02 = vload(wf, 2 * c + c0)
                w10 = vload(wf, 3 * c + c0)
                w11 = vload(wf, 4 * c + c0)
                w12 = vload(wf, 5 * c + c0)
                w20 = vload(wf, 6 * c + c0)
                w21 = vload(wf, 7 * c + c0)
                w22 = vload(wf, 8 * c + c0)
                bias = vload(bf, c0)
                for ox in range(xa, xb):
                    q = cols[ox, 0] * c + c0
                    a = vfma(vload(xf, r0 + q), w00, bias)
                    a = vfma(vload(xf, r0 + q + d1), w01, a)
                    a = vfma(vload(xf, r0 + q + d2), w02, a)
                    a = vfma(vload(xf, r1 + q), w10, a)
                    a = vfma(vload(xf, r1 + q + d1), w11, a)
                    a = vfma(vload(xf, r1 + q + d2), w12, a)
                    a = vfma(vload(xf, r2 + q), w20, a)
                    a = vfma(vload(xf, r2 + q + d1), w21, a)
                    a = vfma(vload(xf, r2 + q + d2), w22, a)
                    vstore(of, ob + ox * c + c0, vclip(a, lo, hi))


def depthwise(x: np.ndarray, w: np.ndarray, bias: np.ndarray, pads: tuple[int, int, int, int], oh: int, ow: int,
              stride: tuple[int, int], dil: tuple[int, int], lo: np.float32, hi: np.float32) -> np.ndarray:
    """NHWC depthwise convolution with fused bias and clip; ``w`` is (KH, KW, C), ``bias`` (C,), both float32 C-contiguous."""
    n, h, wd, c = x.shape
    kh, kw = w.shape[:2]
    if not _geometry_ok(x, oh, ow, (kh, kw), stride, dil) or w.shape != (kh, kw, c) or bias.shape != (c,) \
            or w.dtype != F32 or bias.dtype != F32 or not w.flags.c_contiguous:
        raise ValueError("depthwise: operand shape/layout mismatch")
    out = empty((n, oh, ow, c))
    if out.size:
        _depthwise(x.reshape(-1), n, h, wd, c, w.reshape(-1), kh, kw, bias, F32(lo), F32(hi), out.reshape(-1), oh, ow,
                   stride[0], stride[1], dil[0], dil[1], pads[0], pads[1])
    return out
