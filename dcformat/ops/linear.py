"""Linear: y = x·Wᵀ + b over (N, in) inputs, as ONNX ``Gemm`` with transB=1 (spec/GRAPH.md §4)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ._base import PLAIN, OpDef, Shape
from ._shape import fail, rank, same

if TYPE_CHECKING:
    from ..graph.core import Node
    from ..inference.fold import LNode
    from ..inference.plan import Planner
    from ..legacy.caffe import Layer
    from ..legacy.graph import CaffeBuilder
    from ..onnx_io import OnnxExporter, OnnxImporter


def shape(node: Node, ins: list[Shape]) -> list[Shape]:
    x, w = ins[0], ins[1]
    rank(node, x, 2)
    if len(w) != 2:
        raise fail(node, f"weight must have rank 2 (out, in), got {w}")
    same(node, x[1], w[1], "input features vs weight columns")
    if len(ins) == 3 and ins[2] != (w[0],):
        raise fail(node, f"bias shape {ins[2]} != ({w[0]},)")
    return [(x[0], w[0])]


def plan(P: Planner, n: LNode) -> None:
    """One GEMM (or the pruned layer's CSR when ``Csr.use_for`` says it wins), activation fused."""
    from ..inference.plan import act_fn, project

    w, bias, csr, act = n.weight, n.bias, n.csr, act_fn(n.act)
    wt = np.ascontiguousarray(w.T)
    x = P.need(n.inputs[0], PLAIN)
    out = n.outputs[0]

    def make(_reuse: int | None) -> Callable[[Any], None]:
        def run(env: Any) -> None:
            y = project(env[x], wt, bias, csr)
            act(y)
            env[out] = y

        return run

    P.emit(n.name, [x], [out], PLAIN, make)


def to_onnx(ex: OnnxExporter, n: Node) -> None:
    ex.node("Gemm", n.inputs, n.outputs, n.name, transB=1)


def from_onnx(imp: OnnxImporter, node: Any, a: dict[str, Any], ins: list[str]) -> None:
    """Gemm with alpha, beta and transB folded into the stored weight and bias (new tensors where they change)."""
    ins = [i for i in ins if i]
    alpha, beta = float(a.get("alpha", 1.0)), float(a.get("beta", 1.0))
    if a.get("transA", 0):
        raise imp.fail(node, "transA=1 is not supported")
    w = imp.const_of(node, ins[1]).astype(np.float32)
    w = w if a.get("transB", 0) else np.ascontiguousarray(w.T)
    if alpha != 1.0:
        w = (w * np.float32(alpha)).astype(np.float32)
    new = [ins[0], imp.new_const(f"{ins[1]}", w)]
    if len(ins) > 2:
        b = imp.const_of(node, ins[2]).astype(np.float32) * np.float32(beta)
        if b.size != w.shape[0]:
            raise imp.fail(node, f"bias of shape {b.shape} is not a per-output vector")
        new.append(imp.new_const(f"{ins[2]}", b.reshape(-1)))
    imp.emit("Linear", node, new)


def from_caffe(b: CaffeBuilder, layer: Layer, xs: list[str]) -> None:
    """InnerProduct flattens (N, C, H, W) inputs first, as Caffe does."""
    x = xs[0]
    if len(b.net.shapes[layer.bottoms[0]]) > 2:
        x = b.flatten(layer, x)
    b.add("Linear", layer, [x, *b.params(layer)], {})


OP = OpDef(
    "Linear",
    (2, 3),
    const_inputs=frozenset({1, 2}),
    shape=shape,
    plan=plan,
    to_onnx=to_onnx,
    from_onnx={"Gemm": from_onnx},
    from_caffe={"InnerProduct": from_caffe},
    layer=True,
)
