"""Pruning stage: boolean keep-masks from weight magnitudes or importance scores (element-wise) or channel L1 norms."""

from __future__ import annotations

from .channel import channel_l1_norms, prune_channels_l1
from .importance import importance_scores, importance_weights, prune_by_importance
from .magnitude import density_to_count, magnitudes, prune_by_threshold, prune_to_density

__all__ = [
    "channel_l1_norms",
    "importance_scores",
    "importance_weights",
    "prune_by_importance",
    "density_to_count",
    "magnitudes",
    "prune_by_threshold",
    "prune_channels_l1",
    "prune_to_density",
]
