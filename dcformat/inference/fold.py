"""Load-time graph rewrites that are exact in real arithmetic.

* BatchNorm after a Conv2d/Linear whose output feeds only that BatchNorm is
  folded into the weights and bias (W' = W*s, b' = (b-mean)*s + beta with
  s = gamma/sqrt(var+eps), computed in float64 and rounded once to float32).
* An Add of a per-output-channel constant after such a layer becomes its bias
  (exported Paddle/ONNX graphs often keep conv biases as separate Adds).
* A ReLU / ReLU6 / Clip after a layer is applied in place by that layer, or by
  the MaxPool that follows it (clipping commutes with max; the pooled tensor is smaller).

The results differ from the unfolded graph only by float32 rounding; the
conformance tests bound that difference against onnxruntime. What folds into
a layer, and how, is each op's ``fold`` / ``clip`` rule (``dcformat/ops/``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..graph.core import Graph
from ..ops import LAYERS, OPS
from .sparse import Csr

Act = tuple[str, float | None, float | None]  # a fused clamp: ("clip", lo, hi)


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
    act: Act | None = None  # fused clamp (kind, lo, hi)


def fold(graph: Graph, consts: dict[str, np.ndarray], csr: dict[str, Csr]) -> list[LNode]:
    """Rewrite the node list; ``consts`` holds float32 tensors (not modified)."""
    nodes = [LNode(n.op, n.name, list(n.inputs), list(n.outputs), dict(n.attrs)) for n in graph.nodes]
    for n in nodes:
        if n.op in LAYERS:  # stored weight and optional bias move out of the input list
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
            spec = OPS[m.op]
            if spec.clip is not None:
                n.act = ("clip", *spec.clip(m.attrs))
                k = sole_consumer(m.outputs[0])
                if k is not None and OPS[nodes[k].op].commutes_with_clip and nodes[k].act is None:
                    # clip is monotone, so max(clip(x)) == clip(max(x)): clip the pooled (smaller) tensor
                    nodes[k].act, n.act = n.act, None
            elif spec.fold is None or not spec.fold(n, m, consts):
                continue
            n.outputs = m.outputs
            nodes[j] = None  # type: ignore[call-overload]
            changed = True
    return [n for n in nodes if n is not None]
