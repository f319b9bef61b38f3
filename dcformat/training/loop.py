"""Minibatch training loop shared by baseline training, retraining and centroid fine-tuning.

One loop serves all three stages of the pipeline: ``masks`` keep pruned weights
at zero (prune -> retrain), and ``shared`` swaps a weight matrix for its codebook
so the optimiser updates centroids with eq. 3 gradients (quantize -> fine-tune).
Shuffling uses one seeded generator, so a run is reproducible.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .masks import MaskSet
from .nets import Net, Params, softmax_cross_entropy
from .optim import Optimizer
from .shared_weights import SharedWeightSet

__all__ = ["train"]


def train(
    net: Net,
    params: Params,
    x: np.ndarray,
    y: np.ndarray,
    *,
    optimizer: Optimizer,
    epochs: int,
    batch_size: int = 64,
    lr_schedule: Sequence[float] | None = None,
    masks: MaskSet | None = None,
    shared: SharedWeightSet | None = None,
    seed: int = 0,
    on_epoch: Callable[[int, float], None] | None = None,
) -> list[float]:
    """Train ``params`` in place for ``epochs``; returns the mean training loss per epoch.

    ``lr_schedule[e]`` (if given) sets the optimiser's learning rate for epoch ``e``.
    Names in ``shared`` are not trained directly: their codebooks are, and the
    weights are rebuilt from them after every step.
    """
    rng = np.random.default_rng(seed)
    if masks is not None:
        masks.apply(params)
    if shared is not None:
        shared.materialize(params)
    targets: Params = dict(params)
    if shared is not None:
        for name in shared.names:
            targets[name] = shared[name].codebook
    losses = []
    n = len(x)
    for epoch in range(epochs):
        if lr_schedule is not None:
            optimizer.lr = float(lr_schedule[epoch])
        order = rng.permutation(n)
        total = 0.0
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            logits, cache = net.forward(params, x[idx])
            loss, dlogits = softmax_cross_entropy(logits, y[idx])
            total += loss * len(idx)
            grads = net.backward(params, cache, dlogits)
            if masks is not None:
                masks.mask_grads(grads)
            if shared is not None:
                grads.update(shared.centroid_grads(grads))
            optimizer.step(targets, grads)
            if masks is not None:
                masks.apply(params)
            if shared is not None:
                shared.materialize(params)
        losses.append(total / n)
        if on_epoch is not None:
            on_epoch(epoch, losses[-1])
    return losses
