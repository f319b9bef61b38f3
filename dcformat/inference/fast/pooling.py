"""Max and average pooling over contiguous channel vectors; out-of-range taps are skipped (the padding rule)."""

from __future__ import annotations

import numpy as np
from numba import njit

from .simd import F32, LANES, _geometry_ok, _tap_ranges, empty, vadd, vclip, vload, vmax, vmul, vsplat, vstore


@njit(cache=True, nogil=True)
def _pool(xf, n, h, w, c, kh, kw, is_max, div, lo, hi, of, oh, ow, sh, sw, pt, pl):  # pragma: no cover
    """NHWC max pool (out-of-range taps skipped = -inf padding) or sum pool divided by ``div[oy, ox]`` (C >= LANES).

    Four channel vectors at a time, then single vectors; the last one
    overlaps the one before when C % LANES != 0 (see :func:`_dw_pixel`).
    """
    L = LANES
    c4 = c // (4 * L) * (4 * L)
    init = -np.inf if is_max else 0.0
    rows = _tap_ranges(oh, sh, pt, 1, kh, h)
    cols = _tap_ranges(ow, sw, pl, 1, kw, w)
    for b in range(n):
        for oy in range(oh):
            iy0, i0, i1 = rows[oy, 0], rows[oy, 1], rows[oy, 2]
            for ox in range(ow):
                ix0, j0, j1 = cols[ox, 0], cols[ox, 1], cols[ox, 2]
                ob = ((b * oh + oy) * ow + ox) * c
                r = vsplat(np.float32(1.0) / div[oy * ow + ox]) if not is_max else vsplat(np.float32(1.0))
                for c0 in range(0, c4, 4 * L):
                    a0 = vsplat(init)
                    a1, a2, a3 = a0, a0, a0
                    for i in range(i0, i1):
                        xb = ((b * h + iy0 + i) * w + ix0) * c + c0
                        for j in range(j0, j1):
                            q = xb + j * c
                            if is_max:
                                a0 = vmax(a0, vload(xf, q))
                                a1 = vmax(a1, vload(xf, q + L))
                                a2 = vmax(a2, vload(xf, q + 2 * L))
                                a3 = vmax(a3, vload(xf, q + 3 * L))
                            else:
                                a0 = vadd(a0, vload(xf, q))
                                a1 = vadd(a1, vload(xf, q + L))
                                a2 = vadd(a2, vload(xf, q + 2 * L))
                                a3 = vadd(a3, vload(xf, q + 3 * L))
                    if not is_max:
                        a0, a1, a2, a3 = vmul(a0, r), vmul(a1, r), vmul(a2, r), vmul(a3, r)
                    vstore(of, ob + c0, vclip(a0, lo, hi))
                    vstore(of, ob + c0 + L, vclip(a1, lo, hi))
                    vstore(of, ob + c0 + 2 * L, vclip(a2, lo, hi))
                    vstore(of, ob + c0 + 3 * L, vclip(a3, lo, hi))
                for t in range(c4 // L, (c + L - 1) // L):
                    c0 = min(t * L, c - L)
                    a0 = vsplat(init)
                    for i in range(i0, i1):
                        xb = ((b * h + iy0 + i) * w + ix0) * c + c0
                        for j in range(j0, j1):
                            if is_max:
                                a0 = vmax(a0, vload(xf, xb + j * c))
                            else:
                                a0 = vadd(a0, vload(xf, xb + j * c))
                    if not is_max:
                        a0 = vmul(a0, r)
                    vstore(of, ob + c0, vclip(a0, lo, hi))


def pool(x: np.ndarray, k: tuple[int, int], stride: tuple[int, int], pads: tuple[int, int, int, int], oh: int, ow: int,
         div: np.ndarray | None, lo: np.float32, hi: np.float32) -> np.ndarray:
    """NHWC max pool (``div`` None) or average pool (sum / ``div``, an (OH, OW) float32 count array), clip fused."""
    n, h, w, c = x.shape
    if not _geometry_ok(x, oh, ow, k, stride, (1, 1)):
        raise ValueError("pool: operand shape/layout mismatch")
    if div is None:
        d = np.ones(1, F32)
    else:
        d = np.ascontiguousarray(div, dtype=F32).reshape(-1)
        if d.size != oh * ow:
            raise ValueError("pool: divisor shape mismatch")
    out = empty((n, oh, ow, c))
    if out.size:
        _pool(x.reshape(-1), n, h, w, c, k[0], k[1], div is None, d, F32(lo), F32(hi), out.reshape(-1), oh, ow,
              stride[0], stride[1], pads[0], pads[1])
    return out
