"""Flatten: reshape to (∏dims[:axis], ∏dims[axis:]) (spec/GRAPH.md §4; ONNX ``Flatten``). A view of its input."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ._base import MAX_RANK, PLAIN, UNARY, Attr, OpDef, Shape
from ._shape import axis, prod

if TYPE_CHECKING:
    from ..graph.core import Node
    from ..inference.fold import LNode
    from ..inference.plan import Planner
    from ..legacy.caffe import Layer
    from ..legacy.graph import CaffeBuilder
    from ..onnx_io import OnnxExporter, OnnxImporter


def shape(node: Node, ins: list[Shape]) -> list[Shape]:
    x = ins[0]
    ax = axis(node, node.attrs["axis"], len(x), inclusive=True)
    return [(prod(x[:ax]) if ax else 1, prod(x[ax:]) if ax < len(x) else 1)]


def plan(P: Planner, n: LNode) -> None:
    x = P.need(n.inputs[0], PLAIN)
    ax = n.attrs["axis"] % (P.rank(n.inputs[0]) + 1)
    P.simple(n, [x], PLAIN, lambda a: a.reshape(int(np.prod(a.shape[:ax])), int(np.prod(a.shape[ax:]))), views=True)


def to_onnx(ex: OnnxExporter, n: Node) -> None:
    ex.node("Flatten", n.inputs, n.outputs, n.name, axis=n.attrs["axis"])


def from_onnx(imp: OnnxImporter, node: Any, a: dict[str, Any], ins: list[str]) -> None:
    imp.emit("Flatten", node, ins, axis=int(a.get("axis", 1)))


def from_caffe(b: CaffeBuilder, layer: Layer, xs: list[str]) -> None:
    b.add("Flatten", layer, xs, {"axis": 1})


OP = OpDef("Flatten", UNARY, attrs={"axis": Attr("int", 1, lo=-MAX_RANK, hi=MAX_RANK)}, shape=shape, plan=plan, to_onnx=to_onnx,
           from_onnx={"Flatten": from_onnx}, from_caffe={"Flatten": from_caffe})
