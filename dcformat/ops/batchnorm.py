"""BatchNorm (inference form): (x − mean)/√(var+ε)·scale + bias over axis 1 (spec/GRAPH.md §4, §6).

Folded into a preceding Conv2d/Linear whose output feeds only it (W' = W·s,
b' = (b − mean)·s + beta with s = scale/√(var+ε), in float64, rounded once);
otherwise one multiply-add step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ._base import NHWC, PLAIN, Attr, OpDef, Shape
from ._shape import fail, same

if TYPE_CHECKING:
    from ..graph.core import Node
    from ..inference.fold import LNode
    from ..inference.plan import Planner
    from ..onnx_io import OnnxExporter, OnnxImporter

F32 = np.float32


def shape(node: Node, ins: list[Shape]) -> list[Shape]:
    x = ins[0]
    if len(x) < 2:
        raise fail(node, f"input must have rank >= 2, got {x}")
    for i, s in enumerate(ins[1:], 1):
        if len(s) != 1:
            raise fail(node, f"parameter {i} must have rank 1, got {s}")
        same(node, x[1], s[0], f"channels vs parameter {i}")
    return [x]


def fold(layer: LNode, m: LNode, consts: dict[str, np.ndarray]) -> bool:
    if m.inputs[0] != layer.outputs[0]:
        return False
    g, beta, mean, var = (consts[k].astype(np.float64) for k in m.inputs[1:])
    s = g / np.sqrt(var + m.attrs["epsilon"])
    channels = layer.weight.shape[0]
    shape_ = (-1,) + (1,) * (layer.weight.ndim - 1)
    b = layer.bias.astype(np.float64) if layer.bias is not None else np.zeros(channels)
    layer.weight = (layer.weight.astype(np.float64) * s.reshape(shape_)).astype(np.float32)
    layer.bias = ((b - mean) * s + beta).astype(np.float32)
    if layer.csr is not None:
        layer.csr = layer.csr.scale_rows(s)
    return True


def plan(P: Planner, n: LNode) -> None:
    g, beta, mean, var = (P.consts[k].astype(np.float64) for k in n.inputs[1:])
    s = g / np.sqrt(var + n.attrs["epsilon"])
    t = beta - mean * s
    v = n.inputs[0]
    key = P.source(v)
    r = P.rank(v)
    lay = P.layout.get(key, PLAIN)
    shape_ = (-1,) if (lay == NHWC and r == 4) else (-1,) + (1,) * (r - 2)
    s32, t32 = s.astype(F32).reshape(shape_), t.astype(F32).reshape(shape_)
    out = n.outputs[0]

    def make(reuse: int | None) -> Callable[[Any], None]:
        def run(env: Any) -> None:
            a = env[key]
            y = np.multiply(a, s32, out=a if reuse is not None else None)
            y += t32
            env[out] = y

        return run

    P.emit(n.name, [key], [out], lay, make, reusable=(0,))


def to_onnx(ex: OnnxExporter, n: Node) -> None:
    ex.node("BatchNormalization", n.inputs, n.outputs, n.name, epsilon=n.attrs["epsilon"])


def from_onnx(imp: OnnxImporter, node: Any, a: dict[str, Any], ins: list[str]) -> None:
    if a.get("training_mode", 0):
        raise imp.fail(node, "training_mode=1 is not supported")
    imp.emit("BatchNorm", node, [i for i in ins if i], epsilon=float(a.get("epsilon", 1e-5)))


OP = OpDef(
    "BatchNorm",
    (5, 5),
    const_inputs=frozenset({1, 2, 3, 4}),
    attrs={"epsilon": Attr("float", 1e-5, lo=0.0, hi=1.0)},
    shape=shape,
    plan=plan,
    to_onnx=to_onnx,
    from_onnx={"BatchNormalization": from_onnx},
    fold=fold,
)
