"""GlobalAvgPool: mean over H and W, (N, C, H, W) -> (N, C, 1, 1) (spec/GRAPH.md §4)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ._base import NHWC, UNARY, OpDef, Shape, emit_as
from ._shape import rank

if TYPE_CHECKING:
    from ..graph.core import Node
    from ..inference.fold import LNode
    from ..inference.plan import Planner
    from ..onnx_io import OnnxExporter

F32 = np.float32


def shape(node: Node, ins: list[Shape]) -> list[Shape]:
    x = ins[0]
    rank(node, x, 4)
    return [(x[0], x[1], 1, 1)]


def plan(P: Planner, n: LNode) -> None:
    x = P.need(n.inputs[0], NHWC)
    P.simple(n, [x], NHWC, lambda a: np.divide(a.sum(axis=(1, 2), keepdims=True, dtype=F32), F32(a.shape[1] * a.shape[2])))


def to_onnx(ex: OnnxExporter, n: Node) -> None:
    ex.node("GlobalAveragePool", n.inputs, n.outputs, n.name)


OP = OpDef("GlobalAvgPool", UNARY, shape=shape, plan=plan, to_onnx=to_onnx, from_onnx={"GlobalAveragePool": emit_as("GlobalAvgPool")})
