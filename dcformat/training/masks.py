"""Pruning masks that stay in force while a network is retrained (paper §2, §5).

A pruned weight must stay exactly zero through retraining: its gradient is
zeroed before the optimiser sees it and the weight is zeroed again after the
step (momentum or Adam state could otherwise move it). Masks come from
``dcformat.prune`` so training and the encoder agree on which weights survive.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from dcformat.prune import prune_to_density

__all__ = ["MaskSet", "density_schedule"]

Arrays = dict[str, np.ndarray]


class MaskSet:
    """Boolean keep-masks by parameter name; names without a mask are left alone."""

    def __init__(self, masks: Mapping[str, np.ndarray] | None = None) -> None:
        self.masks: dict[str, np.ndarray] = {k: np.asarray(v, dtype=bool) for k, v in (masks or {}).items()}

    @classmethod
    def from_densities(cls, params: Mapping[str, np.ndarray], densities: Mapping[str, float],
                       previous: "MaskSet | None" = None) -> "MaskSet":
        """Keep the largest-magnitude fraction ``densities[name]`` of each named weight.

        With ``previous``, pruned weights stay pruned (they are zero, and
        ``prune_to_density`` never keeps a zero), so iterative pruning only removes.
        """
        masks = {}
        for name, density in densities.items():
            w = params[name]
            if previous is not None and name in previous.masks:
                w = np.where(previous.masks[name], w, 0)
            masks[name] = prune_to_density(w, density)
        return cls(masks)

    def apply(self, params: Arrays) -> None:
        """Zero pruned weights in place."""
        for name, mask in self.masks.items():
            params[name] *= mask

    def mask_grads(self, grads: Arrays) -> None:
        """Zero the gradients of pruned weights in place."""
        for name, mask in self.masks.items():
            if name in grads:
                grads[name] *= mask

    def density(self, name: str) -> float:
        """Fraction of ``name``'s weights kept."""
        return float(np.mean(self.masks[name]))

    def overall_density(self, names: Iterable[str] | None = None) -> float:
        """Kept fraction over all (or the given) masked weights together."""
        chosen = [self.masks[n] for n in (names if names is not None else self.masks)]
        return sum(int(m.sum()) for m in chosen) / sum(m.size for m in chosen)

    def __contains__(self, name: object) -> bool:
        return name in self.masks


def density_schedule(final: Mapping[str, float], steps: int) -> list[dict[str, float]]:
    """Densities for ``steps`` prune -> retrain rounds, geometric from 1.0 to ``final``.

    Han et al. prune iteratively because one big cut loses accuracy that retraining
    cannot always win back; equal ratios per round remove a constant share each time.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    out = []
    for s in range(1, steps + 1):
        out.append({name: float(d ** (s / steps)) for name, d in final.items()})
    out[-1] = {name: float(d) for name, d in final.items()}  # exact final value
    return out
