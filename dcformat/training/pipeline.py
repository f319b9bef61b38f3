"""The two training stages of Deep Compression as reusable functions.

``prune_retrain``: iterative magnitude pruning, each round followed by retraining
with the masks in force (paper §2). ``quantize_finetune``: per-layer k-means, then
centroid fine-tuning with eq. 3 gradients while biases keep training (paper §3).
Both take any :class:`~dcformat.training.nets.Net` and training arrays, and log
through an optional callback, so the reproduction script stays a thin driver.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from .loop import train
from .masks import MaskSet, density_schedule
from .nets import Net, Params
from .optim import SGD
from .shared_weights import SharedWeightSet

__all__ = ["cosine_schedule", "prune_retrain", "quantize_finetune"]

Log = Callable[[str], None]


def cosine_schedule(lr: float, epochs: int, floor: float = 0.01) -> list[float]:
    """Per-epoch learning rates falling from ``lr`` to ``floor*lr`` along a half cosine."""
    return [float(lr * (floor + (1 - floor) * 0.5 * (1 + np.cos(np.pi * e / epochs)))) for e in range(epochs)]


def prune_retrain(
    net: Net,
    params: Params,
    x: np.ndarray,
    y: np.ndarray,
    densities: Mapping[str, float],
    *,
    rounds: int,
    epochs: int,
    lr: float,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    batch_size: int = 64,
    seed: int = 0,
    log: Log | None = None,
    evaluate: Callable[[Params], float] | None = None,
) -> MaskSet:
    """Prune ``params`` (in place) to ``densities`` over ``rounds`` rounds of ``epochs`` retraining each."""
    masks: MaskSet | None = None
    for r, step in enumerate(density_schedule(densities, rounds)):
        masks = MaskSet.from_densities(params, step, previous=masks)
        masks.apply(params)
        before = evaluate(params) if evaluate is not None else None
        opt = SGD(lr, momentum, weight_decay=weight_decay)
        train(net, params, x, y, optimizer=opt, epochs=epochs, batch_size=batch_size,
              lr_schedule=cosine_schedule(lr, epochs), masks=masks, seed=seed + r)
        if log is not None:
            kept = ", ".join(f"{n} {100 * masks.density(n):.1f}%" for n in step)
            score = "" if evaluate is None else f"; score {before:.4f} -> {evaluate(params):.4f}"
            log(f"prune round {r + 1}/{rounds}: {kept}{score}")
    assert masks is not None
    return masks


def quantize_finetune(
    net: Net,
    params: Params,
    x: np.ndarray,
    y: np.ndarray,
    bits: Mapping[str, int],
    *,
    epochs: int,
    lr: float,
    momentum: float = 0.9,
    batch_size: int = 64,
    init: str = "linear",
    seed: int = 0,
    log: Log | None = None,
    evaluate: Callable[[Params], float] | None = None,
) -> SharedWeightSet:
    """Share each named weight's values (``2**bits`` centroids) and fine-tune; ``params`` updated in place.

    Zeros stay zero (they are pruned, label -1). The centroids and the other
    parameters (biases) are trained together with SGD; the returned set holds the
    final codebooks and labels.
    """
    shared = SharedWeightSet.quantize(params, bits, init=init, seed=seed)
    shared.materialize(params)
    before = evaluate(params) if evaluate is not None else None
    if epochs > 0:
        opt = SGD(lr, momentum)
        train(net, params, x, y, optimizer=opt, epochs=epochs, batch_size=batch_size,
              lr_schedule=cosine_schedule(lr, epochs), shared=shared, seed=seed)
    if log is not None:
        ks = ", ".join(f"{n} k={shared[n].k}" for n in shared)
        score = "" if evaluate is None else f"; score {before:.4f} -> {evaluate(params):.4f}"
        log(f"quantized {ks}; fine-tuned {epochs} epochs{score}")
    return shared
