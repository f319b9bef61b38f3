"""Packing to a target: per-layer density and code bits chosen for the smallest file that keeps a fidelity.

``plan_compression(tensors, target_snr=30)`` or ``plan_compression(tensors, target_output=0.99, graph=g,
calib=samples)`` returns a :class:`Plan` whose ``config`` (a ``CompressionConfig``) packs to the chosen
settings; ``plan.layers`` holds each layer's measured curve (estimated bytes and error per candidate).
Modules: ``sizes`` (size model), ``scan`` (per-layer curves), ``output`` (model-output fidelity),
``planner`` (allocation).
"""

from __future__ import annotations

from .output import mean_cosine, top1_agreement
from .planner import LayerPlan, Plan, plan_compression, reconstruct
from .scan import Candidate, tensor_curve

__all__ = ["plan_compression", "Plan", "LayerPlan", "Candidate", "tensor_curve", "reconstruct", "mean_cosine",
           "top1_agreement"]
