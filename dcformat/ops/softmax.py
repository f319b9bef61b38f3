"""Softmax: exp(x − max) / sum over ``axis`` (spec/GRAPH.md §4; ONNX opset 13)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._base import MAX_RANK, NHWC, PLAIN, UNARY, Attr, OpDef, Shape
from ._shape import axis

if TYPE_CHECKING:
    from ..graph.core import Node
    from ..inference.fold import LNode
    from ..inference.plan import Planner
    from ..legacy.caffe import Layer
    from ..legacy.graph import CaffeBuilder
    from ..onnx_io import OnnxExporter, OnnxImporter


def shape(node: Node, ins: list[Shape]) -> list[Shape]:
    axis(node, node.attrs["axis"], len(ins[0]))
    return [ins[0]]


def plan(P: Planner, n: LNode) -> None:
    from ..inference import kernels as K
    from ..inference.plan import TO_NHWC_AXIS

    v = n.inputs[0]
    key = P.source(v)
    r = P.rank(v)
    ax = n.attrs["axis"] % r
    if P.layout.get(key) == NHWC and r == 4:
        ax = TO_NHWC_AXIS[ax]
    P.simple(n, [key], P.layout.get(key, PLAIN), lambda a: K.softmax(a, ax))


def to_onnx(ex: OnnxExporter, n: Node) -> None:
    ex.node("Softmax", n.inputs, n.outputs, n.name, axis=n.attrs["axis"])


def from_onnx(imp: OnnxImporter, node: Any, a: dict[str, Any], ins: list[str]) -> None:
    """Before opset 13 Softmax flattened the axes from ``axis`` on; only the last-axis case means the same."""
    rank = len(imp.shapes[imp.val(ins[0])])
    ax = int(a.get("axis", 1 if imp.opset < 13 else -1))
    if imp.opset < 13 and ax % rank != rank - 1:
        raise imp.fail(node, f"opset-{imp.opset} Softmax over axes {ax}.. of a rank-{rank} input is not supported")
    imp.emit("Softmax", node, ins, axis=ax)


def from_caffe(b: CaffeBuilder, layer: Layer, xs: list[str]) -> None:
    b.add("Softmax", layer, xs, {"axis": int(b.param(layer, "softmax_param").get("axis", 1))})


OP = OpDef("Softmax", UNARY, attrs={"axis": Attr("int", -1, lo=-MAX_RANK, hi=MAX_RANK - 1)}, shape=shape, plan=plan,
           to_onnx=to_onnx, from_onnx={"Softmax": from_onnx}, from_caffe={"Softmax": from_caffe})
