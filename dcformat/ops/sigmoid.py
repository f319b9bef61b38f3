"""Sigmoid: 1/(1 + e^(−x)) (spec/GRAPH.md §4)."""

from __future__ import annotations

from typing import Any

from ._base import UNARY, OpDef, emit_as
from ._shape import same_shape


def plan(P: Any, n: Any) -> None:
    from ..inference import kernels as K

    P.unary(n, lambda x, out: K.sigmoid(x, out=out))


def to_onnx(ex: Any, n: Any) -> None:
    ex.node("Sigmoid", n.inputs, n.outputs, n.name)


OP = OpDef("Sigmoid", UNARY, shape=same_shape, plan=plan, to_onnx=to_onnx, from_onnx={"Sigmoid": emit_as("Sigmoid")})
