"""MatMul: NumPy ``matmul`` semantics, as ONNX ``MatMul`` (spec/GRAPH.md §4)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ._base import PLAIN, OpDef, Shape, emit_as
from ._shape import broadcast, fail, same

if TYPE_CHECKING:
    from ..graph.core import Node
    from ..inference.fold import LNode
    from ..inference.plan import Planner
    from ..onnx_io import OnnxExporter


def shape(node: Node, ins: list[Shape]) -> list[Shape]:
    x, b = ins[0], ins[1]
    if len(x) < 1 or len(b) < 1:
        raise fail(node, "MatMul operands must have rank >= 1")
    xa = x if len(x) > 1 else (1,) + tuple(x)
    bb = b if len(b) > 1 else tuple(b) + (1,)
    same(node, xa[-1], bb[-2], "inner dimensions")
    batch = broadcast(node, xa[:-2], bb[:-2])
    return [batch + ((xa[-2],) if len(x) > 1 else ()) + ((bb[-1],) if len(b) > 1 else ())]


def plan(P: Planner, n: LNode) -> None:
    a, b = (P.need(v, PLAIN) for v in n.inputs)
    P.simple(n, [a, b], PLAIN, np.matmul)


def to_onnx(ex: OnnxExporter, n: Node) -> None:
    ex.node("MatMul", n.inputs, n.outputs, n.name)


OP = OpDef("MatMul", (2, 2), shape=shape, plan=plan, to_onnx=to_onnx, from_onnx={"MatMul": emit_as("MatMul")})
