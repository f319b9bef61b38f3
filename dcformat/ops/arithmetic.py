"""Add, Sub, Mul, Div: elementwise with NumPy/ONNX broadcasting (spec/GRAPH.md §4).

An Add of a per-output-channel constant after a Conv2d/Linear becomes that
layer's bias (exported Paddle/ONNX graphs often keep conv biases as separate Adds).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ._base import NHWC, PLAIN, OpDef, Shape, emit_as
from ._shape import broadcast

if TYPE_CHECKING:
    from ..graph.core import Node
    from ..inference.fold import LNode
    from ..inference.plan import Planner
    from ..onnx_io import OnnxExporter

UFUNCS = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}


def shape(node: Node, ins: list[Shape]) -> list[Shape]:
    return [broadcast(node, ins[0], ins[1])]


def plan(P: Planner, n: LNode) -> None:
    """One ufunc call, in NHWC when a rank-4 operand already is; may overwrite an input nothing reads later."""
    out = n.outputs[0]
    r_out = P.rank(out)
    vals = [v for v in n.inputs if not P.is_const(v)]
    want = PLAIN
    if r_out == 4 and all(P.rank(v) == 4 for v in vals) and any(P.layout[v] == NHWC for v in vals):
        want = NHWC
    keys = [P.const_key(v, want, r_out if want == NHWC else None) if P.is_const(v) else P.need(v, want) for v in n.inputs]
    ufunc = UFUNCS[n.op]
    shape_out = P.shapes[out]
    reusable = tuple(i for i, v in enumerate(n.inputs) if not P.is_const(v) and P.shapes[v] == shape_out and None not in shape_out)

    def make(reuse: int | None) -> Callable[[Any], None]:
        def run(env: Any) -> None:
            a, b = env[keys[0]], env[keys[1]]
            env[out] = ufunc(a, b, out=None if reuse is None else (a, b)[reuse])

        return run

    P.emit(n.name, keys, [out], want, make, reusable=reusable)


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


def fold_add(layer: LNode, m: LNode, consts: dict[str, np.ndarray]) -> bool:
    """Add of a per-output-channel constant to the layer's output -> the layer's bias."""
    if layer.outputs[0] not in m.inputs or len(set(m.inputs)) != 2:
        return False
    other = m.inputs[1 - m.inputs.index(layer.outputs[0])]
    if other not in consts:
        return False
    channels = layer.weight.shape[0]
    vec = _channel_vector(consts[other], channels, layer.op)
    if vec is None:
        return False
    b = layer.bias.astype(np.float64) if layer.bias is not None else np.zeros(channels)
    layer.bias = (b + vec).astype(np.float32)
    return True


def to_onnx(ex: OnnxExporter, n: Node) -> None:
    ex.node(n.op, n.inputs, n.outputs, n.name)


OPS = [
    OpDef(op, (2, 2), shape=shape, plan=plan, to_onnx=to_onnx, from_onnx={op: emit_as(op)}, fold=fold_add if op == "Add" else None)
    for op in ("Add", "Sub", "Mul", "Div")
]
