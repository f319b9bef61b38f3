"""Shared-weight training (paper §3.3): weights tied to a per-layer codebook.

After k-means, every surviving weight ``W[i]`` is ``C[I[i]]``. Training then
updates the centroids, not the weights: by the chain rule
``dL/dC_k = sum_i dL/dW_i * 1(I_i == k)`` (eq. 3), which
``dcformat.quantize.centroid_gradients`` computes. Pruned positions carry label
-1, stay exactly zero and contribute no gradient.

The codebook is float32, the dtype the file stores, so the trained weights are
exactly the values a lossless save (``density=None``, ``code_bits`` >= log2 k)
writes and reads back.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from dcformat.quantize import centroid_gradients, finetune_centroids, kmeans_1d

__all__ = ["SharedWeight", "SharedWeightSet"]


@dataclass
class SharedWeight:
    """One layer's codebook (float32, k entries) and labels (weight's shape, -1 = pruned)."""

    codebook: np.ndarray
    labels: np.ndarray

    @classmethod
    def from_weight(cls, w: np.ndarray, k: int, *, mask: np.ndarray | None = None,
                    init: str = "linear", seed: int = 0, max_iter: int = 100) -> "SharedWeight":
        """Cluster the kept (nonzero, and inside ``mask``) weights of ``w`` into ``k`` centroids."""
        w = np.asarray(w)
        keep = w != 0 if mask is None else (np.asarray(mask, bool) & (w != 0))
        labels = np.full(w.shape, -1, dtype=np.int64)
        kept = w[keep].astype(np.float64)
        if kept.size == 0:
            return cls(np.zeros(0, np.float32), labels)
        result = kmeans_1d(kept, min(k, kept.size), init=init, seed=seed, max_iter=max_iter)
        labels[keep] = np.asarray(result.labels, dtype=np.int64)
        return cls(np.asarray(result.centroids, dtype=np.float32).copy(), labels)

    @property
    def k(self) -> int:
        return int(self.codebook.size)

    def weight(self) -> np.ndarray:
        """The dense weight: ``codebook[label]`` where kept, 0 where pruned."""
        table = np.append(self.codebook, np.float32(0.0))  # label -1 picks the trailing 0
        return table[self.labels]

    def centroid_grad(self, weight_grad: np.ndarray) -> np.ndarray:
        """Eq. 3: per-centroid sum of the gradients of the weights tied to it."""
        g = centroid_gradients(self.labels, weight_grad, self.k)
        return np.asarray(g, dtype=self.codebook.dtype)

    def sgd_step(self, weight_grad: np.ndarray, lr: float) -> None:
        """Plain SGD on the centroids (the paper's Fig. 3), via ``finetune_centroids``."""
        self.codebook = np.asarray(
            finetune_centroids(self.codebook, self.labels, weight_grad, lr), dtype=np.float32
        )


class SharedWeightSet(Mapping[str, SharedWeight]):
    """Shared weights by parameter name; other parameters train as usual."""

    def __init__(self, layers: Mapping[str, SharedWeight]) -> None:
        self._layers = dict(layers)

    @classmethod
    def quantize(cls, params: Mapping[str, np.ndarray], bits: Mapping[str, int], *,
                 masks: Mapping[str, np.ndarray] | None = None, init: str = "linear",
                 seed: int = 0) -> "SharedWeightSet":
        """k-means each named weight into ``2**bits[name]`` centroids."""
        return cls({
            name: SharedWeight.from_weight(params[name], 2 ** b,
                                           mask=None if masks is None else masks.get(name),
                                           init=init, seed=seed)
            for name, b in bits.items()
        })

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._layers)

    def __getitem__(self, name: str) -> SharedWeight:
        return self._layers[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._layers)

    def __len__(self) -> int:
        return len(self._layers)

    def materialize(self, params: dict[str, np.ndarray]) -> None:
        """Write every shared layer's dense weight into ``params`` (in place when shapes allow)."""
        for name, layer in self._layers.items():
            params[name][...] = layer.weight()

    def centroid_grads(self, grads: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Centroid gradients for every shared layer that has a weight gradient."""
        return {name: layer.centroid_grad(grads[name]) for name, layer in self._layers.items() if name in grads}
