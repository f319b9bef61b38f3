"""Sigmoid: 1/(1 + e^(−x)) (spec/GRAPH.md §4)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._base import UNARY, OpDef, emit_as
from ._shape import same_shape

if TYPE_CHECKING:
    from ..graph.core import Node
    from ..inference.fold import LNode
    from ..inference.plan import Planner
    from ..onnx_io import OnnxExporter


def plan(P: Planner, n: LNode) -> None:
    from ..inference import kernels as K

    P.unary(n, lambda x, out: K.sigmoid(x, out=out))


def to_onnx(ex: OnnxExporter, n: Node) -> None:
    ex.node("Sigmoid", n.inputs, n.outputs, n.name)


OP = OpDef("Sigmoid", UNARY, shape=same_shape, plan=plan, to_onnx=to_onnx, from_onnx={"Sigmoid": emit_as("Sigmoid")})
