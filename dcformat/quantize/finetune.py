"""Centroid fine-tuning by gradient sharing (Deep Compression §3.3, eq. 3).

With shared weights ``W = C[I]``, the gradient of the loss with respect to a
centroid is the sum of the weight gradients of the positions that use it:
``dL/dC_k = sum_{i,j} dL/dW_ij * 1(I_ij = k)``. Positions with a negative label
are pruned (they hold no centroid) and contribute nothing.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np

__all__ = ["centroid_gradients", "finetune_centroids"]


def centroid_gradients(labels: np.ndarray, grad: np.ndarray, k: int) -> np.ndarray:
    """Eq. 3: per-centroid sums of ``grad`` grouped by ``labels`` (float64, length k).

    ``labels`` and ``grad`` must have the same shape; labels < 0 are ignored and a
    label >= k raises ``ValueError``.
    """
    if isinstance(k, bool) or not isinstance(k, Integral) or k < 0:
        raise ValueError(f"k must be an int >= 0, got {k!r}")
    lab = np.asarray(labels)
    g = np.asarray(grad)
    if lab.shape != g.shape:
        raise ValueError(f"labels shape {lab.shape} differs from grad shape {g.shape}")
    if lab.dtype.kind not in "iu":
        raise ValueError(f"labels must be integers, got dtype {lab.dtype}")
    if g.dtype.kind not in "biuf":
        raise ValueError(f"grad must be real, got dtype {g.dtype}")
    lab = lab.ravel()
    g = g.ravel()
    used = lab >= 0
    if not used.all():
        lab = lab[used]
        g = g[used]
    if lab.size and int(lab.max()) >= k:
        raise ValueError(f"label {int(lab.max())} is out of range for {k} centroids")
    sums = np.bincount(lab.astype(np.intp, copy=False), weights=g.astype(np.float64, copy=False), minlength=k)
    return sums.astype(np.float64, copy=False)  # bincount gives int64 when there are no weights at all


def finetune_centroids(codebook: np.ndarray, labels: np.ndarray, grad: np.ndarray, lr: float) -> np.ndarray:
    """One SGD step on the shared values: ``codebook - lr * centroid_gradients(...)``.

    Returns a new array with the codebook's dtype; the input is not modified.
    """
    cb = np.asarray(codebook)
    if cb.ndim != 1:
        raise ValueError(f"codebook must be 1-D, got shape {cb.shape}")
    if cb.dtype.kind != "f":
        raise ValueError(f"codebook must be a float array, got dtype {cb.dtype}")
    if isinstance(lr, bool) or not isinstance(lr, Real) or not math.isfinite(lr):
        raise ValueError(f"lr must be a finite real number, got {lr!r}")
    step = float(lr) * centroid_gradients(labels, grad, cb.size)
    return (cb.astype(np.float64) - step).astype(cb.dtype)
