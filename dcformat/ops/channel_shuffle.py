"""ChannelShuffle (ShuffleNet): reshape (N, g, C/g, H, W), swap axes 1 and 2, reshape back (spec/GRAPH.md §4)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ._base import MAX_DIM, NHWC, UNARY, Attr, OpDef, Shape
from ._shape import fail, rank

if TYPE_CHECKING:
    from ..graph.core import Node
    from ..inference.fold import LNode
    from ..inference.plan import Planner
    from ..onnx_io import OnnxExporter


def shape(node: Node, ins: list[Shape]) -> list[Shape]:
    x, g = ins[0], node.attrs["groups"]
    rank(node, x, 4)
    if isinstance(x[1], int) and x[1] % g:
        raise fail(node, f"{x[1]} channels are not divisible by groups={g}")
    return [x]


def plan(P: Planner, n: LNode) -> None:
    g = n.attrs["groups"]
    x = P.need(n.inputs[0], NHWC)

    def shuffle(a: np.ndarray) -> np.ndarray:
        b, h, w, c = a.shape
        return np.ascontiguousarray(a.reshape(b, h, w, g, c // g).transpose(0, 1, 2, 4, 3)).reshape(b, h, w, c)

    P.simple(n, [x], NHWC, shuffle)


def to_onnx(ex: OnnxExporter, n: Node) -> None:
    """ONNX has no ChannelShuffle: x -> (N, g, C/g, H, W) -> swap axes 1, 2 -> back to x's runtime shape (any batch and size)."""
    g, name = n.attrs["groups"], n.name
    sh, t1, t2 = ex.tmp(), ex.tmp(), ex.tmp()
    ex.node("Shape", [n.inputs[0]], [sh], name + "/shape")
    n_, c_, hw_ = ex.tmp(), ex.tmp(), ex.tmp()
    ex.node("Slice", [sh, ex.const([0]), ex.const([1])], [n_], name + "/n")
    ex.node("Slice", [sh, ex.const([1]), ex.const([2])], [c_], name + "/c")
    cg = ex.tmp()
    ex.node("Div", [c_, ex.const([g])], [cg], name + "/cg")
    ex.node("Slice", [sh, ex.const([2]), ex.const([4])], [hw_], name + "/hw")
    shape5 = ex.tmp()
    ex.node("Concat", [n_, ex.const([g]), cg, hw_], [shape5], name + "/shape5", axis=0)
    ex.node("Reshape", [n.inputs[0], shape5], [t1], name + "/to5d")
    ex.node("Transpose", [t1], [t2], name + "/transpose", perm=[0, 2, 1, 3, 4])
    ex.node("Reshape", [t2, sh], n.outputs, name + "/restore")


OP = OpDef("ChannelShuffle", UNARY, attrs={"groups": Attr("int", lo=1, hi=MAX_DIM)}, shape=shape, plan=plan, to_onnx=to_onnx)
