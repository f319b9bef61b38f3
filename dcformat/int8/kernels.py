"""NumPy int8 kernels (the reference of spec/INT8.md §4), channels-last.

Integer sums are computed exactly: the operands (``x_q - z``, ``w_q``) are small
integers held in float32 (float64 when a sum could pass 2^24), so BLAS adds them
without rounding and the result is converted back to int64 before requantization.
"""

from __future__ import annotations

import importlib

from typing import Any, Callable

import numpy as np

from ..inference import kernels as K
from .fixedpoint import I64, mbqm, multipliers

F32 = np.float32
EXACT_F32 = 2**24  # every integer of magnitude below this is a float32


def centered(x: np.ndarray, zp: int, bound: int) -> np.ndarray:
    """``x_q - zp`` as floats; float64 when sums of up to ``bound`` in magnitude are needed."""
    dt = F32 if bound < EXACT_F32 else np.float64
    out = x.astype(dt)
    if zp:
        out -= dt(zp)
    return out


def pad(x: np.ndarray, pads: tuple[int, int, int, int], value: float, extra: tuple[int, int] = (0, 0)) -> np.ndarray:
    pt, pl, pb, pr = pads
    pb, pr = pb + extra[0], pr + extra[1]
    if not (pt or pl or pb or pr):
        return x
    return np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=value)


def requantize(acc: np.ndarray, m0: np.ndarray, shift: np.ndarray, zp: int, lo: int, hi: int) -> np.ndarray:
    """int8 output: ``clamp(zp + MBQM(acc, m0, shift), lo, hi)``; ``acc`` integral (any dtype)."""
    y = mbqm(np.asarray(acc).astype(I64), m0, shift)
    y += zp
    return np.clip(y, lo, hi).astype(np.int8)


def _compiled(module: str) -> Any:
    """``dcformat.inference.fast.<module>`` when the numba kernels are enabled, else None (NumPy reference)."""
    if K.fast_kernels() is None:
        return None
    try:
        return importlib.import_module(f"..inference.fast.{module}", __package__)
    except Exception:  # numba broken: the NumPy reference does the work
        return None


def fast_int8() -> Any:
    """The compiled int8 kernels (``inference/fast/int8.py``) when the numba kernels are enabled, else None."""
    return _compiled("int8")


def fast_int8_gemm() -> Any:
    """The compiled int8 convolution (``inference/fast/int8_gemm.py``) when the numba kernels are enabled, else None."""
    return _compiled("int8_gemm")


def conv(x: np.ndarray, zp: int, wq: np.ndarray, kind: str, geo: "object", oh: int, ow: int) -> np.ndarray:
    """Exact integer accumulators (N, OH, OW, O) of a convolution over NHWC int8 ``x`` (no bias)."""
    kh, kw, stride, dil, g = geo.kh, geo.kw, geo.stride, geo.dil, geo.groups  # type: ignore[attr-defined]
    k = geo.group_channels * kh * kw  # type: ignore[attr-defined]
    xp = pad(centered(x, zp, k * 127 * 255), geo.pads, 0.0)  # type: ignore[attr-defined]
    n = x.shape[0]
    if kind == "depthwise":  # wq: (KH, KW, C)
        acc = np.zeros((n, oh, ow, x.shape[3]), dtype=xp.dtype)
        for i in range(kh):
            for j in range(kw):
                acc += K.tap(xp, i, j, oh, ow, stride, dil) * wq[i, j].astype(xp.dtype)
        return acc
    w = wq.astype(xp.dtype)
    if kind == "grouped":
        m, cg = n * oh * ow, x.shape[3] // g
        cols = np.empty((g, n, oh, ow, kh, kw, cg), dtype=xp.dtype)
        cols[...] = K.windows(xp, oh, ow, kh, kw, stride, dil).reshape(n, oh, ow, kh, kw, g, cg).transpose(5, 0, 1, 2, 3, 4, 6)
        y = np.matmul(cols.reshape(g, m, kh * kw * cg), w)  # (G, M, Og)
        return np.ascontiguousarray(y.transpose(1, 0, 2)).reshape(n, oh, ow, -1)
    if kh == kw == 1:
        cols = np.ascontiguousarray(K.tap(xp, 0, 0, oh, ow, stride, dil)).reshape(n * oh * ow, -1)
    else:
        cols = np.empty((n, oh, ow, kh, kw, x.shape[3]), dtype=xp.dtype)
        cols[...] = K.windows(xp, oh, ow, kh, kw, stride, dil)
        cols = cols.reshape(n * oh * ow, -1)
    return gemm(cols, w).reshape(n, oh, ow, -1)


F32_K = EXACT_F32 // (127 * 255)  # longest reduction whose float32 partial sums are all exact integers


def gemm(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Exact integer product of integral float matrices: float32 BLAS on K-chunks short enough to stay exact
    (each chunk's result converted to int64 and summed), instead of one float64 product (half the BLAS speed)."""
    k = a.shape[1]
    if a.dtype == F32 or k <= F32_K:
        return a.astype(F32, copy=False) @ w.astype(F32, copy=False)
    a32, w32 = a.astype(F32), w.astype(F32)
    acc = np.zeros((a.shape[0], w.shape[1]), dtype=np.int64)
    for k0 in range(0, k, F32_K):
        acc += (a32[:, k0 : k0 + F32_K] @ w32[k0 : k0 + F32_K]).astype(np.int64)
    return acc


def linear(x: np.ndarray, zp: int, wq_t: np.ndarray) -> np.ndarray:
    k = wq_t.shape[0]
    a = centered(x, zp, k * 127 * 255)
    return gemm(a, wq_t.astype(a.dtype))


def window_reduce(xp: np.ndarray, oh: int, ow: int, k: tuple[int, int], stride: tuple[int, int], op: Callable) -> np.ndarray:
    out = None
    for i in range(k[0]):
        for j in range(k[1]):
            t = K.tap(xp, i, j, oh, ow, stride, (1, 1))
            out = t.copy() if out is None else op(out, t, out=out)
    assert out is not None
    return out


def avg_multipliers(counts: np.ndarray, s_in: float, s_out: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-position (M0, shift) of M = s_in / (s_out * n) for the window counts ``n`` (few distinct values)."""
    uniq, inv = np.unique(counts, return_inverse=True)
    m0, sh = multipliers(np.array([s_in / (s_out * float(c)) for c in uniq]))
    return m0[inv].reshape(counts.shape), sh[inv].reshape(counts.shape)
