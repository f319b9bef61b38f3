"""Per-layer pruning sensitivity scan: accuracy against density, one layer at a time.

Han et al. choose each layer's density from such a curve (prune one layer,
leave the others dense, measure, no retraining). The evaluation is a callback,
so the scan works for any framework; ``choose_densities`` then picks, per
layer, the smallest density whose accuracy loss stays within a tolerance.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np

from dcformat.prune import prune_to_density

__all__ = ["choose_densities", "sensitivity_scan"]

Params = dict[str, np.ndarray]


def sensitivity_scan(
    params: Mapping[str, np.ndarray],
    names: Iterable[str],
    densities: Sequence[float],
    evaluate: Callable[[Params], float],
) -> dict[str, list[tuple[float, float]]]:
    """``{name: [(density, score), ...]}`` with only ``name`` pruned to each density.

    ``evaluate`` gets a full parameter dict (a shallow copy; only the scanned layer
    is replaced) and returns a score where higher is better, e.g. validation accuracy.
    ``params`` is never modified.
    """
    scan: dict[str, list[tuple[float, float]]] = {}
    for name in names:
        w = params[name]
        curve = []
        for d in densities:
            trial = dict(params)
            trial[name] = np.where(prune_to_density(w, d), w, np.zeros((), w.dtype))
            curve.append((float(d), float(evaluate(trial))))
        scan[name] = curve
    return scan


def choose_densities(
    scan: Mapping[str, Sequence[tuple[float, float]]], reference: float, tolerance: float
) -> dict[str, float]:
    """Per layer, the smallest scanned density scoring at least ``reference - tolerance``.

    A layer with no such density gets 1.0 (leave it dense).
    """
    chosen = {}
    for name, curve in scan.items():
        ok = [d for d, score in curve if score >= reference - tolerance]
        chosen[name] = min(ok) if ok else 1.0
    return chosen
