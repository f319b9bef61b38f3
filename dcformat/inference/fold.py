"""Load-time graph rewrites that are exact in real arithmetic.

* BatchNorm after a Conv2d/Linear whose output feeds only that BatchNorm is
  folded into the weights and bias (W' = W*s, b' = (b-mean)*s + beta with
  s = gamma/sqrt(var+eps), computed in float64 and rounded once to float32).
* An Add of a per-output-channel constant after such a layer becomes its bias
  (exported Paddle/ONNX graphs often keep conv biases as separate Adds).
* A ReLU / ReLU6 / Clip after a layer is applied in place by that layer, or by
  the MaxPool that follows it (clipping commutes with max; the pooled tensor is smaller).

The results differ from the unfolded graph only by float32 rounding; the
conformance tests bound that difference against onnxruntime.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..graph.core import Graph, Node
from .sparse import Csr

LAYERS = ("Conv2d", "Linear")
ACTS = ("ReLU", "ReLU6", "Clip")


@dataclass
class LNode:
    """A node after folding: op, names, attrs, plus folded weights and a fused activation."""

    op: str
    name: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any]
    weight: np.ndarray | None = None  # layers: (possibly folded) weight
    bias: np.ndarray | None = None
    csr: Csr | None = None  # sparse form of ``weight`` when the file stored one
    act: tuple[str, float | None, float | None] | None = None  # (kind, lo, hi)


def _act_of(node: Node) -> tuple[str, float | None, float | None]:
    if node.op == "ReLU":
        return ("clip", 0.0, None)
    if node.op == "ReLU6":
        return ("clip", 0.0, 6.0)
    return ("clip", node.attrs["min"], node.attrs["max"])


def _channel_vector(c: np.ndarray, channels: int, op: str) -> np.ndarray | None:
    """The per-output-channel vector a constant broadcasts as, or None if it is not one.

    For a conv output (N, C, H, W) that is a constant of shape (1, C, 1, 1) or
    (C, 1, 1) (a plain (C,) would broadcast along W); for a Linear output
    (N, O) it is (O,) or (1, O).
    """
    if c.size != channels:
        return None
    ok_shapes = [(1, channels, 1, 1), (channels, 1, 1)] if op == "Conv2d" else [(channels,), (1, channels)]
    if c.shape not in ok_shapes:
        return None
    return c.reshape(channels).astype(np.float64)


def fold(graph: Graph, consts: dict[str, np.ndarray], csr: dict[str, Csr]) -> list[LNode]:
    """Rewrite the node list; ``consts`` holds float32 tensors (not modified)."""
    nodes = [LNode(n.op, n.name, list(n.inputs), list(n.outputs), dict(n.attrs)) for n in graph.nodes]
    for n in nodes:
        if n.op in LAYERS:
            n.weight = consts[n.inputs[1]]
            n.bias = consts[n.inputs[2]] if len(n.inputs) == 3 else None
            n.csr = csr.get(n.inputs[1])
            n.inputs = n.inputs[:1]
    outputs = {v.name for v in graph.outputs}

    def sole_consumer(value: str) -> int | None:
        users = [i for i, m in enumerate(nodes) if m is not None and value in m.inputs]
        if len(users) != 1 or value in outputs:
            return None
        return users[0]

    changed = True
    while changed:
        changed = False
        for n in nodes:
            if n is None or n.op not in LAYERS or n.act is not None:
                continue
            j = sole_consumer(n.outputs[0])
            if j is None:
                continue
            m = nodes[j]
            channels = n.weight.shape[0]
            if m.op == "BatchNorm" and m.inputs[0] == n.outputs[0]:
                g, beta, mean, var = (consts[k].astype(np.float64) for k in m.inputs[1:])
                s = g / np.sqrt(var + m.attrs["epsilon"])
                shape = (-1,) + (1,) * (n.weight.ndim - 1)
                b = n.bias.astype(np.float64) if n.bias is not None else np.zeros(channels)
                n.weight = (n.weight.astype(np.float64) * s.reshape(shape)).astype(np.float32)
                n.bias = ((b - mean) * s + beta).astype(np.float32)
                if n.csr is not None:
                    n.csr = n.csr.scale_rows(s)
            elif m.op == "Add" and n.outputs[0] in m.inputs and len(set(m.inputs)) == 2 and (
                other := m.inputs[1 - m.inputs.index(n.outputs[0])]
            ) in consts:
                vec = _channel_vector(consts[other], channels, n.op)
                if vec is None:
                    continue
                b = n.bias.astype(np.float64) if n.bias is not None else np.zeros(channels)
                n.bias = (b + vec).astype(np.float32)
            elif m.op in ACTS:
                n.act = _act_of(Node(m.op, m.name, m.inputs, m.outputs, m.attrs))
                k = sole_consumer(m.outputs[0])
                if k is not None and nodes[k].op == "MaxPool" and nodes[k].act is None:
                    # clip is monotone, so max(clip(x)) == clip(max(x)): clip the pooled (smaller) tensor
                    nodes[k].act, n.act = n.act, None
            else:
                continue
            n.outputs = m.outputs
            nodes[j] = None  # type: ignore[call-overload]
            changed = True
    return [n for n in nodes if n is not None]
