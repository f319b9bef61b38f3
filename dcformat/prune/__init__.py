"""Pruning stage: boolean keep-masks from weight magnitudes (element-wise) or channel L1 norms."""

from __future__ import annotations

from .channel import channel_l1_norms, prune_channels_l1
from .magnitude import density_to_count, magnitudes, prune_by_threshold, prune_to_density

__all__ = [
    "channel_l1_norms",
    "density_to_count",
    "magnitudes",
    "prune_by_threshold",
    "prune_channels_l1",
    "prune_to_density",
]
