"""Codebooks in the format's canonical order, from exact values (lossless) or from k-means (spec §5.2, §11)."""

from __future__ import annotations

import numpy as np

from .kmeans import kmeans_1d


def canonical_codebook(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct float32 values (by bit pattern, -0.0 before +0.0) and each input's index into them."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    uniq, inverse = np.unique(bits, return_inverse=True)
    vals = uniq.view(np.float32)
    order = np.lexsort((~np.signbit(vals), vals))
    rank = np.empty(order.size, np.int64)
    rank[order] = np.arange(order.size)
    return vals[order], rank[inverse.reshape(-1)]


def quantize_values(
    values: np.ndarray, code_bits: int, init: str, seed: int, *, drop_zeros: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Codebook (float32, canonical order), per-value labels, and the mask of values kept.

    Values are first rounded through the tensor's own dtype so that decoding
    reproduces the codebook exactly (a float16 tensor gets float16-representable
    centroids). When the values already have at most 2**code_bits distinct
    float32-representable bit patterns, the codebook is those values: the
    lossless path, which makes re-encoding a decoded file idempotent.
    """
    k = 1 << code_bits
    n = values.size
    if n == 0:
        return np.zeros(0, np.float32), np.zeros(0, np.int64), np.zeros(0, bool)
    as32 = values.astype(np.float32)
    exact = values.dtype == np.float32 or values.dtype == np.float16 or np.array_equal(
        as32.astype(values.dtype), values
    )
    if exact:
        cb, labels = canonical_codebook(as32)
        if cb.size <= k:
            return cb, labels, np.ones(n, bool)
    result = kmeans_1d(values.astype(np.float64), k, init=init, seed=seed)
    centroids = result.centroids.astype(values.dtype).astype(np.float32)
    cb, remap = canonical_codebook(centroids)
    labels = remap[np.asarray(result.labels, dtype=np.int64)]
    keep = np.ones(n, bool)
    if drop_zeros:
        zero = np.flatnonzero(cb == 0)
        if zero.size:
            keep = ~np.isin(labels, zero)
            cb2, remap2 = canonical_codebook(cb[np.unique(labels[keep])])
            lookup = np.full(cb.size, -1, np.int64)
            lookup[np.unique(labels[keep])] = remap2
            return cb2, lookup[labels[keep]], keep
    used = np.bincount(labels, minlength=cb.size) > 0
    if not used.all():
        lookup = np.cumsum(used) - 1
        return cb[used], lookup[labels], keep
    return cb, labels, keep


__all__ = ["canonical_codebook", "quantize_values"]
