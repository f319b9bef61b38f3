"""Reshape: ONNX ``Reshape`` with allowzero = 0 (0 copies the input dim, one −1 is inferred; spec/GRAPH.md §4). A view."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ._base import MAX_DIM, MAX_RANK, PLAIN, UNARY, Attr, OpDef, Shape, reshape_rule
from ._shape import reshape_target

if TYPE_CHECKING:
    from ..graph.core import Node
    from ..inference.fold import LNode
    from ..inference.plan import Planner
    from ..onnx_io import OnnxExporter, OnnxImporter


def shape(node: Node, ins: list[Shape]) -> list[Shape]:
    return [reshape_target(node, ins[0], node.attrs["shape"])]


def plan(P: Planner, n: LNode) -> None:
    x = P.need(n.inputs[0], PLAIN)
    # a -1 whose size shape inference already knows is filled in (keeps batch-0 inputs working)
    known = P.shapes[n.outputs[0]]
    spec = [k if s == -1 and isinstance(k, int) else s for s, k in zip(n.attrs["shape"], known)]

    def reshape(a: np.ndarray) -> np.ndarray:
        target = [a.shape[i] if s == 0 else s for i, s in enumerate(spec)]
        return a.reshape(target)

    P.simple(n, [x], PLAIN, reshape, views=True)


def to_onnx(ex: OnnxExporter, n: Node) -> None:
    ex.node("Reshape", [n.inputs[0], ex.const(n.attrs["shape"])], n.outputs, n.name)


def from_onnx(imp: OnnxImporter, node: Any, a: dict[str, Any], ins: list[str]) -> None:
    """A constant target shape (shape subgraphs were folded into one before, see ``onnx_io``)."""
    if a.get("allowzero", 0):
        raise imp.fail(node, "allowzero=1 is not supported")
    shape_ = [int(s) for s in imp.const_of(node, ins[1]).reshape(-1)]
    imp.emit("Reshape", node, ins[:1], shape=shape_)


OP = OpDef("Reshape", UNARY, attrs={"shape": Attr("ints", lo=-1, hi=MAX_DIM, length=(0, MAX_RANK), check=reshape_rule)},
           shape=shape, plan=plan, to_onnx=to_onnx, from_onnx={"Reshape": from_onnx})
