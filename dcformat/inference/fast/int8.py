"""Compiled int8 kernels (spec/INT8.md §3-4): requantization, depthwise convolution and Add, one pass each.

The NumPy reference (``dcformat.int8``) makes about ten int64 passes over an
accumulator tensor; these do one, with the same integer arithmetic, so results
are identical (tests/test_int8.py checks bit equality).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from .int8_gemm import requant_run

_I32_MIN = -(2**31)
_I32_MAX = 2**31 - 1


@nb.njit(cache=True, nogil=True, inline="always")
def _mbqm(x, b, left, n):  # pragma: no cover - compiled
    if left > 0:
        x = x << left
    if x > _I32_MAX:
        x = _I32_MAX
    elif x < _I32_MIN:
        x = _I32_MIN
    if x == _I32_MIN and b == _I32_MIN:
        r = np.int64(_I32_MAX)
    else:
        p = x * b
        if p >= 0:
            r = (p + (1 << 30)) >> 31
        else:
            r = -((-(p + (1 - (1 << 30)))) >> 31)
    mask = (np.int64(1) << n) - 1
    rem = r & mask
    thr = (mask >> 1) + (1 if r < 0 else 0)
    return (r >> n) + (1 if rem > thr else 0)


@nb.njit(cache=True, nogil=True)
def _depthwise(x, zp_in, w, bias, m0, left, right, zp, lo, hi, pads, stride, dil, out):  # pragma: no cover - compiled
    """Per output pixel: int32 sums over the in-range taps, vectorised across channels (products fit int16:
    |x - z| <= 255, |w| <= 127), then the requantization epilogue of int8_gemm."""
    nb_, h, wd, c = x.shape
    kh, kw = w.shape[0], w.shape[1]
    _, oh, ow, _ = out.shape
    xf = x.reshape(-1)
    of = out.reshape(-1)
    w32 = np.empty((kh, kw, c), np.int32)
    for a in range(kh):
        for b in range(kw):
            for ch in range(c):
                w32[a, b, ch] = w[a, b, ch]
    acc = np.empty(c, dtype=np.int32)
    z = np.int32(zp_in)
    for n in range(nb_):
        for i in range(oh):
            for j in range(ow):
                for ch in range(c):
                    acc[ch] = 0
                for a in range(kh):
                    y = i * stride[0] - pads[0] + a * dil[0]
                    if y < 0 or y >= h:
                        continue
                    for b in range(kw):
                        xx = j * stride[1] - pads[1] + b * dil[1]
                        if xx < 0 or xx >= wd:
                            continue
                        src = ((n * h + y) * wd + xx) * c
                        for ch in range(c):
                            acc[ch] += (np.int32(xf[src + ch]) - z) * w32[a, b, ch]
                requant_run(acc, 0, bias, m0, left, right, 0, c, zp, lo, hi, of, ((n * oh + i) * ow + j) * c)


def depthwise(x: np.ndarray, zp_in: int, w: np.ndarray, bias: np.ndarray, m0: np.ndarray, shift: np.ndarray, zp: int, lo: int,
              hi: int, pads: tuple[int, ...], stride: tuple[int, int], dil: tuple[int, int], oh: int, ow: int) -> np.ndarray:
    """int8 depthwise convolution of NHWC int8 ``x`` with (KH, KW, C) int8 weights, requantized (bias, clamp fused)."""
    x = np.ascontiguousarray(x, dtype=np.int8)
    c = x.shape[3]
    if w.shape[2] != c or w.dtype != np.int8 or bias.shape != (c,) or m0.shape != (c,) or shift.shape != (c,):
        raise ValueError("depthwise: shapes do not match")
    out = np.empty((x.shape[0], oh, ow, c), dtype=np.int8)
    sh = np.asarray(shift, dtype=np.int64)
    _depthwise(x, np.int64(zp_in), np.ascontiguousarray(w), np.asarray(bias, np.int64), np.asarray(m0, np.int64), np.maximum(sh, 0),
               np.maximum(-sh, 0), np.int64(zp), np.int64(lo), np.int64(hi), np.array(pads[:2], np.int64), np.array(stride, np.int64),
               np.array(dil, np.int64), out)
    return out


@nb.njit(cache=True, nogil=True)
def _add(a, b, za, zb, ma, la, ra, mb, lb, rb, mo, lo_, ro, zp, lo, hi, shift, out):  # pragma: no cover - compiled
    for i in range(a.size):
        ta = _mbqm((np.int64(a[i]) - za) << shift, ma, la, ra)
        tb = _mbqm((np.int64(b[i]) - zb) << shift, mb, lb, rb)
        r = _mbqm(ta + tb, mo, lo_, ro) + zp
        out[i] = lo if r < lo else (hi if r > hi else r)


def add(a: np.ndarray, b: np.ndarray, za: int, zb: int, ma: tuple[int, int], mb: tuple[int, int], mo: tuple[int, int], zp: int,
        lo: int, hi: int, shift: int) -> np.ndarray:
    """The int8 Add of spec/INT8.md §4 (TFLite's scheme) over two same-shape int8 arrays."""
    if a.shape != b.shape:
        raise ValueError("add: shapes differ")
    out = np.empty(a.shape, dtype=np.int8)
    args = []
    for m, s in (ma, mb, mo):
        args += [np.int64(m), np.int64(max(s, 0)), np.int64(max(-s, 0))]
    _add(np.ascontiguousarray(a, dtype=np.int8).reshape(-1), np.ascontiguousarray(b, dtype=np.int8).reshape(-1), np.int64(za), np.int64(zb),
         *args, np.int64(zp), np.int64(lo), np.int64(hi), np.int64(shift), out.reshape(-1))
    return out


@nb.njit(cache=True, nogil=True)
def _requant(acc, bias, m0, left, right, zp, lo, hi, out):  # pragma: no cover - compiled
    rows, cols = acc.shape
    for i in range(rows):
        for c in range(cols):
            r = _mbqm(np.int64(acc[i, c]) + bias[c], m0[c], left[c], right[c]) + zp
            if r < lo:
                r = lo
            elif r > hi:
                r = hi
            out[i, c] = r


def requantize(acc: np.ndarray, bias: np.ndarray, m0: np.ndarray, shift: np.ndarray, zp: int, lo: int, hi: int) -> np.ndarray:
    """int8 ``clamp(zp + MBQM(acc + bias, m0, shift), lo, hi)`` over the last axis's channels; ``acc`` integral (float32, float64 or int64)."""
    c = acc.shape[-1]
    a = np.ascontiguousarray(acc).reshape(-1, c)
    if a.dtype not in (np.float32, np.float64, np.int64):
        a = a.astype(np.int64)
    vec = [np.ascontiguousarray(np.broadcast_to(np.asarray(v, dtype=np.int64), (c,))) for v in (bias, m0, shift)]
    if not (-128 <= lo <= hi <= 127):
        raise ValueError("clamp range outside int8")
    out = np.empty(a.shape, dtype=np.int8)
    _requant(a, vec[0], vec[1], np.maximum(vec[2], 0), np.maximum(-vec[2], 0), np.int64(zp), np.int64(lo), np.int64(hi), out)
    return out.reshape(acc.shape)


@nb.njit(cache=True, nogil=True)
def _lut2(a, b, lut, out):  # pragma: no cover - compiled
    for i in range(a.size):
        out[i] = lut[((np.int64(a[i]) + 128) << 8) + np.int64(b[i]) + 128]


def add_lut(a: np.ndarray, b: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """An int8 Add by its 256 x 256 table (built from the spec's arithmetic by the planner): one lookup per element."""
    if a.shape != b.shape or lut.shape != (65536,) or lut.dtype != np.int8:
        raise ValueError("add_lut: shapes differ")
    out = np.empty(a.shape, dtype=np.int8)
    _lut2(np.ascontiguousarray(a, dtype=np.int8).reshape(-1), np.ascontiguousarray(b, dtype=np.int8).reshape(-1), lut, out.reshape(-1))
    return out


@nb.njit(cache=True, nogil=True)
def _concat_lut(x, lut, c, out, ldo, ocol):  # pragma: no cover - compiled
    rows = x.size // c
    for r in range(rows):
        for ch in range(c):
            out[r * ldo + ocol + ch] = lut[np.int64(x[r * c + ch]) + 128]


def concat_last(parts: list[np.ndarray], luts: list[np.ndarray | None]) -> np.ndarray:
    """Concatenate int8 arrays on the last axis, mapping each through its 256-entry requantization table (None: as is)."""
    lead = parts[0].shape[:-1]
    total = sum(p.shape[-1] for p in parts)
    out = np.empty((*lead, total), np.int8)
    flat = out.reshape(-1)
    col = 0
    for p, lut in zip(parts, luts):
        if p.shape[:-1] != lead:
            raise ValueError("concat: shapes differ")
        c = p.shape[-1]
        if lut is None:
            out[..., col : col + c] = p
        else:
            _concat_lut(np.ascontiguousarray(p, dtype=np.int8).reshape(-1), lut, c, flat, total, col)
        col += c
    return out
