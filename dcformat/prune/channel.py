"""Channel (filter) pruning by L1 norm: structured sparsity that removes whole slices.

The L1 norm of an output channel (a slice along ``axis``, by default the first
axis as in Caffe/PyTorch ``(out, in, kh, kw)`` layouts) ranks channels; the
highest-norm channels are kept. The mask marks *whole* channels, so zeros inside
a kept channel stay ``True``; AND it with ``w != 0`` for an element mask.
"""

from __future__ import annotations

import numpy as np

from .magnitude import density_to_count

__all__ = ["channel_l1_norms", "prune_channels_l1"]


def _as_array(w: np.ndarray) -> np.ndarray:
    a = np.asarray(w)
    if a.ndim == 0:
        raise ValueError("channel pruning needs an array with at least one axis")
    if a.dtype.kind not in "biuf":
        raise ValueError(f"cannot prune channels of dtype {a.dtype}")
    return a


def channel_l1_norms(w: np.ndarray, axis: int = 0) -> np.ndarray:
    """Sum of |w| over every axis except ``axis``, in float64 (shape ``(w.shape[axis],)``)."""
    a = _as_array(w)
    axis = _norm_axis(axis, a.ndim)
    mag = np.abs(a.astype(np.float64, copy=False))
    if np.isnan(mag).any():
        raise ValueError("cannot rank channels of an array that contains NaN")
    other = tuple(i for i in range(a.ndim) if i != axis)
    return mag.sum(axis=other) if other else mag


def _norm_axis(axis: int, ndim: int) -> int:
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)):
        raise ValueError(f"axis must be an int, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis} is out of range for an array with {ndim} dims")
    return int(axis) % ndim


def _keep_count(keep: float | int, channels: int) -> int:
    """An int ``keep`` is a channel count (>= 1); a float is a fraction in (0, 1]."""
    if isinstance(keep, (bool, np.bool_)):
        raise ValueError(f"keep must be a fraction in (0, 1] or a count >= 1, got {keep!r}")
    if isinstance(keep, (int, np.integer)):
        if keep < 1:
            raise ValueError(f"keep count must be >= 1, got {keep}")
        return min(int(keep), channels)
    try:
        return density_to_count(keep, channels)
    except ValueError:
        raise ValueError(f"keep must be a fraction in (0, 1] or a count >= 1, got {keep!r}") from None


def prune_channels_l1(w: np.ndarray, keep: float | int, axis: int = 0) -> np.ndarray:
    """Full-shape keep-mask of the channels along ``axis`` with the largest L1 norm.

    ``keep``: an ``int`` count (capped at the channel count) or a ``float``
    fraction in (0, 1] (rounded half-up, at least one channel). Ties in norm go
    to the lower channel index, so the result is deterministic.
    """
    a = _as_array(w)
    ax = _norm_axis(axis, a.ndim)
    channels = a.shape[ax]
    count = _keep_count(keep, channels)
    norms = channel_l1_norms(a, ax)
    order = np.argsort(-norms, kind="stable")  # stable: equal norms stay in index order
    kept = np.zeros(channels, dtype=bool)
    kept[order[:count]] = True
    shape = [1] * a.ndim
    shape[ax] = channels
    return np.broadcast_to(kept.reshape(shape), a.shape).copy()
