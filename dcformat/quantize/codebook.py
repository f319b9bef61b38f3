"""Codebooks in the format's canonical order, from exact values (lossless) or from k-means (spec §5.2, §11).

One sort per tensor. The quantizer sorts the float32 values once; the number of
distinct bit patterns (the lossless-path test) is read off the sorted copy, and
the same copy is what k-means clusters. Labels come from ``np.searchsorted``
(lossless) or from k-means' own boundary lookup; used codes from
``np.bincount``. Nothing here runs ``np.unique`` over all weights.
"""

from __future__ import annotations

import numpy as np

from .kmeans import kmeans_1d, kmeans_sorted


def canonical_codebook(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct float32 values (by bit pattern, -0.0 before +0.0) and each input's index into them.

    General but O(n log n) with an argsort; the quantizer uses it only on
    codebooks (at most 2**code_bits values). Also the reference the fast
    lossless path is tested against.
    """
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    uniq, inverse = np.unique(bits, return_inverse=True)
    vals = uniq.view(np.float32)
    order = np.lexsort((~np.signbit(vals), vals))
    rank = np.empty(order.size, np.int64)
    rank[order] = np.arange(order.size)
    return vals[order], rank[inverse.reshape(-1)]


def _distinct_sorted(xs: np.ndarray, as32: np.ndarray) -> np.ndarray:
    """The canonical codebook of the finite float32 values ``as32``, whose sorted copy is ``xs``.

    Distinct values are the run starts of ``xs``. -0.0 and +0.0 compare equal,
    and NumPy's SIMD sort does not even keep their bit patterns (a sorted run of
    mixed zeros can come out all -0.0), so the signs of zero are counted on the
    values themselves; zero's run is split into -0.0, +0.0 when both occur.
    """
    first = np.empty(xs.size, bool)
    first[0] = True
    np.not_equal(xs[1:], xs[:-1], out=first[1:])
    vals = xs[first]
    z = int(np.searchsorted(vals, 0.0))
    if z < vals.size and vals[z] == 0:
        n_zero = int(np.searchsorted(xs, 0.0, side="right")) - int(np.searchsorted(xs, 0.0, side="left"))
        n_neg = int(np.count_nonzero(as32.view(np.uint32) == np.uint32(0x80000000)))
        if n_neg == 0:
            vals[z] = 0.0
        elif n_neg == n_zero:
            vals[z] = -0.0
        else:
            vals = np.concatenate((vals[:z], np.array([-0.0, 0.0], np.float32), vals[z + 1 :]))
    return vals


def _lossless_labels(as32: np.ndarray, cb: np.ndarray) -> np.ndarray:
    """Each value's index into its own canonical codebook ``cb`` (every value occurs in ``cb``)."""
    labels = np.searchsorted(cb, as32, side="left").astype(np.int64)
    z = int(np.searchsorted(cb, 0.0, side="left"))
    if z + 1 < cb.size and cb[z] == 0 and cb[z + 1] == 0:  # both -0.0 and +0.0: +0.0 is the second slot
        labels += (as32 == 0) & ~np.signbit(as32)
    return labels


def quantize_values(
    values: np.ndarray, code_bits: int, init: str, seed: int, *, drop_zeros: bool,
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Codebook (float32, canonical order), per-value labels, and the mask of values kept.

    Values are first rounded through the tensor's own dtype so that decoding
    reproduces the codebook exactly (a float16 tensor gets float16-representable
    centroids). When the values already have at most 2**code_bits distinct
    float32-representable bit patterns, the codebook is those values: the
    lossless path, which makes re-encoding a decoded file idempotent.
    ``weights`` (one per value, > 0): weighted k-means (``kmeans_1d(sample_weight=...)``)
    when k-means is needed; the lossless path does not depend on them.
    """
    k = 1 << code_bits
    n = values.size
    if n == 0:
        return np.zeros(0, np.float32), np.zeros(0, np.int64), np.zeros(0, bool)
    as32 = values.astype(np.float32)
    exact = values.dtype == np.float32 or values.dtype == np.float16 or np.array_equal(
        as32.astype(values.dtype), values
    )
    xs = np.sort(as32) if exact else None
    if xs is not None and np.isfinite(xs[0]) and np.isfinite(xs[-1]):  # NaN sorts last, +-Inf to the ends
        cb = _distinct_sorted(xs, as32)
        if cb.size <= k:
            return cb, _lossless_labels(as32, cb), np.ones(n, bool)
        # k-means on the same sorted copy; labels from the float32 values (exact, see kmeans._count_below).
        # Equal values are bit-identical except -0.0/+0.0, whose order within the sort is the sort's own
        # business and reaches the centroids through k-means' clipping: with both zeros present, sort the
        # float64 copy as kmeans_1d does, so the bytes do not depend on which array was sorted.
        if weights is not None:  # sorts (value, weight) pairs itself, labels from the same float32 values
            result = kmeans_1d(as32, k, init=init, seed=seed, sample_weight=weights)
        else:
            both_zeros = int(np.count_nonzero(cb == 0)) == 2
            xs64 = np.sort(as32.astype(np.float64)) if both_zeros else xs.astype(np.float64)
            result = kmeans_sorted(xs64, as32, k, init=init, seed=seed)
    else:  # values float32 cannot hold exactly (or NaN/Inf, which k-means rejects)
        result = kmeans_1d(values.astype(np.float64), k, init=init, seed=seed, sample_weight=weights)
    centroids = result.centroids.astype(values.dtype).astype(np.float32)
    cb, remap = canonical_codebook(centroids)
    labels = remap[np.asarray(result.labels, dtype=np.intp)]
    keep = np.ones(n, bool)
    if drop_zeros:
        zero = cb == 0
        if zero.any():
            keep = ~zero[labels]
            labels = labels[keep]
            zero_free = np.bincount(labels, minlength=cb.size) > 0
            cb2, remap2 = canonical_codebook(cb[zero_free])
            lookup = np.full(cb.size, -1, np.int64)
            lookup[zero_free] = remap2
            return cb2, lookup[labels], keep
    used = np.bincount(labels, minlength=cb.size) > 0
    if not used.all():
        lookup = np.cumsum(used) - 1
        return cb[used], lookup[labels], keep
    return cb, labels, keep


__all__ = ["canonical_codebook", "quantize_values"]
