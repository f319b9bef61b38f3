"""Importance-aware pruning (Wanda-style): keep the weights whose removal would change the outputs most.

For a linear layer y = W x the output change from zeroing W[i, j] is W[i, j]·x_j,
whose mean square over calibration inputs is W[i, j]²·E[x_j²]. So the score
|w|·sqrt(importance), with ``importance`` = E[x_j²] broadcast over the weight, ranks
weights by the output error their removal causes, where plain |w| ignores that a
few input channels carry far larger activations than the rest (Sun et al. 2023,
"Wanda"; the same observation drives GPTQ/AWQ). With a constant importance the
mask is exactly ``prune_to_density``'s.

Deterministic like magnitude pruning: exactly ``density_to_count(density, n)``
weights kept (capped at the nonzeros), score ties at the cut to the lower flat index.
"""

from __future__ import annotations

import numpy as np

from .magnitude import density_to_count, keep_largest, magnitudes


def importance_weights(importance: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``importance`` broadcast to ``shape`` and flattened (float64, C order); checked finite and >= 0."""
    imp = np.asarray(importance, dtype=np.float64)
    try:
        full = np.broadcast_to(imp, shape)
    except ValueError:
        raise ValueError(f"importance of shape {imp.shape} does not broadcast to the tensor's shape {shape}") from None
    if not np.isfinite(imp).all() or (imp.size and float(imp.min()) < 0):
        raise ValueError("importance must be finite and >= 0")
    return np.ascontiguousarray(full).reshape(-1)


def importance_scores(w: np.ndarray, importance: np.ndarray) -> np.ndarray:
    """|w|·sqrt(importance), flattened in C order (float64)."""
    a = np.asarray(w)
    mag = magnitudes(a).astype(np.float64)
    return mag * np.sqrt(importance_weights(importance, a.shape))


def prune_by_importance(w: np.ndarray, density: float, importance: np.ndarray) -> np.ndarray:
    """Keep-mask of the ``density_to_count(density, w.size)`` nonzero weights with the largest |w|·sqrt(importance).

    Weights whose score is 0 (an input that is never active) are kept only if the count demands it, after every
    positive score, lowest index first. Zeros are never kept.
    """
    a = np.asarray(w)
    return keep_largest(importance_scores(a, importance), magnitudes(a) != 0,
                        density_to_count(density, a.size)).reshape(a.shape)


__all__ = ["importance_weights", "importance_scores", "prune_by_importance"]
