"""Error-compensating assignment of weights to a fixed codebook (GPTQ's rounding, Frantar et al. 2023).

Nearest-centroid labels minimise each weight's own error; what a linear layer
y = W x loses is the output error, whose expectation per row is ΔWᵢ H ΔWᵢᵀ with
H = E[x xᵀ] over calibration inputs. GPTQ rounds the columns in order and, after
each, moves the error it made onto the columns not yet rounded, in the direction
H says cancels it best (via the upper Cholesky factor of H⁻¹). Here the "grid" is
the tensor's k-means codebook, so the result is still one shared codebook per
tensor and per-weight labels: the file format does not change, only which label
each weight gets. Pruned positions (``keep`` False) are held at exactly 0 and
their error is compensated like any other (SparseGPT's idea with a fixed mask).

H is damped by ``damp`` · mean(diag H) on its diagonal (a calibration set smaller
than the layer's input width gives a singular H). Deterministic for a given
H on a given machine; the Cholesky factorisation is LAPACK's, so bit-exact labels
across machines assume the same LAPACK results (a label can only change where a
weight sits within rounding error of a decision boundary).
"""

from __future__ import annotations

import numpy as np

DAMP = 0.1  # GPTQ uses 0.01 with ~250k calibration tokens; a few thousand (typical here) overfit with it
BLOCK = 128


def compensable(shape: tuple[int, ...]) -> bool:
    """Whether a weight of this shape is a linear map of one input vector, so E[x xᵀ] of that vector prices its
    output error: a (out, in) matrix, or a 1x1 convolution (out, in, 1, 1), a Linear applied at every pixel."""
    shape = tuple(int(s) for s in shape)
    return len(shape) == 2 or (len(shape) == 4 and shape[2:] == (1, 1))


def hessian_factor(h: np.ndarray, damp: float = DAMP) -> np.ndarray:
    """Upper Cholesky factor U of (H + damp·mean(diag H)·I)⁻¹ (so that the inverse is Uᵀ U)."""
    h = np.array(h, dtype=np.float64)
    if h.ndim != 2 or h.shape[0] != h.shape[1] or not np.isfinite(h).all():
        raise ValueError(f"hessian must be a finite square matrix, got shape {h.shape}")
    n = h.shape[0]
    diag = np.diag(h).copy()
    dead = diag <= 0  # inputs never active: their weights cannot matter; keep H invertible
    h[dead, dead] = 1.0
    mean = float(np.mean(np.diag(h))) if n else 1.0
    h[np.diag_indices(n)] += damp * mean
    inv = np.linalg.inv(h)
    inv = 0.5 * (inv + inv.T)
    return np.linalg.cholesky(inv).T


def compensated_labels(w: np.ndarray, keep: np.ndarray, codebook: np.ndarray, h: np.ndarray | None,
                       damp: float = DAMP, factor: np.ndarray | None = None) -> np.ndarray:
    """Codebook index for every weight of the (rows, cols) matrix ``w`` (-1 where ``keep`` is False).

    ``codebook``: sorted, distinct float values; ``h``: (cols, cols) second-moment matrix of the inputs
    (or ``factor``, its ``hessian_factor``, when the caller reuses one).
    """
    w = np.array(w, dtype=np.float64)
    rows, cols = w.shape
    shape = factor.shape if factor is not None else np.shape(h)
    if shape != (cols, cols):
        raise ValueError(f"hessian shape {shape} does not match the weight's {cols} input columns")
    cb = np.asarray(codebook, dtype=np.float64)
    mids = 0.5 * cb[:-1] + 0.5 * cb[1:]
    u = factor if factor is not None else hessian_factor(h, damp)
    labels = np.full((rows, cols), -1, np.int64)
    for b0 in range(0, cols, BLOCK):  # GPTQ's lazy batch updates: columns in blocks, the rest updated once per block
        b1 = min(b0 + BLOCK, cols)
        errs = np.empty((rows, b1 - b0))
        for j in range(b0, b1):
            col = w[:, j]
            k = keep[:, j]
            lab = np.searchsorted(mids, col, side="left")  # a value on a midpoint goes to the lower centroid
            q = np.where(k, cb[lab], 0.0)
            labels[:, j] = np.where(k, lab, -1)
            err = (col - q) / u[j, j]
            errs[:, j - b0] = err
            if j + 1 < b1:
                w[:, j + 1:b1] -= err[:, None] * u[j, j + 1:b1][None, :]
        if b1 < cols:
            w[:, b1:] -= errs @ u[b0:b1, b1:]
    return labels


def compensated_quantize(w: np.ndarray, keep: np.ndarray, codebook: np.ndarray, h: np.ndarray,
                         damp: float = DAMP) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(codebook of the entries used, their labels, flat C-order positions) of the nonzero stored weights.

    Weights whose compensated label points at a zero centroid are dropped (stored as pruned), as the
    nearest-centroid quantizer drops them; unused codebook entries are removed (order kept).
    """
    cb = np.asarray(codebook)
    w = np.asarray(w)
    if not compensable(w.shape):
        raise ValueError(f"error-compensating rounding needs a (out, in) matrix or a 1x1 convolution, got shape {w.shape}")
    w = w.reshape(w.shape[0], -1)  # a 1x1 convolution's (out, in) view: the same C-order positions
    labels = compensated_labels(w, np.asarray(keep).reshape(w.shape), cb, h, damp).reshape(-1)
    pos = np.flatnonzero(labels >= 0)
    lab = labels[pos]
    nonzero = cb[lab] != 0
    pos, lab = pos[nonzero], lab[nonzero]
    used = np.bincount(lab, minlength=cb.size) > 0
    remap = np.cumsum(used) - 1
    return cb[used], remap[lab], pos


__all__ = ["compensable", "compensated_labels", "compensated_quantize", "hessian_factor", "DAMP"]
