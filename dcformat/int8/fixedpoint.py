"""Fixed-point requantization (spec/INT8.md §3): gemmlowp's SRDHM + RDBPOT, vectorised in int64.

Every function takes and returns int64 arrays holding int32-range integers, so
NumPy never wraps: the 64-bit product of two int32 values is exact.
"""

from __future__ import annotations

import math

import numpy as np

I64 = np.int64
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def quantize_multiplier(m: float) -> tuple[int, int]:
    """(M0, shift) with m ≈ M0 · 2^(shift − 31); M0 in [2^30, 2^31) or 0. Raises ValueError when m ≥ 2^30."""
    if not (m > 0.0 and math.isfinite(m)):
        if m == 0.0:
            return 0, 0
        raise ValueError(f"multiplier {m!r} is not a positive finite number")
    frac, e = math.frexp(m)
    q = round(frac * 2**31)  # Python's round: half to even, exact on a binary64 value
    if q == 2**31:
        q, e = 2**30, e + 1
    if e < -62:
        return 0, 0
    if e > 30:
        raise ValueError(f"multiplier {m!r} is too large (shift {e} > 30)")
    return int(q), int(e)


def multipliers(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`quantize_multiplier` over an array (per channel / per position); returns int64 arrays."""
    flat = [quantize_multiplier(float(x)) for x in np.asarray(m, dtype=np.float64).ravel()]
    m0 = np.array([a for a, _ in flat], dtype=I64).reshape(np.shape(m))
    sh = np.array([b for _, b in flat], dtype=I64).reshape(np.shape(m))
    return m0, sh


def srdhm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Saturating rounding doubling high multiply of int32 values (as int64 arrays)."""
    a = np.asarray(a, dtype=I64)
    b = np.asarray(b, dtype=I64)
    p = a * b
    p += np.where(p >= 0, I64(1 << 30), I64(1 - (1 << 30)))
    # truncating division by 2^31 (C semantics): shift the magnitude
    r = np.where(p >= 0, p >> 31, -((-p) >> 31))
    overflow = (a == INT32_MIN) & (b == INT32_MIN)
    if overflow.any():
        r = np.where(overflow, I64(INT32_MAX), r)
    return r


def rdbpot(x: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Rounding (half away from zero) division by 2^n, 0 <= n <= 62."""
    x = np.asarray(x, dtype=I64)
    n = np.asarray(n, dtype=I64)
    mask = (I64(1) << n) - 1
    rem = x & mask
    thr = (mask >> 1) + (x < 0)
    return (x >> n) + (rem > thr)


def mbqm(x: np.ndarray, m0: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Multiply int32 values by the quantized multiplier (m0, shift): TFLite's MultiplyByQuantizedMultiplier."""
    x = np.asarray(x, dtype=I64)
    shift = np.asarray(shift, dtype=I64)
    left = np.maximum(shift, 0)
    x = np.clip(x << left if np.any(left) else x, INT32_MIN, INT32_MAX)  # saturate to int32 (spec/INT8.md §3)
    return rdbpot(srdhm(x, m0), np.maximum(-shift, 0))


def saturate8(x: np.ndarray, lo: int = -128, hi: int = 127) -> np.ndarray:
    return np.clip(x, lo, hi).astype(np.int8)
