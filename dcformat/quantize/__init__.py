"""Quantization stage: 1-D k-means weight sharing and gradient-sharing centroid fine-tuning."""

from __future__ import annotations

from .finetune import centroid_gradients, finetune_centroids
from .kmeans import INITS, KMeansResult, initial_centroids, kmeans_1d

__all__ = [
    "INITS",
    "KMeansResult",
    "centroid_gradients",
    "finetune_centroids",
    "initial_centroids",
    "kmeans_1d",
]
