"""Element-wise magnitude pruning (Deep Compression §2): boolean keep-masks.

A mask is ``True`` where a weight survives. Zeros (including ``-0.0``) are never
kept: a pruned position and a stored zero are the same thing to the sparse
encoder, so keeping a zero would only cost an index entry.

``prune_to_density`` is exact and deterministic: it keeps precisely ``k`` weights,
breaking magnitude ties at the cut by lower flat (C-order) index, so the same
array always gives the same mask. Because ``k`` depends on the element count
(not on the number of nonzeros), pruning an already-pruned array again with the
same density keeps every nonzero, which makes re-encoding idempotent.
"""

from __future__ import annotations

import math
from fractions import Fraction
from numbers import Real

import numpy as np

__all__ = ["density_to_count", "magnitudes", "prune_by_threshold", "prune_to_density"]


def _check_fraction(value: float, name: str) -> Fraction:
    """Validate a fraction in (0, 1] and return it as its shortest decimal value.

    ``Fraction(repr(float))`` turns 0.1 into exactly 1/10 (not the binary
    0.1000000000000000055...), so half-way products round the way a person
    reading the decimal expects.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
        raise ValueError(f"{name} must be a real number in (0, 1], got {value!r}")
    f = float(value)
    if not math.isfinite(f) or not 0.0 < f <= 1.0:
        raise ValueError(f"{name} must be in (0, 1], got {value!r}")
    return Fraction(repr(f))


def density_to_count(density: float, n: int) -> int:
    """Number of elements kept out of ``n`` at ``density``: round-half-up, at least 1 if n > 0.

    Computed in exact rational arithmetic on the decimal value of ``density``
    (0.1 of 1000 is 100; 0.0015 of 1000 is 2).
    """
    frac = _check_fraction(density, "density")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if n == 0:
        return 0
    k = math.floor(frac * n + Fraction(1, 2))
    return min(max(k, 1), n)


def magnitudes(w: np.ndarray) -> np.ndarray:
    """|w| flattened in C order, in a dtype where the absolute value cannot overflow.

    Floats keep their dtype. Signed integers are reinterpreted as unsigned after
    ``np.abs`` (two's complement makes ``abs(INT_MIN)`` correct as unsigned).
    NaN and complex inputs are rejected: they have no magnitude order.
    """
    a = np.asarray(w)
    if a.dtype == np.bool_:
        return a.ravel().astype(np.uint8)
    kind = a.dtype.kind
    if kind == "f":
        flat = a.ravel()
        if np.isnan(flat).any():
            raise ValueError("cannot prune an array that contains NaN")
        return np.abs(flat)
    if kind == "i":
        return np.abs(a.ravel()).view(np.dtype(f"u{a.dtype.itemsize}"))
    if kind == "u":
        return a.ravel()
    raise ValueError(f"cannot prune an array of dtype {a.dtype}")


def prune_by_threshold(w: np.ndarray, threshold: float) -> np.ndarray:
    """Keep-mask of weights with ``|w| >= threshold`` and ``w != 0`` (paper §2 rule).

    ``threshold`` must be finite and >= 0; a threshold of 0 keeps every nonzero.
    """
    if isinstance(threshold, (bool, np.bool_)) or not isinstance(threshold, Real):
        raise ValueError(f"threshold must be a real number, got {threshold!r}")
    t = float(threshold)
    if not math.isfinite(t) or t < 0.0:
        raise ValueError(f"threshold must be finite and >= 0, got {threshold!r}")
    a = np.asarray(w)
    mag = magnitudes(a)
    cut = _exact_cut(mag.dtype, t)
    if cut is None:
        return np.zeros(a.shape, dtype=bool)
    keep = (mag >= cut) & (mag != 0)
    return keep.reshape(a.shape)


def _exact_cut(dtype: np.dtype, t: float) -> np.generic | None:
    """Smallest value of ``dtype`` that is >= t, so ``mag >= cut`` equals ``|w| >= t`` exactly.

    Comparing a float32 array with a Python float would round t to float32 first
    (NumPy 2 promotion) and could keep a weight just below the threshold.
    None means no value of the dtype reaches t.
    """
    if dtype.kind == "f":
        info = np.finfo(dtype)
        if t > float(info.max):
            return dtype.type(np.inf)
        cut = dtype.type(t)
        if float(cut) < t:
            cut = np.nextafter(cut, dtype.type(np.inf))
        return cut
    c = math.ceil(t)
    if c > int(np.iinfo(dtype).max):
        return None
    return dtype.type(c)


def prune_to_density(w: np.ndarray, density: float) -> np.ndarray:
    """Keep-mask of the ``density_to_count(density, w.size)`` largest-magnitude nonzeros.

    The count is capped at the number of nonzeros. Ties at the cut go to the lower
    flat index. O(n): one ``np.partition`` finds the cut magnitude, then the
    tied positions are taken in index order.
    """
    a = np.asarray(w)
    mag = magnitudes(a)
    return keep_largest(mag, mag != 0, density_to_count(density, a.size)).reshape(a.shape)


def keep_largest(score: np.ndarray, nonzero: np.ndarray, k: int) -> np.ndarray:
    """Flat keep-mask of the ``k`` largest ``score`` values among the ``nonzero`` positions (``k`` capped at their
    count), ties at the cut to the lower flat index; every pruning rule ranks by a score and shares this cut.

    ``score`` must be >= 0, and 0 where ``nonzero`` is False (so those sit at the bottom and the cut is the k-th
    largest score of the nonzeros); zeros are never kept. The score keeps its dtype (exact for integer magnitudes).
    """
    score, nonzero = score.reshape(-1), nonzero.reshape(-1)
    nnz = int(np.count_nonzero(nonzero))
    k = min(k, nnz)
    if k == nnz:
        return nonzero.copy()
    if k == 0:
        return np.zeros(nonzero.shape, dtype=bool)
    n = score.size
    cut = np.partition(score, n - k)[n - k]  # the k-th largest score
    keep = score > cut
    need = k - int(np.count_nonzero(keep))
    if need > 0:
        tied = np.flatnonzero((score == cut) & nonzero)
        keep[tied[:need]] = True
    return keep
